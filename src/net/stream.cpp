#include "net/stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "protocol/sqlstate.h"

namespace usher::net {

using asio::as_tuple;
using asio::use_awaitable;

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

// The largest TLS record's payload: writes are gathered into records of up
// to this size, so a batch of small messages is one record, not one each.
constexpr size_t kRecord = 16 * 1024;

// Copies up to kRecord bytes of `buffers`, from `offset` on, into `out`.
size_t gather_record(std::span<const asio::const_buffer> buffers, size_t offset,
                     std::array<char, kRecord>& out) {
  size_t n = 0;
  for (const auto& b : buffers) {
    if (offset >= b.size()) {
      offset -= b.size();
      continue;
    }
    size_t take = std::min(b.size() - offset, out.size() - n);
    std::memcpy(out.data() + n, static_cast<const char*>(b.data()) + offset, take);
    n += take;
    offset = 0;
    if (n == out.size()) break;
  }
  return n;
}

}  // namespace

boost::system::error_code Stream::step_error(const TlsStep& s) {
  switch (s.kind) {
    case TlsStep::kDone:
      return {};
    case TlsStep::kClosed:
      return asio::error::eof;
    default:
      return {EPROTO, asio::error::get_system_category()};
  }
}

asio::awaitable<Status> Stream::start_tls(std::shared_ptr<const TlsContext> ctx,
                                          std::string_view host) {
  // OpenSSL reads and writes the descriptor itself: it must never block
  // (asio makes a descriptor non-blocking only once it runs an operation).
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) co_return make_error(protocol::sqlstate::connection_failure, "TLS: " + ec.message());
  auto session = TlsSession::make(std::move(ctx), socket_.native_handle(), host);
  if (!session) co_return session.take_error();
  tls_ = std::move(*session);
  while (true) {
    if (!socket_.is_open())
      co_return make_error(protocol::sqlstate::connection_failure, "TLS handshake timed out");
    TlsStep s = tls_->handshake();
    if (s.kind == TlsStep::kDone) co_return ok_status();
    if (s.kind != TlsStep::kWantRead && s.kind != TlsStep::kWantWrite) {
      co_return make_error(protocol::sqlstate::connection_failure,
                           "TLS handshake failed: " + tls_->error());
    }
    auto [ec] = co_await socket_.async_wait(
        s.kind == TlsStep::kWantRead ? Socket::wait_read : Socket::wait_write,
        as_tuple(use_awaitable));
    if (ec) {
      co_return make_error(protocol::sqlstate::connection_failure,
                           "TLS handshake: " + ec.message());
    }
  }
}

TlsStep Stream::tls_step(asio::mutable_buffer b) {
  if (!socket_.is_open()) return {TlsStep::kFailed};
  // One record per SSL_read: go on while there is room and data, so that a
  // large result takes one wake-up per buffer, not one per 16 kB record.
  auto* data = static_cast<char*>(b.data());
  size_t got = 0;
  while (got < b.size()) {
    TlsStep s = tls_->read(data + got, b.size() - got);
    if (s.kind != TlsStep::kDone) {
      if (got > 0) break;  // what came ends here; the next read sees the rest
      return s;
    }
    got += s.bytes;
    // Nothing more inside: another SSL_read would only cost a recv that
    // says EAGAIN.
    if (!tls_->has_buffered()) break;
  }
  return {TlsStep::kDone, got};
}

void Stream::close_tls() {
  if (tls_ && socket_.is_open() && tls_->established()) tls_->close_notify();
}

bool Stream::tls_write_now(std::span<const asio::const_buffer> buffers, WriteResult& result) {
  const size_t total = asio::buffer_size(buffers);
  // A retry after kWantWrite gathers the same bytes again (OpenSSL wants
  // the same record retried; the buffer may move).
  thread_local std::array<char, kRecord> record;
  while (result.written < total) {
    if (!socket_.is_open() || !tls_->established()) {
      result.ec = asio::error::bad_descriptor;
      return true;
    }
    size_t n = gather_record(buffers, result.written, record);
    TlsStep s = tls_->write(record.data(), n);
    if (s.kind == TlsStep::kDone) {
      result.written += s.bytes;
      continue;
    }
    if (s.kind == TlsStep::kWantWrite || s.kind == TlsStep::kWantRead) {
      write_wants_read_ = s.kind == TlsStep::kWantRead;
      return false;
    }
    result.ec = s.kind == TlsStep::kClosed ? asio::error::broken_pipe : step_error(s);
    return true;
  }
  return true;
}

bool Stream::write_now(std::span<const asio::const_buffer> buffers, WriteResult& result) {
  if (tls_) return tls_write_now(buffers, result);
  result.written = send_now(socket_, buffers, result.ec);
  return result.ec || result.written == asio::buffer_size(buffers);
}

asio::awaitable<WriteResult> Stream::write_rest(std::span<const asio::const_buffer> buffers,
                                                WriteResult sent) {
  if (tls_) {
    while (true) {
      auto [ec] = co_await socket_.async_wait(
          write_wants_read_ ? Socket::wait_read : Socket::wait_write, as_tuple(use_awaitable));
      if (ec) {
        sent.ec = ec;
        co_return sent;
      }
      if (tls_write_now(buffers, sent)) co_return sent;
    }
  }
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
  auto [ec, n] = co_await asio::async_write(socket_, rest, as_tuple(use_awaitable));
  sent.ec = ec;
  sent.written += n;
  co_return sent;
}

void Stream::adopt(asio::io_context& io, const Protocol& protocol) {
  int fd = socket_.release();
  Socket moved(io);
  moved.assign(protocol, fd);
  socket_ = std::move(moved);
}

}  // namespace usher::net
