// One client's connection and who it is: what the login fills in, and what
// the relay (session/relay.h) and the console serve. Owned by its
// ClientSession; touched only on its worker's thread.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "net/byte_buffer.h"
#include "net/socket.h"
#include "net/stream.h"
#include "pool/pool.h"
#include "protocol/cancel_key.h"
#include "protocol/tracked_params.h"
#include "session/cancel_registry.h"
#include "session/context.h"
#include "session/wakeup.h"
#include "session/worker.h"

namespace usher::session {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Seconds from `then` to `now`; 0 when `then` was never set.
inline double seconds_since(Clock::time_point then, Clock::time_point now) {
  if (then == Clock::time_point{}) return 0;
  return std::chrono::duration<double>(now - then).count();
}

inline uint64_t micros(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// Where a client is, for the janitor and SHOW CLIENTS; the coroutine's
// position is the real state.
enum class Phase { kLogin, kIdle, kWaiting, kActive, kAdmin };

struct ClientConnection {
  ClientConnection(SessionContext& ctx, Worker& worker, net::Socket socket);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Writes all of `bytes` (login and the console; the relay writes its own
  // gather lists).
  asio::awaitable<Status> send(std::string_view bytes);

  SessionContext& ctx;
  Worker& worker;
  const uint64_t id;   // next_socket_id(): SHOW CLIENTS id, KILL_CLIENT
  net::Stream stream;  // plain, or TLS once the client asked for it
  net::ByteBuffer in;
  Wakeup wake;
  std::shared_ptr<const config::Config> config;  // as of the connection
  Phase phase = Phase::kLogin;

  // Who the client is: the login fills these in.
  std::string user;
  std::string database;
  std::string addr;
  int port = 0;
  protocol::TrackedParams params;
  bool admin = false;  // the console's database
  // Logged in to the console as "pgbouncer" over the Unix socket by the OS
  // user Usher runs as: admin rights with no password, as in PgBouncer.
  bool console_owner = false;

  bool closed = false;                 // the client went away, or will hear nothing more
  std::unique_ptr<Error> kill_reason;  // set by kill(); a pointer keeps idle sessions small
  Clock::time_point connect_time = Clock::now();
  Clock::time_point last_activity = connect_time;  // the client sent something
};

// What a logged-in client holds of its pool and of the process, given back
// when it goes.
struct Membership {
  explicit Membership(SessionContext& ctx) : ctx(ctx) {}
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  SessionContext& ctx;
  std::shared_ptr<pool::Pool> pool;
  config::PoolMode mode = config::PoolMode::kSession;
  bool counted_in_pool = false;  // in pool->clients
  // Slots taken in the per-database and per-user client counts.
  std::shared_ptr<pool::SharedLimit> db_clients;
  std::shared_ptr<pool::SharedLimit> user_clients;
  // Where the client's cancel key leads (registered in ctx.cancels()).
  std::shared_ptr<CancelTarget> cancel_target;
  protocol::CancelKey cancel_key;  // pid 0 until login
  // Prepared statements tracked in transaction and statement mode:
  // max_prepared_statements per server; 0 when not.
  size_t max_statements_per_server = 0;
};

}  // namespace usher::session
