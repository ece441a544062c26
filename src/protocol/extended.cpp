#include "protocol/extended.h"

#include "protocol/byte_reader.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::protocol {
namespace {

Error malformed(std::string_view what) {
  return make_error(sqlstate::protocol_violation,
                    "invalid " + std::string(what) + " message format");
}

Result<TargetMessage> parse_target(std::span<const uint8_t> body, std::string_view what) {
  ByteReader r(body);
  uint8_t kind = 0;
  TargetMessage m;
  if (!r.read_u8(kind) || !r.read_cstring(m.name) || !r.empty()) return malformed(what);
  if (kind != kTargetStatement && kind != kTargetPortal) return malformed(what);
  m.kind = static_cast<char>(kind);
  return m;
}

}  // namespace

Result<ParseMessage> parse_parse(std::span<const uint8_t> body) {
  ByteReader r(body);
  ParseMessage m;
  int16_t count = 0;
  if (!r.read_cstring(m.name) || !r.read_cstring(m.query)) return malformed("Parse");
  auto types = r.rest();
  // PostgreSQL reads the count unsigned: up to 65,535 types.
  if (!r.read_i16(count)) return malformed("Parse");
  if (r.remaining() != size_t(static_cast<uint16_t>(count)) * 4) return malformed("Parse");
  m.param_types = as_chars(types);
  return m;
}

Result<BindMessage> parse_bind(std::span<const uint8_t> body) {
  ByteReader r(body);
  BindMessage m;
  if (!r.read_cstring(m.portal) || !r.read_cstring(m.statement)) return malformed("Bind");
  m.rest = r.rest();
  return m;
}

Result<TargetMessage> parse_describe(std::span<const uint8_t> body) {
  return parse_target(body, "Describe");
}

Result<TargetMessage> parse_close(std::span<const uint8_t> body) {
  return parse_target(body, "Close");
}

void write_parse(std::string& out, std::string_view name, std::string_view query,
                 std::string_view param_types) {
  MessageWriter(out).begin(PqMsg_Parse).cstring(name).cstring(query).bytes(param_types).finish();
}

void write_bind(std::string& out, std::string_view portal, std::string_view statement,
                std::span<const uint8_t> rest) {
  write_bind_header(out, portal, statement, rest.size());
  out.append(as_chars(rest));
}

void write_bind_header(std::string& out, std::string_view portal, std::string_view statement,
                       size_t rest_size) {
  uint32_t length = static_cast<uint32_t>(4 + portal.size() + 1 + statement.size() + 1 + rest_size);
  out.push_back(PqMsg_Bind);
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(length >> shift));
  out.append(portal);
  out.push_back('\0');
  out.append(statement);
  out.push_back('\0');
}

void write_bind_text(std::string& out, std::string_view portal, std::string_view statement,
                     std::span<const std::string_view> params) {
  MessageWriter w(out);
  w.begin(PqMsg_Bind).cstring(portal).cstring(statement).i16(0);  // no format codes: all text
  w.i16(static_cast<int16_t>(params.size()));
  for (auto p : params)
    w.i32(static_cast<int32_t>(p.size())).bytes(p);
  w.i16(0).finish();  // results in text
}

void write_execute(std::string& out, std::string_view portal, int32_t max_rows) {
  MessageWriter(out).begin(PqMsg_Execute).cstring(portal).i32(max_rows).finish();
}

void write_describe(std::string& out, char kind, std::string_view name) {
  MessageWriter(out).begin(PqMsg_Describe).u8(static_cast<uint8_t>(kind)).cstring(name).finish();
}

void write_close(std::string& out, char kind, std::string_view name) {
  MessageWriter(out).begin(PqMsg_Close).u8(static_cast<uint8_t>(kind)).cstring(name).finish();
}

void write_sync(std::string& out) {
  MessageWriter(out).begin(PqMsg_Sync).finish();
}

void write_flush(std::string& out) {
  MessageWriter(out).begin(PqMsg_Flush).finish();
}
void write_parse_complete(std::string& out) {
  MessageWriter(out).begin(PqMsg_ParseComplete).finish();
}
void write_bind_complete(std::string& out) {
  MessageWriter(out).begin(PqMsg_BindComplete).finish();
}
void write_close_complete(std::string& out) {
  MessageWriter(out).begin(PqMsg_CloseComplete).finish();
}
void write_no_data(std::string& out) {
  MessageWriter(out).begin(PqMsg_NoData).finish();
}
void write_empty_parameter_description(std::string& out) {
  MessageWriter(out).begin(PqMsg_ParameterDescription).i16(0).finish();
}

}  // namespace usher::protocol
