// A connection's byte stream: a socket, plain or with TLS on it. The TLS
// session reads and writes the descriptor itself, without blocking; when it
// needs the socket readable (or writable) the stream waits for that as the
// plain path does, so a TLS connection costs the event loop nothing more
// than a plain one, and an idle one can be parked the same way (see
// has_buffered()).
//
// Every TLS step first checks that the socket is still open: a deadline or
// a kill may have closed it, and its descriptor number may already belong
// to another connection.
#pragma once

#include <boost/asio.hpp>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "net/socket.h"
#include "net/tls.h"

namespace usher::net {

// What a write did: its error, if any, and the bytes taken.
struct WriteResult {
  boost::system::error_code ec;
  size_t written = 0;
};

class Stream {
 public:
  explicit Stream(Socket socket) : socket_(std::move(socket)) {}

  Socket& socket() { return socket_; }
  const Socket& socket() const { return socket_; }
  const TlsSession* tls() const { return tls_.get(); }

  // The TLS handshake on the connected socket, as ctx's role says; the
  // caller's deadline bounds it. `host`: see TlsSession::make().
  asio::awaitable<Status> start_tls(std::shared_ptr<const TlsContext> ctx, std::string_view host);

  // Bytes a read returns at once, without the socket becoming readable.
  bool has_buffered() const { return tls_ && tls_->has_buffered(); }

  // Like the socket's: completes with (error_code, bytes), at least one.
  template <typename Token>
  auto async_read_some(asio::mutable_buffer buffer, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, asio::mutable_buffer b) {
          if (!tls_) {
            socket_.async_read_some(b, std::move(handler));
          } else {
            tls_read(b, std::move(handler), false);
          }
        },
        token, buffer);
  }

  // Sends what can go at once; true when that was everything (or it failed).
  bool write_now(std::span<const asio::const_buffer> buffers, WriteResult& result);
  // Waits for room and sends the rest.
  asio::awaitable<WriteResult> write_rest(std::span<const asio::const_buffer> buffers,
                                          WriteResult sent);

  // Sends TLS's close_notify if the socket takes it at once (a peer then
  // tells a clean end from a cut connection); nothing for plain streams.
  void close_tls();

  // Rebinds the socket to another io_context; the descriptor, and the TLS
  // session on it, stay. No operation may be outstanding.
  void adopt(asio::io_context& io, const Protocol& protocol);

 private:
  TlsStep tls_step(asio::mutable_buffer b);
  bool tls_write_now(std::span<const asio::const_buffer> buffers, WriteResult& result);
  static boost::system::error_code step_error(const TlsStep& s);

  template <typename Handler>
  void tls_read(asio::mutable_buffer b, Handler handler, bool in_handler) {
    TlsStep s = tls_step(b);
    if (s.kind == TlsStep::kWantRead || s.kind == TlsStep::kWantWrite) {
      socket_.async_wait(s.kind == TlsStep::kWantRead ? Socket::wait_read : Socket::wait_write,
                         [this, b, h = std::move(handler)](boost::system::error_code ec) mutable {
                           if (ec) {
                             std::move(h)(ec, size_t{0});
                           } else {
                             tls_read(b, std::move(h), true);
                           }
                         });
      return;
    }
    auto ec = step_error(s);
    if (in_handler) {
      std::move(handler)(ec, s.bytes);
    } else {
      // Never complete inside the initiating call: the caller's handler
      // may not expect to run before it returns.
      auto ex = asio::get_associated_executor(handler, socket_.get_executor());
      asio::post(ex, asio::append(std::move(handler), ec, s.bytes));
    }
  }

  Socket socket_;
  std::unique_ptr<TlsSession> tls_;
  bool write_wants_read_ = false;  // the last TLS write waits for the socket to be readable
};

}  // namespace usher::net
