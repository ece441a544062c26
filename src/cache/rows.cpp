#include "cache/rows.h"

#include <string>

#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"

namespace usher::cache {
namespace {

// What a value and a row cost beyond their bytes, for the limit.
constexpr size_t kValueOverhead = sizeof(std::string);
constexpr size_t kRowOverhead = sizeof(std::vector<std::string>);

}  // namespace

Result<bool> RowsReader::feed(char type, std::span<const uint8_t> body) {
  using namespace protocol;
  switch (type) {
    case PqMsg_DataRow: {
      auto fields = parse_data_row(body);
      if (!fields) return fields.take_error();
      // The row's size as the wire gives it bounds what it takes here: the
      // check comes before the copy.
      size_t cost = kRowOverhead + body.size() + fields->size() * kValueOverhead;
      if (cost > max_bytes_ - bytes_) {
        return make_error(sqlstate::program_limit_exceeded,
                          "query result larger than " + std::to_string(max_bytes_) + " bytes");
      }
      bytes_ += cost;
      std::vector<std::string>& row = rows_.emplace_back();
      row.reserve(fields->size());
      for (const auto& f : *fields)
        row.emplace_back(f.value_or(std::string_view()));
      return false;
    }
    case PqMsg_ErrorResponse: {
      if (error_) return false;
      auto e = parse_error_fields(body);
      if (!e) return e.take_error();
      error_ = make_error(std::string(e->code), std::string(e->message));
      return false;
    }
    case PqMsg_ReadyForQuery:
      return true;
    case PqMsg_RowDescription:
    case PqMsg_CommandComplete:
    case PqMsg_EmptyQueryResponse:
    case PqMsg_NoticeResponse:
    case PqMsg_ParameterStatus:
    case PqMsg_NotificationResponse:
      return false;
    default:
      return make_error(sqlstate::protocol_violation,
                        "unexpected message (type " +
                            std::to_string(static_cast<unsigned char>(type)) +
                            ") answering a query");
  }
}

Result<Rows> RowsReader::take() {
  if (error_) return std::move(*error_);
  bytes_ = 0;
  return std::move(rows_);
}

}  // namespace usher::cache
