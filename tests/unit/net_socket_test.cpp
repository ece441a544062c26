// Socket options and deadlines on real loopback sockets.
#include "net/socket.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>

namespace usher::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A connected client socket; the accepted end stays open and silent.
struct Loopback {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::address_v4::loopback(), 0}};
  asio::ip::tcp::socket accepted{io};
  Socket client{io};

  Loopback() {
    asio::ip::tcp::endpoint ep = acceptor.local_endpoint();
    client.connect(Endpoint(ep));
    acceptor.accept(accepted);
  }
};

int get_int(Socket& s, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  EXPECT_EQ(::getsockopt(s.native_handle(), level, name, &value, &len), 0);
  return value;
}

TEST(TuneSocket, AppliesTcpSettings) {
  Loopback l;
  tune_socket(l.client, {.keepalive = true,
                         .keepcnt = 4,
                         .keepidle = 7,
                         .keepintvl = 3,
                         .user_timeout_ms = 2500,
                         .socket_buffer = 65536});
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(get_int(l.client, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_KEEPCNT), 4);
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_KEEPIDLE), 7);
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_KEEPINTVL), 3);
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
  // Linux doubles the value for its bookkeeping.
  EXPECT_EQ(get_int(l.client, SOL_SOCKET, SO_SNDBUF), 2 * 65536);
  EXPECT_EQ(get_int(l.client, SOL_SOCKET, SO_RCVBUF), 2 * 65536);
}

TEST(TuneSocket, ZeroLeavesTheSystemDefault) {
  Loopback l;
  const int idle = get_int(l.client, IPPROTO_TCP, TCP_KEEPIDLE);
  tune_socket(l.client, {.keepalive = false});
  EXPECT_EQ(get_int(l.client, SOL_SOCKET, SO_KEEPALIVE), 0);
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_KEEPIDLE), idle);
  EXPECT_EQ(get_int(l.client, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
}

TEST(SocketDeadline, ClosesTheSocketWhenItPasses) {
  Loopback l;
  SocketDeadline deadline(l.client, 30ms);
  char byte;
  boost::system::error_code result;
  l.client.async_read_some(asio::buffer(&byte, 1),
                           [&](boost::system::error_code ec, size_t) { result = ec; });
  l.io.run_for(5s);
  EXPECT_TRUE(deadline.expired());
  EXPECT_FALSE(l.client.is_open());
  EXPECT_TRUE(result);  // the pending read failed
}

TEST(SocketDeadline, DisarmedWhenDestroyed) {
  Loopback l;
  { SocketDeadline deadline(l.client, 20ms); }
  l.io.run_for(100ms);
  EXPECT_TRUE(l.client.is_open());
}

TEST(SocketDeadline, ZeroMeansNoDeadline) {
  Loopback l;
  SocketDeadline deadline(l.client, 0ms);
  l.io.run_for(50ms);
  EXPECT_FALSE(deadline.expired());
  EXPECT_TRUE(l.client.is_open());
}

}  // namespace
}  // namespace usher::net
