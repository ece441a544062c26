// The relay core: moves one client's messages to the server it holds and
// the server's back, taking a server from the pool when the client sends
// something and giving it back at the end of each transaction (transaction
// mode) or statement (statement mode), or when the client leaves (session
// mode). Its stage (session/stage.h), if any, sees every message on the
// way.
//
// A transaction has ended when the server says ReadyForQuery 'I' and every
// request that asks for a ReadyForQuery (Query, Sync, FunctionCall) has had
// its answer, and no extended-protocol message has been sent since the last
// Sync. Counting outstanding requests is what keeps a pipeline (Parse/Bind/
// Execute x N, Flush, several Syncs) on one server until it is done.
//
// While serving, one read is outstanding on the client socket at all times,
// and one on the server while there is one; the relay sleeps on the
// connection's Wakeup until either completes. Bytes are forwarded in bulk;
// only message headers, and the few messages that decide pooling, are
// decoded. relay.cpp has the serve loop and the client's side,
// relay_server.cpp the server's side and giving servers back.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "net/message_io.h"
#include "pool/pool.h"
#include "protocol/outbox.h"
#include "protocol/scanner.h"
#include "session/cache_tap.h"
#include "session/client_connection.h"
#include "session/stage.h"

namespace usher::session {

struct ClientInfo;

// The time limits that apply to one client (a [users] entry overrides the
// global values).
struct ClientLimits {
  std::chrono::milliseconds client_idle_timeout{0};
  std::chrono::milliseconds query_timeout{0};
  std::chrono::milliseconds idle_transaction_timeout{0};
  std::chrono::milliseconds transaction_timeout{0};
  std::chrono::milliseconds query_wait_notify{0};
};

class Relay {
 public:
  // What the relay needs of the session that owns it.
  class Owner {
   public:
    // Held by every pending read, so the session outlives its handlers.
    virtual std::shared_ptr<void> keep_alive() = 0;
    // A suspended client spoke again: serve it (with a new coroutine).
    virtual void resume() = 0;

   protected:
    ~Owner() = default;
  };

  Relay(ClientConnection& conn, Membership& membership, Owner& owner);

  // After login: frames the client's messages, with prepared statements
  // tracked when `max_statements_per_server` > 0 and the result cache's tap
  // when `cache` is given, and parks the client.
  void start(size_t max_statements_per_server, std::unique_ptr<CacheTap> cache);

  // Serves until the client leaves (ok), is killed or fails (the error), or
  // parks: then suspended() is true, the caller's coroutine ends (freeing
  // its frames) and Owner::resume() serves again once the client speaks.
  asio::awaitable<Status> serve();
  bool suspended() const { return suspended_; }

  // Ending the session: a clean server goes back to its pool, one that is
  // busy is cancelled and closed (finish_server()); once the client socket
  // is closed, wait_reads() waits for the reads it aborted.
  asio::awaitable<void> finish_server();
  asio::awaitable<void> wait_reads();
  // kill(): no more waiting, the backend's query cancelled, the server read
  // stopped.
  void on_kill();

  // For the janitor: the error to kill the client with, if a limit has
  // passed; an idle client's read is swapped for a buffer-free wait.
  std::optional<Error> check_timeouts(Clock::time_point now, const ClientLimits& limits);
  // Holding a server that waits for the client (idle_transaction_timeout).
  bool waiting_for_client() const;
  // SHOW CLIENTS: the server side of `info`.
  void fill_info(ClientInfo& info, Clock::time_point now) const;

