#include "net/socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace usher::net {

void tune_socket(Socket& socket, bool keepalive) {
  if (socket.local_endpoint().protocol().family() == AF_UNIX) return;
  int one = 1;
  int fd = socket.native_handle();
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (keepalive) ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
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
