// One socket type for TCP and Unix-domain connections alike, and the small
// options we set on them.
#pragma once

#include <boost/asio.hpp>
#include <string>

namespace usher::net {

namespace asio = boost::asio;
using Protocol = asio::generic::stream_protocol;
using Socket = Protocol::socket;
using Endpoint = Protocol::endpoint;

// TCP_NODELAY and keepalive for TCP sockets; a no-op for Unix sockets.
void tune_socket(Socket& socket, bool keepalive);

// The peer address as "ip:port" or "unix".
std::string peer_name(const Socket& socket);
int peer_port(const Socket& socket);

// A Unix socket path for PostgreSQL's convention: <dir>/.s.PGSQL.<port>.
std::string unix_socket_path(const std::string& dir, int port);

// An endpoint for an IP address or a Unix socket directory (empty: /tmp).
// False for a host name, which needs a resolver: asynchronously on the data
// path, or resolve_blocking() at startup.
bool make_endpoint(const std::string& host, int port, Endpoint& out);
bool resolve_blocking(const std::string& host, int port, Endpoint& out, std::string& error);

}  // namespace usher::net
