#include "net/message_io.h"

namespace usher::net {

using asio::as_tuple;
using asio::use_awaitable;

asio::awaitable<Status> read_at_least(Socket& socket, ByteBuffer& buf, size_t n) {
  while (buf.size() < n) {
    auto space = buf.prepare(std::max<size_t>(n - buf.size(), 4096));
    auto [ec, got] = co_await socket.async_read_some(asio::buffer(space.data(), space.size()),
                                                     as_tuple(use_awaitable));
    if (ec) {
      co_return make_error("08006", ec == asio::error::eof ? "connection closed by peer"
                                                           : "read failed: " + ec.message());
    }
    buf.commit(got);
  }
  co_return ok_status();
}

asio::awaitable<Result<Message>> read_message(Socket& socket, ByteBuffer& buf,
                                              uint32_t max_length) {
  auto st = co_await read_at_least(socket, buf, protocol::kHeaderSize);
  if (!st) co_return st.take_error();
  auto h = protocol::peek_header(buf.readable(), max_length);
  if (h.status == protocol::FrameStatus::kInvalid) {
    co_return protocol::framing_error(h.header.type, h.header.length);
  }
  st = co_await read_at_least(socket, buf, h.header.total());
  if (!st) co_return st.take_error();
  co_return Message{h.header, buf.readable().subspan(protocol::kHeaderSize, h.header.body_size())};
}

asio::awaitable<Status> write_all(Socket& socket, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()),
                                            as_tuple(use_awaitable));
  if (ec) co_return make_error("08006", "write failed: " + ec.message());
  co_return ok_status();
}

}  // namespace usher::net
