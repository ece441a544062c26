#include "cache/server_query.h"

#include "cache/rows.h"
#include "net/message_io.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::cache {

asio::awaitable<Result<Rows>> query_rows(pool::ServerConnection& conn, std::string_view sql,
                                         size_t& budget, uint32_t max_message) {
  std::string out;
  protocol::write_query(out, sql);
  Status sent = co_await net::write_all(conn.stream(), out);
  if (!sent) co_return sent.take_error();
  RowsReader reader(budget);
  while (true) {
    auto msg = co_await net::read_message(conn.stream(), conn.in(), max_message);
    if (!msg) co_return msg.take_error();
    auto done = reader.feed(msg->header.type, msg->body);
    conn.in().consume(msg->header.total());
    if (!done) co_return done.take_error();
    if (*done) break;
  }
  budget -= reader.bytes();
  co_return reader.take();
}

asio::awaitable<Status> await_copy_both(pool::ServerConnection& conn) {
  while (true) {
    auto msg = co_await net::read_message(conn.stream(), conn.in(), kMaxServerMessage);
    if (!msg) co_return msg.take_error();
    const char type = msg->header.type;
    if (type == protocol::PqMsg_ErrorResponse) {
      auto e = protocol::parse_error_fields(msg->body);
      if (!e) co_return e.take_error();
      co_return make_error(std::string(e->code), std::string(e->message));
    }
    conn.in().consume(msg->header.total());
    if (type == protocol::PqMsg_CopyBothResponse) co_return ok_status();
    if (type != protocol::PqMsg_NoticeResponse && type != protocol::PqMsg_ParameterStatus) {
      co_return make_error(protocol::sqlstate::protocol_violation,
                           "unexpected message (type " +
                               std::to_string(static_cast<unsigned char>(type)) +
                               ") answering START_REPLICATION");
    }
  }
}

void say_goodbye(pool::ServerConnection& conn) {
  if (!conn.socket().is_open()) return;
  std::string out;
  protocol::write_terminate(out);
  asio::const_buffer buffer(out.data(), out.size());
  net::WriteResult ignored;
  conn.stream().write_now(std::span(&buffer, 1), ignored);
}

}  // namespace usher::cache
