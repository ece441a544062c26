// One connected client, served by one coroutine on one worker: it logs in
// (session/login.h), then is served by the relay (session/relay.h), or by
// the console when it logged in to the console's database. The coroutine's
// position is the state; the connection's `phase` exists only for the
// janitor and the console.
#pragma once

#include <boost/asio.hpp>
#include <list>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "net/socket.h"
#include "session/client_connection.h"
#include "session/context.h"
#include "session/relay.h"
#include "session/worker.h"

namespace usher::session {

// A snapshot for SHOW CLIENTS / SHOW SERVERS, taken on the session's worker.
struct ClientInfo {
  std::string user, database, state, addr, application_name;
  int port = 0;
  int local_port = 0;
  double connect_time = 0, request_time = 0, wait_seconds = 0;
  uint32_t pid = 0;
  uint64_t server_id = 0;
  bool has_server = false;
  std::string server_addr;
  std::string tls, server_tls;  // TLS version/cipher/group, empty when plain
  int server_port = 0;
  uint32_t server_pid = 0;
  double server_connect_time = 0;
  const void* ptr = nullptr;
  uint64_t id = 0;                        // next_socket_id(), for KILL_CLIENT
  size_t prepared_statements = 0;         // the client's own
  size_t server_prepared_statements = 0;  // on its server
  bool server_close_needed = false;       // its server is closed once released
};

class ClientSession final : public std::enable_shared_from_this<ClientSession>,
                            private Relay::Owner {
 public:
  ClientSession(SessionContext& ctx, Worker& worker, net::Socket socket);
  ~ClientSession();

  // Spawns the session's coroutine on its worker.
  static void start(SessionContext& ctx, Worker& worker, net::Socket socket);

  // For the janitor and the admin console, on the session's worker thread.
  Phase phase() const { return conn_.phase; }
  void check_timeouts(Clock::time_point now, const config::Config& config);
  // Holding a server that waits for the client (idle_transaction_timeout).
  bool waiting_for_client() const { return relay_.waiting_for_client(); }
  // Sends `reason` as a FATAL error (best effort) and disconnects.
  void kill(const Error& reason);
  ClientInfo info(Clock::time_point now) const;
  const std::string& database() const { return conn_.database; }
  const std::string& user() const { return conn_.user; }
  // Unique per socket (SHOW CLIENTS id, KILL_CLIENT).
  uint64_t id() const { return conn_.id; }

 private:
  asio::awaitable<void> run();
  void spawn(asio::awaitable<void> coroutine);
  // Serves until the client leaves, or until it parks (Relay::suspended()):
  // then the coroutine ends, and resume() spawns a new one when the client
  // speaks again.
  asio::awaitable<void> serve_and_finish();
  // Startup, authentication and joining the pool. false: the connection was
  // a CancelRequest and is done.
  asio::awaitable<Result<bool>> log_in();
  // Ends the session: the server goes back to its pool when it is clean,
  // the client gets the error if there was one, and both sockets close.
  asio::awaitable<void> finish(const Status& status);

  // Relay::Owner
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  void resume() override { spawn(serve_and_finish()); }

  ClientConnection conn_;
  Membership membership_;
  Relay relay_;
  std::list<std::weak_ptr<ClientSession>>::iterator registry_it_;  // in the worker's list
};

}  // namespace usher::session
