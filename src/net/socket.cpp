#include "net/socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace usher::net {

void tune_socket(Socket& socket, const TcpOptions& o) {
  boost::system::error_code ec;
  if (socket.local_endpoint(ec).protocol().family() == AF_UNIX || ec) return;
  const int fd = socket.native_handle();
  // Failures are ignored, as PgBouncer does: a value the kernel refuses
  // leaves its default, and the connection works regardless.
  auto set = [fd](int level, int name, int value) {
    ::setsockopt(fd, level, name, &value, sizeof(value));
  };
  set(IPPROTO_TCP, TCP_NODELAY, 1);
  if (o.keepalive) {
    set(SOL_SOCKET, SO_KEEPALIVE, 1);
    if (o.keepcnt > 0) set(IPPROTO_TCP, TCP_KEEPCNT, o.keepcnt);
    if (o.keepidle > 0) set(IPPROTO_TCP, TCP_KEEPIDLE, o.keepidle);
    if (o.keepintvl > 0) set(IPPROTO_TCP, TCP_KEEPINTVL, o.keepintvl);
  }
  if (o.user_timeout_ms > 0) set(IPPROTO_TCP, TCP_USER_TIMEOUT, o.user_timeout_ms);
  if (o.socket_buffer > 0) {
    set(SOL_SOCKET, SO_SNDBUF, o.socket_buffer);
    set(SOL_SOCKET, SO_RCVBUF, o.socket_buffer);
  }
}

SocketDeadline::SocketDeadline(Socket& socket, std::chrono::milliseconds limit)
    : state_(std::make_shared<State>(State{&socket})), timer_(socket.get_executor()) {
  if (limit.count() <= 0) return;
  timer_.expires_after(limit);
  timer_.async_wait([state = state_](boost::system::error_code ec) {
    if (ec || !state->socket) return;
    state->expired = true;
    state->socket->close(ec);
  });
}

SocketDeadline::~SocketDeadline() {
  state_->socket = nullptr;
  timer_.cancel();
}

bool is_unix(const Socket& socket) {
  boost::system::error_code ec;
  return socket.local_endpoint(ec).protocol().family() == AF_UNIX && !ec;
}

std::string peer_name(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  if (ep.protocol().family() == AF_UNIX) return "unix";
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(ep.data());
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return asio::ip::address_v4(ntohl(in->sin_addr.s_addr)).to_string();
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &in6->sin6_addr, 16);
    return asio::ip::address_v6(b).to_string();
  }
  return "?";
}

int peer_port(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return 0;
  const sockaddr* sa = reinterpret_cast<const sockaddr*>(ep.data());
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  if (sa->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return 0;
}

std::optional<uid_t> unix_peer_uid(const Socket& socket) {
  if (socket.local_endpoint().protocol().family() != AF_UNIX) return std::nullopt;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(const_cast<Socket&>(socket).native_handle(), SOL_SOCKET, SO_PEERCRED, &cred,
                   &len) != 0) {
    return std::nullopt;
  }
  return cred.uid;
}

std::string peer_details(const Socket& socket, int listen_port) {
  const std::string host = peer_name(socket);
  if (host == "unix") {
    ucred cred{};
    socklen_t len = sizeof(cred);
    ::getsockopt(const_cast<Socket&>(socket).native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len);
    char name[256] = "";
    ::gethostname(name, sizeof(name) - 1);
    return "unix(" + std::to_string(cred.pid) + "@" + name + "):" + std::to_string(listen_port);
  }
  const std::string port = std::to_string(peer_port(socket));
  return host.find(':') == std::string::npos ? host + ":" + port : "[" + host + "]:" + port;
}

std::string unix_socket_path(const std::string& dir, int port) {
  return dir + "/.s.PGSQL." + std::to_string(port);
}

bool make_endpoint(const std::string& host, int port, Endpoint& out) {
  if (host.empty() || host[0] == '/') {
    std::string path = unix_socket_path(host.empty() ? "/tmp" : host, port);
    out = Endpoint(asio::local::stream_protocol::endpoint(path));
    return true;
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return false;  // a host name: the caller resolves it
  out = Endpoint(asio::ip::tcp::endpoint(addr, static_cast<uint16_t>(port)));
  return true;
}

bool resolve_blocking(const std::string& host, int port, Endpoint& out, std::string& error) {
  if (make_endpoint(host, port, out)) return true;
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    error = "could not resolve host \"" + host + "\": " + ec.message();
    return false;
  }
  out = Endpoint(results.begin()->endpoint());
  return true;
}

}  // namespace usher::net
