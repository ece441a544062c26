// One socket type for TCP and Unix-domain connections alike, and the small
// options we set on them.
#pragma once

#include <sys/types.h>

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/tcp_options.h"

namespace usher::net {

namespace asio = boost::asio;
using Protocol = asio::generic::stream_protocol;
using Socket = Protocol::socket;
using Endpoint = Protocol::endpoint;

// TCP_NODELAY plus `options` for a TCP socket; a no-op for a Unix socket.
void tune_socket(Socket& socket, const TcpOptions& options);

// Closes `socket` when `limit` passes (0: never), which fails whatever
// operation is pending on it. Destroying the deadline disarms it, even when
// the timer's handler is already queued: the handler never touches a socket
// that is gone.
class SocketDeadline {
 public:
  SocketDeadline(Socket& socket, std::chrono::milliseconds limit);
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;
  bool expired() const { return state_->expired; }

 private:
  struct State {
    Socket* socket;
    bool expired = false;
  };
  std::shared_ptr<State> state_;
  asio::steady_timer timer_;
};

// A Unix-domain socket (TLS is never offered or used on one, as in PgBouncer).
bool is_unix(const Socket& socket);

// The user id of the process at the other end of a Unix socket, or nullopt
// for TCP (or when the kernel cannot say).
std::optional<uid_t> unix_peer_uid(const Socket& socket);

// The peer address as "ip:port" or "unix".
std::string peer_name(const Socket& socket);
int peer_port(const Socket& socket);
// The peer as PgBouncer's application_name_add_host writes it: "ip:port",
// "[ipv6]:port", or "unix(pid@hostname):listen_port".
std::string peer_details(const Socket& socket, int listen_port);

// A Unix socket path for PostgreSQL's convention: <dir>/.s.PGSQL.<port>.
std::string unix_socket_path(const std::string& dir, int port);

// An endpoint for an IP address or a Unix socket directory (empty: /tmp).
// False for a host name, which needs a resolver: asynchronously on the data
// path, or resolve_blocking() at startup.
bool make_endpoint(const std::string& host, int port, Endpoint& out);
bool resolve_blocking(const std::string& host, int port, Endpoint& out, std::string& error);

}  // namespace usher::net
