// One connected client, served by one coroutine on one worker:
// startup -> authenticate -> serve. The coroutine's position is the state;
// `phase_` exists only for the janitor and the admin console.
//
// While serving, the session keeps one read outstanding on the client socket
// at all times and one on its server while it has one, and sleeps on a
// Wakeup until either completes. Bytes are forwarded in bulk; only message
// headers (and the few control messages that decide pooling) are decoded.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "net/byte_buffer.h"
#include "net/message_io.h"
#include "net/socket.h"
#include "pool/pool.h"
#include "prepared/translator.h"
#include "protocol/outbox.h"
#include "protocol/scanner.h"
#include "protocol/startup.h"
#include "protocol/tracked_params.h"
#include "session/cancel_registry.h"
#include "session/client_connection.h"
#include "session/context.h"
#include "session/wakeup.h"
#include "session/worker.h"

namespace usher::session {

// Messages the relay inspects must arrive whole and fit in this.
inline constexpr uint32_t kMaxControlMessage = 1 << 20;

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
  int server_port = 0;
  uint32_t server_pid = 0;
  double server_connect_time = 0;
  const void* ptr = nullptr;
  uint64_t id = 0;                        // next_socket_id(), for KILL_CLIENT
  size_t prepared_statements = 0;         // the client's own
  size_t server_prepared_statements = 0;  // on its server
  bool server_close_needed = false;       // its server is closed once released
};

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(SessionContext& ctx, Worker& worker, net::Socket socket);
  ~ClientSession();

  // Spawns the session's coroutine on its worker.
  static void start(SessionContext& ctx, Worker& worker, net::Socket socket);

  // For the janitor and the admin console, on the session's worker thread.
  Phase phase() const { return conn_.phase; }
  void check_timeouts(Clock::time_point now, const config::Config& config);
  // Holding a server that waits for the client (idle_transaction_timeout).
  bool waiting_for_client() const;
  // Sends `reason` as a FATAL error (best effort) and disconnects.
  void kill(const Error& reason);
  ClientInfo info(Clock::time_point now) const;
  const std::string& database() const { return conn_.database; }
  const std::string& user() const { return conn_.user; }
  // Unique per socket (SHOW CLIENTS id, KILL_CLIENT).
  uint64_t id() const { return conn_.id; }

  // What the admin console serves: the client's connection, as logged in.
  ClientConnection& connection() { return conn_; }

 private:
  asio::awaitable<void> run();
  void spawn(asio::awaitable<void> coroutine);
  // Serves until the client leaves, or until it parks (suspended_): then the
  // coroutine ends, freeing its frames, and the parked wait spawns a new one
  // when the client speaks again.
  asio::awaitable<void> serve_and_finish();
  // Startup, authentication and joining the pool. false: the connection was
  // a CancelRequest and is done.
  asio::awaitable<Result<bool>> log_in();
  asio::awaitable<void> finish(const Status& status);

  void notify_queued();

  // relay.cpp
  asio::awaitable<Status> serve();
  Status scan_client();
  // Takes an idle server without waiting; false when link_server() must.
  bool link_idle_server();
  // Waits for a server; the wait is abandoned if the client leaves.
  asio::awaitable<Status> link_server();
  // Gives up the client's place in the pool's queue (it left, or was killed).
  void abandon_wait();
  void attach_server(pool::ServerPtr server, Clock::duration waited);
  asio::awaitable<Status> sync_server_params(const std::string& messages);
  // Fills to_server_ from the scanned client bytes.
  void build_to_server();
  Status server_write_status(const net::WriteResult& sent);
  asio::awaitable<Status> forward_to_client();
  // One pass over what the server sent, from `pos` on: fills to_client_ and
  // advances `pos`; true when the transaction ended and the server can go.
  Result<bool> relay_from_server(size_t& pos);
  // Adds the made-up answers that are now due to to_client_; true when one
  // of them ends the transaction.
  Result<bool> emit_due_fakes();
  // Whether the server needs server_reset_query (or a statement reset)
  // before going back.
  bool reset_due() const;
  // Runs the reset, then release_server().
  asio::awaitable<Status> unlink_server();
  void release_server();
  void start_reads();
  bool server_idle() const;
  // The server still owes answers to what was sent.
  bool server_busy() const;
  void drop_server();
  // Asks PostgreSQL to cancel what the server is running (a CancelRequest
  // on a connection of its own), before Usher gives up on that server.
  void cancel_server_query();
  // Cancels an outstanding server read and waits for its completion.
  asio::awaitable<void> stop_server_read();
  // `out` as the buffer sequence of a gather write (gather_, valid until
  // the next call).
  const std::vector<asio::const_buffer>& gather(const protocol::Outbox& out);
  // Writes to_server_; on failure the server is marked closed.
  asio::awaitable<Status> send_to_server();
  // Handles a ReadyForQuery the client receives; true when the server can go
  // back to the pool.
  Result<bool> ready_for_query(char status);
  // Prepared statements in transaction and statement mode.
  void enable_statement_tracking(size_t max_per_server);
  void flush_statement_counters();
  void forget_dropped_queries();
  // Answers to extended-protocol messages the server has not sent yet.
  bool answers_due() const;

  ClientConnection conn_;
  Membership membership_;
  uint32_t max_packet_ = 0;  // the longest client message let through
  // query_wait_notify: sent once per wait; what the socket did not take.
  bool wait_notified_ = false;
  std::string wait_notice_;

  // Relay state.
  std::list<std::weak_ptr<ClientSession>>::iterator registry_it_;
  pool::ServerPtr server_;
  protocol::StreamScanner client_scan_;
  protocol::StreamScanner server_scan_;
  size_t pending_ = 0;      // scanned client bytes not yet forwarded
  bool terminate_ = false;  // client sent Terminate
  bool client_reading_ = false;
  bool client_read_filled_ = false;
  bool parked_ = false;     // idle: waiting for readability with no buffer
  bool suspended_ = false;  // parked with no coroutine running
  bool server_reading_ = false;
  bool server_closed_ = false;
  bool server_read_filled_ = false;
  int outstanding_ = 0;    // ReadyForQuery messages still due from the server
  bool unsynced_ = false;  // extended-protocol messages sent since the last Sync
  bool flushed_ = false;   // ... and a Flush after them: answers are due
  bool in_copy_ = false;
  char tx_status_ = 'I';
  bool server_msg_forwarded_ = true;  // the server message in progress goes to the client
  protocol::Outbox to_client_;

  // Prepared statements (transaction and statement mode; null otherwise).
  std::unique_ptr<prepared::Translator> translator_;
  protocol::Outbox to_server_;
  std::vector<asio::const_buffer> gather_;  // the outbox being written
  bool client_backlog_ = false;             // scanned bytes wait for room in the translator
  uint64_t wait_ticket_ = 0;                // our place in the pool's queue while waiting

  // Times, for timeouts and statistics.
  Clock::time_point wait_start_{};
  Clock::time_point link_time_{};
  Clock::time_point xact_start_{};
  Clock::time_point query_start_{};
};

}  // namespace usher::session
