#include "net/message_io.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "protocol/sqlstate.h"

namespace usher::net {

using asio::as_tuple;
using asio::use_awaitable;

asio::awaitable<Status> read_at_least(Socket& socket, ByteBuffer& buf, size_t n) {
  while (buf.size() < n) {
    auto space = buf.prepare(std::max<size_t>(n - buf.size(), 4096));
    auto [ec, got] = co_await socket.async_read_some(asio::buffer(space.data(), space.size()),
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
  asio::const_buffer buffer(bytes.data(), bytes.size());
  auto [ec, n] = co_await write_all(socket, std::span(&buffer, 1));
  if (ec)
    co_return make_error(protocol::sqlstate::connection_failure, "write failed: " + ec.message());
  co_return ok_status();
}

namespace {

// One sendmsg that never blocks: the bytes the kernel took (0 when the
// socket has no room). MSG_DONTWAIT rather than the socket's own flag, so a
// socket that moved between event loops needs no ioctl.
size_t send_now(Socket& socket, std::span<const asio::const_buffer> buffers,
                boost::system::error_code& ec) {
  std::array<iovec, 64> iov;
  size_t count = std::min(buffers.size(), iov.size());
  for (size_t i = 0; i < count; ++i) {
    iov[i] = {const_cast<void*>(buffers[i].data()), buffers[i].size()};
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  while (true) {
    ssize_t n = ::sendmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = boost::system::error_code(errno, asio::error::get_system_category());
    }
    return 0;
  }
}

}  // namespace

bool write_now(Socket& socket, std::span<const asio::const_buffer> buffers, WriteResult& result) {
  result.written = send_now(socket, buffers, result.ec);
  return result.ec || result.written == asio::buffer_size(buffers);
}

asio::awaitable<WriteResult> write_rest(Socket& socket, std::span<const asio::const_buffer> buffers,
                                        WriteResult sent) {
  std::vector<asio::const_buffer> rest;
  size_t skip = sent.written;
  for (const auto& b : buffers) {
    if (skip >= b.size()) {
      skip -= b.size();
      continue;
    }
    rest.push_back(b + skip);
    skip = 0;
  }
  auto [ec, n] = co_await asio::async_write(socket, rest, as_tuple(use_awaitable));
  sent.ec = ec;
  sent.written += n;
  co_return sent;
}

asio::awaitable<WriteResult> write_all(Socket& socket,
                                       std::span<const asio::const_buffer> buffers) {
  WriteResult result;
  if (write_now(socket, buffers, result)) co_return result;
  co_return co_await write_rest(socket, buffers, result);
}

}  // namespace usher::net
