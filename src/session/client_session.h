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
#include "prepared/response_tracker.h"
#include "protocol/scanner.h"
#include "protocol/startup.h"
#include "session/cancel_registry.h"
#include "session/outbox.h"
#include "session/tracked_params.h"
#include "session/wakeup.h"

namespace usher::runtime {
class Runtime;
struct Worker;
}  // namespace usher::runtime

namespace usher::session {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

enum class Phase { kLogin, kIdle, kWaiting, kActive, kAdmin };

// Messages the relay inspects must arrive whole and fit in this.
inline constexpr uint32_t kMaxControlMessage = 1 << 20;
bool server_wants_whole(char type);

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
};

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(runtime::Runtime& rt, runtime::Worker& worker, net::Socket socket);
  ~ClientSession();

  // Spawns the session's coroutine on its worker.
  static void start(runtime::Runtime& rt, runtime::Worker& worker, net::Socket socket);

  // For the janitor and the admin console, on the session's worker thread.
  Phase phase() const { return phase_; }
  void check_timeouts(Clock::time_point now, const config::Config& config);
  // Sends `reason` as a FATAL error (best effort) and disconnects.
  void kill(const Error& reason);
  ClientInfo info(Clock::time_point now) const;
  const std::string& database() const { return database_; }
  const std::string& user() const { return user_; }

  // Used by the admin console, which talks to the client directly.
  net::Socket& socket() { return socket_; }
  net::ByteBuffer& input() { return in_; }
  runtime::Runtime& runtime() { return rt_; }
  asio::awaitable<Status> send(std::string_view bytes);

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

  // startup.cpp: the packet exchange before authentication. Returns false
  // when the connection was a CancelRequest and is done.
  asio::awaitable<Result<bool>> startup();
  Status apply_startup_params(const protocol::StartupMessage& m);
  asio::awaitable<void> forward_cancel(uint32_t pid, uint32_t secret);

  // client_auth.cpp
  asio::awaitable<Status> authenticate();
  asio::awaitable<Status> auth_cleartext(std::string_view stored);
  asio::awaitable<Status> auth_md5(std::string_view stored);
  asio::awaitable<Status> auth_scram(std::string_view stored, bool user_known);
  asio::awaitable<Result<net::Message>> read_auth_message();

  // login.cpp: pool lookup and the welcome messages.
  asio::awaitable<Status> join_pool();

  // relay.cpp
  asio::awaitable<Status> serve();
  Status scan_client();
  // Takes an idle server without waiting; false when link_server() must.
  bool link_idle_server();
  asio::awaitable<Status> link_server();
  void attach_server(pool::ServerPtr server, Clock::duration waited);
  asio::awaitable<Status> sync_server_params(const std::string& sql);
  // Fills to_server_ from the scanned client bytes.
  void build_to_server();
  Status server_write_status(const net::WriteResult& sent);
  asio::awaitable<Status> forward_to_client();
  // One pass over what the server sent, from `pos` on: fills to_client_ and
  // advances `pos`; true when the transaction ended and the server can go.
  Result<bool> relay_from_server(size_t& pos);
  // Whether the server needs server_reset_query before going back.
  bool reset_due() const;
  // Runs the reset query, then release_server().
  asio::awaitable<Status> unlink_server();
  void release_server();
  void start_reads();
  bool server_idle() const;
  void drop_server();
  // Cancels an outstanding server read and waits for its completion.
  asio::awaitable<void> stop_server_read();
  // Writes to_server_; on failure the server is marked closed.
  asio::awaitable<Status> send_to_server();
  // Handles a ReadyForQuery the client receives; true when the server can go
  // back to the pool.
  Result<bool> ready_for_query(char status);

  // statements.cpp: prepared statements in transaction and statement mode.
  void enable_statement_tracking(size_t max_per_server);
  // Builds to_server_ from the scanned client bytes, with statement names
  // translated and missing statements prepared first.
  void translate_to_server();
  void on_parse(std::span<const uint8_t> msg, std::span<const uint8_t> body);
  void on_bind(std::span<const uint8_t> msg, std::span<const uint8_t> body);
  void on_describe(std::span<const uint8_t> msg, std::span<const uint8_t> body);
  void on_close(std::span<const uint8_t> msg, std::span<const uint8_t> body);
  void on_query(std::span<const uint8_t> msg, std::span<const uint8_t> body);
  void on_execute(std::span<const uint8_t> msg, std::span<const uint8_t> body);
  // A DEALLOCATE in an unnamed Parse: answered by Usher. False: not one.
  bool parse_unnamed_command(std::string_view query);
  // Makes sure the server has `s`, preparing it (and closing the least
  // recently used one) when it does not. `simple`: inside a simple Query
  // exchange, where the preparation must be invisible and self-contained.
  // Returns true when the server already had it.
  bool ensure_prepared(const prepared::StatementPtr& s, bool simple);
  // Answers the request with PostgreSQL's `sqlstate` error: sends the server
  // a statement that fails to parse (so it aborts the transaction and skips
  // to Sync as for the real error) and replaces its error with ours.
  void refuse(prepared::Reply reply, std::string_view sqlstate, std::string message);
  // For a name the client never prepared: when it has the form of Usher's
  // own names, refuses with 26000 (true) rather than let the server find
  // another client's statement under it.
  bool refuse_server_name(prepared::Reply reply, std::string_view name);
  // Records `s` on the server; past max_prepared_statements, closes the
  // least recently used statement there first.
  void make_room(const prepared::StatementPtr& s, bool simple);
  // Usher's own requests to the server, the way `s` was made (Parse, or SQL
  // PREPARE); `simple`: inside a simple Query exchange, so they carry their
  // own Sync. Their answers never reach the client.
  void prepare_on_server(const prepared::StatementPtr& s, bool simple);
  void close_on_server(const prepared::Statement& s, bool simple, prepared::Undo undo);
  void ensure_unnamed();
  void expect(prepared::Entry&& e);
  void expect(prepared::Reply reply) { expect(prepared::Entry{.reply = reply}); }
  void fake(prepared::Reply reply, std::string bytes, prepared::Undo client_undo = {},
            bool ready_for_query = false);

  // statement_answers.cpp: the server's answers to them.
  void apply_undos();
  // After translate_to_server(): keeps the exchange for a 0A000 retry when
  // it qualifies. And when that error comes, whether to retry.
  void arm_retry(bool tracker_was_empty);
  bool take_retry(std::span<const uint8_t> error);
  void push_retry();
  // `error` (a whole ErrorResponse) as the client must see it: Usher's name
  // for the statement replaced by the client's, and a position in a
  // rewritten EXECUTE moved back into the client's text; nullopt when
  // nothing needed changing.
  std::optional<std::string> restore_client_view(std::span<const uint8_t> error,
                                                 const prepared::ResponseTracker::Outcome& o);
  // Matches a server message (its start; `whole` when all of it) to what
  // was asked; true when it goes to the client as it is. Replacements are
  // added to to_client_ here.
  bool track_server_message(char type, std::span<const uint8_t> bytes, bool whole);
  // Adds the made-up answers that are now due to to_client_; true when one
  // of them ends the transaction.
  Result<bool> emit_due_fakes();

  runtime::Runtime& rt_;
  runtime::Worker& worker_;
  net::Socket socket_;
  net::ByteBuffer in_;
  Wakeup wake_;
  std::shared_ptr<const config::Config> config_;  // as of login
  Phase phase_ = Phase::kLogin;

  // Who the client is.
  std::string user_;
  std::string database_;
  std::string addr_;
  int port_ = 0;
  TrackedParams params_;
  std::shared_ptr<pool::Pool> pool_;
  config::PoolMode mode_ = config::PoolMode::kSession;
  uint32_t max_packet_ = 0;
  bool admin_ = false;
  bool counted_in_pool_ = false;
  // Slots taken in the per-database and per-user client counts.
  std::shared_ptr<pool::SharedLimit> db_clients_;
  std::shared_ptr<pool::SharedLimit> user_clients_;
  std::shared_ptr<CancelTarget> cancel_target_;
  uint32_t cancel_pid_ = 0;
  // SCRAM keys recovered from the client's proof, for pass-through to the
  // server; used once, at login.
  struct ScramKeys {
    std::array<uint8_t, 32> client_key;
    std::array<uint8_t, 32> server_key;
  };
  std::unique_ptr<ScramKeys> scram_keys_;

  // Relay state.
  std::list<std::weak_ptr<ClientSession>>::iterator registry_it_;
  pool::ServerPtr server_;
  protocol::StreamScanner client_scan_;
  protocol::StreamScanner server_scan_;
  size_t pending_ = 0;      // scanned client bytes not yet forwarded
  bool terminate_ = false;  // client sent Terminate
  bool client_reading_ = false;
  bool client_closed_ = false;
  bool client_read_filled_ = false;
  bool parked_ = false;     // idle: waiting for readability with no buffer
  bool suspended_ = false;  // parked with no coroutine running
  bool server_reading_ = false;
  bool server_closed_ = false;
  bool server_read_filled_ = false;
  int outstanding_ = 0;    // ReadyForQuery messages still due from the server
  bool unsynced_ = false;  // extended-protocol messages sent since the last Sync
  bool in_copy_ = false;
  char tx_status_ = 'I';
  bool server_msg_forwarded_ = true;    // the server message in progress goes to the client
  std::unique_ptr<Error> kill_reason_;  // set by kill(); a pointer keeps idle sessions small
  Outbox to_client_;

  // Prepared statements (statements.cpp).
  bool tracking_ = false;
  size_t max_prepared_ = 0;
  uint64_t client_id_ = 0;  // for ServerConnection::unnamed_owner
  // By client name; looked up by string_view without a copy.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, prepared::StatementPtr, NameHash, std::equal_to<>> statements_;
  // The last exchange that may be run again if its Bind fails with 0A000
  // "cached plan must not change result type" (see statement_answers.cpp).
  struct Retry {
    prepared::StatementPtr stmt;  // null: none
    std::string shape;            // message types of the exchange: "BES", "BDES" or "Q"
    std::string bytes;            // what was sent to the server
    bool now = false;             // triggered: send it again
  };
  std::unique_ptr<Retry> retry_;  // from the first exchange; dropped when the client parks
  Retry& retry() {
    if (!retry_) retry_ = std::make_unique<Retry>();
    return *retry_;
  }
  prepared::StatementPtr retry_candidate_;  // set by on_bind while translating
  std::string unnamed_parse_;  // the last Parse(""), replayed on a server that lacks it
  // The unnamed statement (and portal) when it is a DEALLOCATE Usher answers.
  struct UnnamedCommand {
    bool all = false;
    std::string name;
  };
  std::unique_ptr<UnnamedCommand> unnamed_command_;  // rare: a pointer keeps sessions small
  bool portal_command_ = false;
  prepared::ResponseTracker tracker_;
  protocol::StreamScanner relay_scan_;  // re-walks what scan_client() framed
  Outbox to_server_;
  std::vector<prepared::Undo> undone_;

  // Times, for timeouts and statistics.
  Clock::time_point connect_time_ = Clock::now();
  Clock::time_point last_activity_ = connect_time_;  // client sent something
  Clock::time_point wait_start_{};
  Clock::time_point link_time_{};
  Clock::time_point xact_start_{};
  Clock::time_point query_start_{};
};

}  // namespace usher::session
