// Socket options from PgBouncer's tcp_* settings: produced by config/,
// applied by net/ (net::tune_socket), so they live below both.
#pragma once

namespace usher {

// A 0 leaves the operating system's default.
struct TcpOptions {
  bool keepalive = true;
  int keepcnt = 0;
  int keepidle = 0;         // seconds
  int keepintvl = 0;        // seconds
  int user_timeout_ms = 0;  // TCP_USER_TIMEOUT
  int socket_buffer = 0;    // SO_SNDBUF and SO_RCVBUF
};

}  // namespace usher
