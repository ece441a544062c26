// The serve loop: forwards client bytes to a server and server bytes back,
// taking a server from the pool when the client sends something and giving
// it back at the end of each transaction (transaction mode) or statement
// (statement mode).
//
// A transaction has ended when the server says ReadyForQuery 'I' and every
// request that asks for a ReadyForQuery (Query, Sync, FunctionCall) has had
// its answer, and no extended-protocol message has been sent since the last
// Sync. Counting outstanding requests is what keeps a pipeline (Parse/Bind/
// Execute x N, Flush, several Syncs) on one server until it is done.
#include <spdlog/spdlog.h>

#include <atomic>

#include "prepared/sql_command.h"
#include "protocol/extended.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "session/client_session.h"
#include "session/worker.h"

namespace usher::session {

namespace {

constexpr size_t kReadChunk = 16384;
// Past these, we stop reading from that side until the other side catches
// up: the backpressure that keeps a huge result or COPY at bounded memory.
constexpr size_t kClientBufferLimit = 256 * 1024;
constexpr size_t kServerBufferLimit = 256 * 1024;
// With prepared statements tracked, one pass translates at most this many
// client messages, so that the answers due stay near
// prepared::kMaxPendingAnswers whatever a client pipelines.
constexpr int kMaxMessagesPerPass = 1024;

uint64_t micros(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

}  // namespace

asio::awaitable<Status> ClientSession::serve() {
  while (true) {
    if (conn_.kill_reason) co_return *conn_.kill_reason;
    Status st = ok_status();
    if (!translator_ || translator_->has_room()) st = scan_client();
    if (!st) co_return st;
    // The steps below await only when they must: each nested coroutine
    // costs a frame and a resumption per transaction even when it never
    // suspends, so the common case of each (an idle server ready, a write
    // the socket takes at once) runs as a plain call.
    if (pending_ > 0) {
      if (!server_) {
        if (!link_idle_server()) {
          st = co_await link_server();
          if (!st) co_return st;
        }
        // Bring the server's tracked settings (TimeZone, ...) to this client's.
        std::string replay = conn_.params.replay_messages(server_->tracked());
        if (!replay.empty()) {
          st = co_await sync_server_params(replay);
          if (!st) co_return st;
        }
        membership_.cancel_target->link(
            BackendKey{server_->endpoint, server_->backend_pid, server_->backend_secret});
      }
      build_to_server();
      if (!to_server_.empty()) {
        net::WriteResult sent;
        if (!net::write_now(server_->socket(), gather(to_server_), sent)) {
          sent = co_await net::write_rest(server_->socket(), gather_, sent);
        }
        st = server_write_status(sent);
      }
      pool::bump(membership_.pool->stats().slot(conn_.worker.index).bytes_received, pending_);
      conn_.in.consume(pending_);
      pending_ = 0;
      if (!st) co_return st;
    }
    if (terminate_) co_return ok_status();
    // Nothing to pass on until the server answers (or Usher's own answers are due).
    if (server_ && (!server_->in().empty() || (translator_ && translator_->fake_due()))) {
      st = co_await forward_to_client();
      if (!st) co_return st;
    }
    if (conn_.closed && !client_reading_) co_return ok_status();
    if (server_ && server_closed_ && !server_reading_) {
      // Whatever the server said last (often a FATAL such as 57P01) has been
      // passed on; its transaction is gone, so the client must hear it.
      co_return make_error("08006", "server conn crashed?");
    }
    // Messages scanned but not yet translated, now that there is room.
    if (client_backlog_ && translator_->has_room()) continue;
    start_reads();
    if (parked_ && client_reading_ && !server_) {
      suspended_ = true;  // see serve_and_finish()
      co_return ok_status();
    }
    co_await conn_.wake.wait();
  }
}

void ClientSession::start_reads() {
  auto self = shared_from_this();
  if (!client_reading_ && !conn_.closed && parked_) {
    // Idle: wait for readability without holding a buffer. Costs one
    // epoll_ctl when the client wakes up, which is why active clients use a
    // plain read instead.
    conn_.in.release_if_empty(false);
    to_client_.release();
    to_server_.release();
    gather_ = {};
    if (translator_) translator_->release_memory();
    client_reading_ = true;
    conn_.socket.async_wait(net::Socket::wait_read, [this, self](boost::system::error_code ec) {
      client_reading_ = false;
      parked_ = false;
      if (ec && ec != asio::error::operation_aborted) conn_.closed = true;
      if (suspended_) {
        suspended_ = false;
        spawn(serve_and_finish());
      } else {
        conn_.wake.notify_from_handler();
      }
    });
  } else if (!client_reading_ && !conn_.closed &&
             (conn_.in.size() < kClientBufferLimit || pending_ == 0) &&
             (!translator_ || translator_->has_room())) {
    // With nothing scanned to forward, what is buffered is the start of a
    // message that must arrive whole (a large Parse or Bind): read on.
    if (!server_) conn_.in.release_if_empty(true);
    auto space = conn_.in.prepare(client_read_filled_ ? kReadChunk : 1);
    client_reading_ = true;
    conn_.socket.async_read_some(
        asio::buffer(space.data(), space.size()),
        [this, self, size = space.size()](boost::system::error_code ec, size_t n) {
          client_reading_ = false;
          if (ec) {
            // operation_aborted is our own cancel when parking the client;
            // kill() marks the client closed itself.
            if (ec != asio::error::operation_aborted) {
              conn_.closed = true;
              abandon_wait();  // gone while waiting: its query must never run
            }
          } else {
            parked_ = false;
            conn_.in.commit(n);
            client_read_filled_ = n == size;
            conn_.last_activity = Clock::now();
            // Waiting for a server: keep watching for the client leaving.
            if (conn_.phase == Phase::kWaiting) start_reads();
          }
          conn_.wake.notify_from_handler();
        });
  }
  if (server_ && !server_reading_ && !server_closed_ && server_->in().size() < kServerBufferLimit) {
    pool::ServerConnection* server = server_.get();
    auto space = server->in().prepare(server_read_filled_ ? 4 * kReadChunk : kReadChunk);
    server_reading_ = true;
    server->socket().async_read_some(asio::buffer(space.data(), space.size()),
                                     [this, self, server, gen = server->id(), size = space.size()](
                                         boost::system::error_code ec, size_t n) {
                                       server_reading_ = false;
                                       // A completion for a server we already dropped must not
                                       // touch it.
                                       if (server_ && server_->id() == gen) {
                                         // Our own cancel (client leaving, session-mode release) is
                                         // not the server going away; kill() marks the server
                                         // closed itself.
                                         if (ec && ec != asio::error::operation_aborted) {
                                           server_closed_ = true;
                                         } else {
                                           server->in().commit(n);
                                           server_read_filled_ = n == size;
                                         }
                                       }
                                       conn_.wake.notify_from_handler();
                                     });
  }
}

Status ClientSession::scan_client() {
  auto data = conn_.in.readable();
  int messages = 0;
  client_backlog_ = false;
  while (!terminate_) {
    if (translator_ && messages++ == kMaxMessagesPerPass) {
      client_backlog_ = pending_ < data.size();
      return ok_status();
    }
    auto piece = client_scan_.next(data.subspan(pending_));
    using Kind = protocol::StreamScanner::Kind;
    switch (piece.kind) {
      case Kind::kNeedMore:
        return ok_status();
      case Kind::kInvalid:
        return protocol::framing_error(piece.header.type, piece.header.length);
      case Kind::kBody:
        pending_ += piece.size;
        break;
      case Kind::kWhole:
      case Kind::kStart:
        if (piece.header.type == 'X') {  // Terminate: answered here, never forwarded
          terminate_ = true;
          return ok_status();
        }
        switch (piece.header.type) {
          case 'Q':
            // disable_pqexec: several statements in one simple Query are a
            // classic SQL injection vector; PgBouncer disconnects alike.
            if (conn_.config->disable_pqexec) return make_error("08P01", "PQexec disallowed");
            [[fallthrough]];
          case 'F':
            ++outstanding_;
            break;
          case 'S':
            if (in_copy_) break;  // PostgreSQL ignores a Sync during COPY FROM STDIN
            ++outstanding_;
            unsynced_ = false;
            break;
          case 'P':
          case 'B':
          case 'D':
          case 'E':
          case 'C':
            unsynced_ = true;
            flushed_ = false;
            break;
          case 'H':
            flushed_ = true;
            break;
          case 'c':  // CopyDone, CopyFail: the COPY ends
          case 'f':
            in_copy_ = false;
            break;
          case 'd':
            break;
          default:  // includes 'p': no password messages after login
            return protocol::framing_error(piece.header.type, piece.header.length);
        }
        pending_ += piece.size;
        break;
    }
  }
  return ok_status();
}

bool ClientSession::link_idle_server() {
  pool::ServerPtr server = membership_.pool->try_take_idle(conn_.worker.index);
  if (!server) return false;
  attach_server(std::move(server), Clock::duration::zero());
  return true;
}

asio::awaitable<Status> ClientSession::link_server() {
  conn_.phase = Phase::kWaiting;
  wait_start_ = Clock::now();
  wait_notified_ = false;
  // A client that leaves while it waits gives up its place (start_reads()
  // watches the socket meanwhile): what it sent is never run.
  start_reads();
  membership_.pool->waiting_clients.fetch_add(1, std::memory_order_relaxed);
  auto server =
      co_await membership_.pool->acquire(conn_.worker.index, conn_.worker.io, &wait_ticket_);
  membership_.pool->waiting_clients.fetch_sub(1, std::memory_order_relaxed);
  wait_ticket_ = 0;
  if (conn_.kill_reason || conn_.closed) {
    if (server) membership_.pool->release(std::move(*server));
    if (conn_.kill_reason) co_return *conn_.kill_reason;
    co_return make_error("08006", "client connection lost");
  }
  if (!wait_notice_.empty()) {
    // The rest of query_wait_notify's notice, before anything else.
    Status st = co_await conn_.send(wait_notice_);
    wait_notice_.clear();
    if (!st) {
      if (server) membership_.pool->release(std::move(*server));
      co_return st;
    }
  }
  if (!server) co_return server.take_error();
  attach_server(std::move(*server), Clock::now() - wait_start_);
  co_return ok_status();
}

void ClientSession::abandon_wait() {
  if (conn_.phase != Phase::kWaiting || wait_ticket_ == 0) return;
  membership_.pool->abandon(conn_.worker.index, wait_ticket_);
  wait_ticket_ = 0;
}

void ClientSession::attach_server(pool::ServerPtr server, Clock::duration waited) {
  server_ = std::move(server);
  auto now = Clock::now();
  auto& stats = membership_.pool->stats().slot(conn_.worker.index);
  pool::bump(stats.wait_time_us, micros(waited));
  pool::bump(stats.server_assignments, 1);
  conn_.phase = Phase::kActive;
  link_time_ = xact_start_ = now;
  server_->link_time = now;
  server_scan_.reset();
  server_msg_forwarded_ = true;
  if (translator_) translator_->attach(&server_->prepared);
  server_closed_ = false;
  server_read_filled_ = false;
  tx_status_ = 'I';
}

asio::awaitable<Status> ClientSession::sync_server_params(const std::string& messages) {
  bool answered = false;
  Status st = co_await server_->run(messages, membership_.pool->own_query_timeout(), &answered);
  if (!st) {
    // A value the server refuses (`-c DateStyle=bogus`) fails this client
    // as it would have failed its login to PostgreSQL; the server, which
    // rolled the attempt back, serves others.
    if (answered) {
      release_server();
    } else {
      drop_server();
    }
    co_return st;
  }
  protocol::TrackedParams& held = server_->tracked();
  held.replayed(conn_.params);
  // Adopt the server's spelling ("UTC" for "utc") so we do not SET again.
  for (int i = 0; i < int(conn_.params.size()); ++i) {
    if (!conn_.params.has(i)) continue;
    const int s = held.index_of(conn_.params.name(i));
    if (s >= 0 && held.has(s)) conn_.params.set(conn_.params.name(i), held.get(s));
  }
  co_return ok_status();
}

void ClientSession::build_to_server() {
  auto now = Clock::now();
  if (outstanding_ > 0 && query_start_ == Clock::time_point{}) query_start_ = now;
  to_server_.clear();
  auto data = conn_.in.readable().first(pending_);
  if (!translator_) {
    to_server_.pass(data);
    return;
  }
  translator_->translate(data, tx_status_, in_copy_, server_->tracked(), to_server_);
  forget_dropped_queries();
  flush_statement_counters();
}

void ClientSession::forget_dropped_queries() {
  // PostgreSQL ignored them while skipping to Sync: no ReadyForQuery comes.
  int n = static_cast<int>(translator_->take_dropped_queries());
  outstanding_ -= std::min(n, outstanding_);
}

void ClientSession::flush_statement_counters() {
  bool any = false;
  auto c = translator_->take_counters(any);
  if (!any) return;
  auto& stats = membership_.pool->stats().slot(conn_.worker.index);
  auto add = [](std::atomic<uint64_t>& counter, uint64_t n) {
    if (n != 0) pool::bump(counter, n);
  };
  add(stats.client_parse_count, c.client_parses);
  add(stats.server_parse_count, c.server_parses);
  add(stats.bind_count, c.binds);
  add(stats.statement_evictions, c.evictions);
  add(stats.statement_retries, c.retries);
}

Status ClientSession::server_write_status(const net::WriteResult& sent) {
  if (!sent.ec) return ok_status();
  server_closed_ = true;
  return make_error("08006", "server conn crashed?");
}

const std::vector<asio::const_buffer>& ClientSession::gather(const protocol::Outbox& out) {
  gather_.clear();
  out.for_each_run([&](const void* data, size_t size) { gather_.emplace_back(data, size); });
  return gather_;
}

asio::awaitable<Status> ClientSession::send_to_server() {
  if (to_server_.empty()) co_return ok_status();
  net::WriteResult sent;
  if (!net::write_now(server_->socket(), gather(to_server_), sent)) {
    sent = co_await net::write_rest(server_->socket(), gather_, sent);
  }
  co_return server_write_status(sent);
}

asio::awaitable<void> ClientSession::stop_server_read() {
  boost::system::error_code ec;
  server_->socket().cancel(ec);
  while (server_reading_)
    co_await conn_.wake.wait();
  conn_.wake.notify();  // the wait may have taken a client read's wake-up
}

asio::awaitable<Status> ClientSession::forward_to_client() {
  while (true) {
    auto& buf = server_->in();
    size_t scanned = 0;
    to_client_.clear();
    auto release = relay_from_server(scanned);
    if (!release) {
      drop_server();
      co_return release.take_error();
    }
    size_t unscanned = buf.size() - scanned;
    if (translator_ && translator_->retry_due()) {
      to_server_.clear();
      translator_->write_retry(to_server_);
      flush_statement_counters();
      Status st = co_await send_to_server();
      if (!st) co_return st;
    }
    if (!to_client_.empty()) {
      net::WriteResult sent;
      if (!net::write_now(conn_.socket, gather(to_client_), sent)) {
        sent = co_await net::write_rest(conn_.socket, gather_, sent);
      }
      pool::bump(membership_.pool->stats().slot(conn_.worker.index).bytes_sent, sent.written);
      if (sent.ec) {
        buf.consume(scanned);
        conn_.closed = true;
        co_return make_error("08006", "client connection lost");
      }
    }
    buf.consume(scanned);
    if (!*release) {
      // A server read that completed while we wrote: scan it now, before
      // another read is started.
      if (buf.size() > unscanned) continue;
      co_return ok_status();
    }
    if (server_reading_ && buf.empty()) {
      // The transaction ended with an answer Usher made up, or a read was
      // started before it ended: nothing more is due, so stop waiting.
      co_await stop_server_read();
    }
    // Anything after the final ReadyForQuery was not asked for: do not pass
    // such a server to another client.
    if (!buf.empty() || server_closed_) {
      drop_server();
      co_return ok_status();
    }
    if (!reset_due()) {
      release_server();
      co_return ok_status();
    }
    co_return co_await unlink_server();
  }
}

Result<bool> ClientSession::relay_from_server(size_t& pos) {
  auto data = server_->in().readable();
  // Answers Usher made up are due before the server's next message.
  Result<bool> release = false;
  if (translator_) release = emit_due_fakes();
  using Kind = protocol::StreamScanner::Kind;
  while (release && !*release) {
    auto piece = server_scan_.next(data.subspan(pos));
    if (piece.kind == Kind::kNeedMore) break;
    if (piece.kind == Kind::kInvalid) return make_error("08P01", "server sent an invalid message");
    auto bytes = data.subspan(pos, piece.size);
    pos += piece.size;
    if (piece.kind == Kind::kBody) {
      if (server_msg_forwarded_) to_client_.pass(bytes);
      continue;
    }
    char type = piece.header.type;
    server_msg_forwarded_ = true;
    if (translator_) {
      server_msg_forwarded_ =
          translator_->server_message(type, bytes, piece.kind == Kind::kWhole, to_client_);
      if (type == 'E') forget_dropped_queries();
    }
    if (server_msg_forwarded_) to_client_.pass(bytes);
    switch (type) {
      case 'G':  // CopyInResponse: the client now sends CopyData
        in_copy_ = true;
        break;
      case 'C':
        in_copy_ = false;
        if (piece.kind == Kind::kWhole &&
            protocol::may_change_settings(protocol::as_chars(piece.body)))
          server_->tracked().forget_unreported();
        break;
      case 'E':
        in_copy_ = false;
        break;
      case 'Z':
        if (piece.kind != Kind::kWhole) break;
        tx_status_ = piece.body.empty() ? 'I' : static_cast<char>(piece.body[0]);
        // Usher's own Sync is not one the client is waiting for.
        if (server_msg_forwarded_) release = ready_for_query(tx_status_);
        break;
      case 'S':
        if (piece.kind != Kind::kWhole) break;
        if (auto ps = protocol::parse_parameter_status(piece.body)) {
          server_->set_parameter(ps->name, ps->value);
          if (!protocol::never_tracked(ps->name)) conn_.params.set(ps->name, ps->value);
        }
        break;
      default:
        break;
    }
    if (translator_ && translator_->fake_due() && release && !*release) release = emit_due_fakes();
  }
  return release;
}

Result<bool> ClientSession::emit_due_fakes() {
  while (translator_->fake_due()) {
    if (!translator_->take_fake(to_client_)) continue;
    // It answered a whole Query: its ReadyForQuery, with the status of the moment.
    to_client_.write_own(
        [&](std::string& out) { protocol::write_ready_for_query(out, tx_status_); });
    auto release = ready_for_query(tx_status_);
    if (!release || *release) return release;
  }
  return false;
}

Result<bool> ClientSession::ready_for_query(char status) {
  auto now = Clock::now();
  auto& stats = membership_.pool->stats().slot(conn_.worker.index);
  if (outstanding_ > 0) --outstanding_;
  in_copy_ = false;
  pool::bump(stats.query_count, 1);
  if (query_start_ != Clock::time_point{}) {
    pool::bump(stats.query_time_us, micros(now - query_start_));
  }
  query_start_ = outstanding_ > 0 ? now : Clock::time_point{};
  if (outstanding_ > 0 || unsynced_) return false;
  if (status == 'I') {
    pool::bump(stats.xact_count, 1);
    pool::bump(stats.xact_time_us, micros(now - xact_start_));
    xact_start_ = now;
    return membership_.mode != config::PoolMode::kSession;
  }
  if (membership_.mode == config::PoolMode::kStatement) {
    return make_error("08P01", "transaction blocks not allowed in statement pooling mode");
  }
  return false;
}

bool ClientSession::server_busy() const {
  return server_ && (outstanding_ > 0 || answers_due());
}

bool ClientSession::answers_due() const {
  // Without the translator, extended messages after a Flush may still be
  // running; with it, it knows.
  return translator_ ? !translator_->idle() : unsynced_ && flushed_;
}

bool ClientSession::server_idle() const {
  return server_ && outstanding_ == 0 && !unsynced_ && tx_status_ == 'I' && !in_copy_ &&
         !server_closed_ && server_->in().empty() && !server_scan_.mid_message() &&
         (!translator_ || translator_->idle());
}

bool ClientSession::reset_due() const {
  return server_->needs_reset_query || server_->prepared.needs_reset ||
         (membership_.pool->reset_query_always() && membership_.mode != config::PoolMode::kSession);
}

asio::awaitable<Status> ClientSession::unlink_server() {
  // Settings are read (a copy under the pool lock) only when a reset runs,
  // not at every transaction end.
  bool reset = server_->needs_reset_query || (membership_.pool->reset_query_always() &&
                                              membership_.mode != config::PoolMode::kSession);
  server_->needs_reset_query = false;
  std::string query = reset ? membership_.pool->settings().server_reset_query : std::string();
  Status st = ok_status();
  if (!query.empty()) {
    st = co_await server_->run_query(query, membership_.pool->own_query_timeout());
    // DISCARD ALL (the default reset) also drops every prepared statement.
    if (st && prepared::drops_all_statements(query)) server_->prepared.all_deallocated();
  }
  // Statements Usher can no longer vouch for (see prepared::ServerState)
  // are dropped before another client gets the server.
  if (st && server_->prepared.needs_reset) {
    st = co_await server_->run_query("DEALLOCATE ALL", membership_.pool->own_query_timeout());
    if (st) server_->prepared.all_deallocated();
  }
  if (!st) {
    drop_server();
    co_return ok_status();  // the client's work is done; only the server is lost
  }
  release_server();
  co_return ok_status();
}

void ClientSession::release_server() {
  if (translator_) translator_->attach(nullptr);
  // A cancel on its way to this backend must not reach the next client's
  // query: such a server is closed instead of handed on.
  if (membership_.cancel_target->unlink()) {
    membership_.pool->discard(std::move(server_));
  } else {
    membership_.pool->release(std::move(server_));
  }
  conn_.phase = Phase::kIdle;
}

void ClientSession::drop_server() {
  if (!server_) return;
  if (translator_) translator_->attach(nullptr);
  membership_.cancel_target->unlink();
  membership_.pool->discard(std::move(server_));
  conn_.phase = Phase::kIdle;
  outstanding_ = 0;
  unsynced_ = false;
  in_copy_ = false;
  tx_status_ = 'I';
  query_start_ = {};
}

void ClientSession::cancel_server_query() {
  if (!server_busy() || server_closed_) return;
  BackendKey key{server_->endpoint, server_->backend_pid, server_->backend_secret};
  asio::co_spawn(conn_.worker.io, send_cancel(key, conn_.config->cancel_wait_timeout),
                 [](std::exception_ptr e, bool) {
                   if (e) spdlog::error("cancel request failed unexpectedly");
                 });
}

}  // namespace usher::session