 private:
  // relay.cpp: the loop, reads and the client's side.
  void start_reads();
  Status scan_client();
  // Fills to_server_ from the scanned client bytes; `idle`: the client was
  // owed nothing before them.
  void build_to_server(bool idle);
  // The cache's answers to the leading requests of what was scanned, if
  // hits, written to the client; false when the client is gone.
  asio::awaitable<bool> answer_from_cache(bool idle);
  // Until `flight` lands, or cache::kFlightWait at most.
  asio::awaitable<void> wait_for_fill(cache::Flight& flight);
  // Nothing is owed to the client, nor pending on a server it holds.
  bool owes_nothing() const;
  // Takes an idle server without waiting; false when link_server() must.
  bool link_idle_server();
  // Waits for a server; the wait is abandoned if the client leaves.
  asio::awaitable<Status> link_server();
  // Gives up the client's place in the pool's queue (it left, or was killed).
  void abandon_wait();
  void attach_server(pool::ServerPtr server, Clock::duration waited);
  asio::awaitable<Status> sync_server_params(const std::string& messages);
  void notify_queued();
  // `out` as the buffer sequence of a gather write (gather_, valid until
  // the next call).
  const std::vector<asio::const_buffer>& gather(const protocol::Outbox& out);
  Status server_write_status(const net::WriteResult& sent);
  // Writes to_server_; on failure the server is marked closed.
  asio::awaitable<Status> send_to_server();

  // relay_server.cpp: the server's side.
  asio::awaitable<Status> forward_to_client();
  // One pass over what the server sent, from `pos` on: fills to_client_ and
  // advances `pos`; true when the transaction ended and the server can go.
  Result<bool> relay_from_server(size_t& pos);
  // Adds the stage's answers that are now due to to_client_; true when one
  // of them ends the transaction.
  Result<bool> emit_stage_answers();
  // Handles a ReadyForQuery the client receives (`own`: one the cache's
  // tap kept from it); true when the server can go back to the pool.
  Result<bool> ready_for_query(char status, bool own = false);
  // Whether the server needs server_reset_query (or a statement reset)
  // before going back.
  bool reset_due() const;
  // Runs the reset, then release_server().
  asio::awaitable<Status> unlink_server();
  void release_server();
  void drop_server();
  bool server_idle() const;
  // The server still owes answers to what was sent.
  bool server_busy() const;
  // Answers to extended-protocol messages the server has not sent yet.
  bool answers_due() const;
  // Asks PostgreSQL to cancel what the server is running (a CancelRequest
  // on a connection of its own), before Usher gives up on that server.
  void cancel_server_query();
  // Cancels an outstanding server read and waits for its completion.
  asio::awaitable<void> stop_server_read();
  // Requests the server skipped: no ReadyForQuery comes for them.
  void forget_skipped_queries();
  void flush_stage_stats();

  ClientConnection& c_;
  Membership& m_;
  Owner& owner_;

  pool::ServerPtr server_;
  protocol::StreamScanner client_scan_;
  protocol::StreamScanner server_scan_;
  std::unique_ptr<Stage> stage_;   // null: none (session mode, no statement tracking)
  std::unique_ptr<CacheTap> tap_;  // null: the result cache is off for this client
  size_t pending_ = 0;             // scanned client bytes not yet forwarded
  bool terminate_ = false;         // client sent Terminate
  bool client_reading_ = false;
  bool client_read_filled_ = false;
  bool parked_ = false;     // idle: waiting for readability with no buffer
  bool suspended_ = false;  // parked with no coroutine running
  bool server_reading_ = false;
  bool server_closed_ = false;
  bool server_read_filled_ = false;
  int outstanding_ = 0;    // ReadyForQuery messages still due from the server
  uint64_t answered_ = 0;  // ReadyForQuery messages the client has had, or will not get
  bool unsynced_ = false;  // extended-protocol messages sent since the last Sync
  bool flushed_ = false;   // ... and a Flush after them: answers are due
  bool in_copy_ = false;
  char tx_status_ = protocol::kTransactionIdle;
  bool server_msg_forwarded_ = true;  // the server message in progress goes to the client
  bool client_backlog_ = false;       // scanned bytes wait for room in the stage
  // query_wait_notify: sent once per wait; what the socket did not take.
  bool wait_notified_ = false;
  std::string wait_notice_;
  uint64_t wait_ticket_ = 0;  // our place in the pool's queue while waiting
  protocol::Outbox to_client_;
  protocol::Outbox to_server_;
  std::vector<asio::const_buffer> gather_;  // the outbox being written

  // Times, for timeouts and statistics.
  Clock::time_point wait_start_{};
  Clock::time_point xact_start_{};
  Clock::time_point query_start_{};
};

}  // namespace usher::session
