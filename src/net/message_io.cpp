#include "net/message_io.h"

#include "protocol/sqlstate.h"

namespace usher::net {

using asio::as_tuple;
using asio::use_awaitable;

asio::awaitable<Status> read_at_least(Stream& stream, ByteBuffer& buf, size_t n) {
  while (buf.size() < n) {
    auto space = buf.prepare(std::max<size_t>(n - buf.size(), 4096));
    auto [ec, got] = co_await stream.async_read_some(asio::buffer(space.data(), space.size()),
                                                     as_tuple(use_awaitable));
    if (ec) {
      co_return make_error(
          protocol::sqlstate::connection_failure,
          ec == asio::error::eof ? "connection closed by peer" : "read failed: " + ec.message());
    }
    buf.commit(got);
  }
  co_return ok_status();
}

asio::awaitable<Result<Message>> read_message(Stream& stream, ByteBuffer& buf,
                                              uint32_t max_length) {
  auto st = co_await read_at_least(stream, buf, protocol::kHeaderSize);
  if (!st) co_return st.take_error();
  auto h = protocol::peek_header(buf.readable(), max_length);
  if (h.status == protocol::FrameStatus::kInvalid) {
    co_return protocol::framing_error(h.header.type, h.header.length);
  }
  st = co_await read_at_least(stream, buf, h.header.total());
  if (!st) co_return st.take_error();
  co_return Message{h.header, buf.readable().subspan(protocol::kHeaderSize, h.header.body_size())};
}

asio::awaitable<Status> write_all(Stream& stream, std::string_view bytes) {
  asio::const_buffer buffer(bytes.data(), bytes.size());
  auto [ec, n] = co_await write_all(stream, std::span(&buffer, 1));
  if (ec)
    co_return make_error(protocol::sqlstate::connection_failure, "write failed: " + ec.message());
  co_return ok_status();
}

asio::awaitable<WriteResult> write_all(Stream& stream,
                                       std::span<const asio::const_buffer> buffers) {
  WriteResult result;
  if (stream.write_now(buffers, result)) co_return result;
  co_return co_await stream.write_rest(buffers, result);
}

}  // namespace usher::net
