// Socket options from PgBouncer's tcp_* settings, kept free of Asio so the
// configuration can produce them.
#pragma once

namespace usher::net {

// A 0 leaves the operating system's default.
struct TcpOptions {
  bool keepalive = true;
  int keepcnt = 0;
  int keepidle = 0;         // seconds
  int keepintvl = 0;        // seconds
  int user_timeout_ms = 0;  // TCP_USER_TIMEOUT
  int socket_buffer = 0;    // SO_SNDBUF and SO_RCVBUF
};

}  // namespace usher::net
