// The relay's loop and the client's side: reading and scanning what the
// client sends, taking a server for it, and writing it to the server
// (session/relay.h).
#include "session/relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "prepared/translator.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "session/statement_stage.h"

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

// A client idle this long gives its read buffer back.
constexpr auto kParkAfter = std::chrono::seconds(1);

// Client-side: Terminate is answered by Usher, not forwarded.
bool client_reads_whole(char type) {
  return type == protocol::PqMsg_Terminate;
}

}  // namespace

Relay::Relay(ClientConnection& conn, Membership& membership, Owner& owner)
    : c_(conn),
      m_(membership),
      owner_(owner),
      // Until start(): only Terminate is read whole.
      client_scan_(0x3fffffff, kMaxControlMessage, client_reads_whole),
      server_scan_(0x7fffffff, kMaxControlMessage, relay_reads_whole) {}

void Relay::start(size_t max_statements_per_server, std::unique_ptr<CacheTap> cache) {
  // PostgreSQL refuses frontend messages over 1 GB whatever we allow.
  const auto max_length = static_cast<uint32_t>(std::min(c_.config->max_packet_size, 0x3fffffff));
  tap_ = std::move(cache);
  if (max_statements_per_server > 0) {
    stage_ = std::make_unique<StatementStage>(m_.pool->statements(), max_statements_per_server,
                                              max_length);
    client_scan_ = stage_->client_scanner(max_length);
    server_scan_ = stage_->server_scanner();
  } else if (tap_) {
    // The tap reads requests as the translator frames them.
    client_scan_ = prepared::client_scanner(max_length);
  } else {
    client_scan_ = protocol::StreamScanner(max_length, kMaxControlMessage, client_reads_whole);
  }
  if (tap_) server_scan_ = CacheTap::server_scanner(stage_ != nullptr);
  c_.in.release_if_empty(false);  // an idle client holds no buffer
  parked_ = true;
}

asio::awaitable<Status> Relay::serve() {
  while (true) {
    if (c_.kill_reason) co_return *c_.kill_reason;
    Status st = ok_status();
    // Whether the client was owed nothing before what is scanned now: only
    // then may the cache answer it, or keep a copy of what the server says.
    const bool idle = owes_nothing();
    if (!stage_ || stage_->has_room()) st = scan_client();
    if (!st) co_return st;
    if (pending_ > 0 && tap_ && !co_await answer_from_cache(idle)) {
      co_return make_error(protocol::sqlstate::connection_failure, "client connection lost");
    }
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
        std::string replay = c_.params.replay_messages(server_->tracked());
        if (!replay.empty()) {
          st = co_await sync_server_params(replay);
          if (!st) co_return st;
        }
        m_.cancel_target->link(
            BackendKey{server_->endpoint, server_->backend_pid, server_->backend_secret});
      }
      build_to_server(idle);
      if (!to_server_.empty()) {
        net::WriteResult sent;
        if (!server_->stream().write_now(gather(to_server_), sent)) {
          sent = co_await server_->stream().write_rest(gather_, sent);
        }
        st = server_write_status(sent);
      }
      pool::bump(m_.pool->stats().slot(c_.worker.index).bytes_received, pending_);
      c_.in.consume(pending_);
      pending_ = 0;
      if (!st) co_return st;
    }
    if (terminate_) co_return ok_status();
    // Nothing to pass on until the server answers (or Usher's own answers are due).
    if (server_ && (!server_->in().empty() || (stage_ && stage_->answer_due()))) {
      st = co_await forward_to_client();
      if (!st) co_return st;
    }
    if (c_.closed && !client_reading_) co_return ok_status();
    if (server_ && server_closed_ && !server_reading_) {
      // Whatever the server said last (often a FATAL such as 57P01) has been
      // passed on; its transaction is gone, so the client must hear it.
      co_return make_error(protocol::sqlstate::connection_failure, "server conn crashed?");
    }
    // Messages scanned but not yet translated, now that there is room.
    if (client_backlog_ && stage_->has_room()) continue;
    start_reads();
    if (parked_ && client_reading_ && !server_) {
      suspended_ = true;  // see serve_and_finish()
      co_return ok_status();
    }
    co_await c_.wake.wait();
  }
}

void Relay::start_reads() {
  auto self = owner_.keep_alive();
  // TLS may hold what the client sent already decrypted: the socket will
  // not become readable for it, so read instead of parking.
  if (parked_ && c_.stream.has_buffered()) parked_ = false;
  if (!client_reading_ && !c_.closed && parked_) {
    // Idle: wait for readability without holding a buffer. Costs one
    // epoll_ctl when the client wakes up, which is why active clients use a
    // plain read instead.
    c_.in.release_if_empty(false);
    to_client_.release();
    to_server_.release();
    gather_ = {};
    if (stage_) stage_->release_memory();
    if (tap_) tap_->release_memory();
    client_reading_ = true;
    c_.stream.socket().async_wait(net::Socket::wait_read,
                                  [this, self](boost::system::error_code ec) {
                                    client_reading_ = false;
                                    parked_ = false;
                                    if (ec && ec != asio::error::operation_aborted)
                                      c_.closed = true;
                                    if (suspended_) {
                                      suspended_ = false;
                                      owner_.resume();
                                    } else {
                                      c_.wake.notify_from_handler();
                                    }
                                  });
  } else if (!client_reading_ && !c_.closed &&
             (c_.in.size() < kClientBufferLimit || pending_ == 0) &&
             (!stage_ || stage_->has_room())) {
    // With nothing scanned to forward, what is buffered is the start of a
    // message that must arrive whole (a large Parse or Bind): read on.
    if (!server_) c_.in.release_if_empty(true);
    auto space = c_.in.prepare(client_read_filled_ ? kReadChunk : 1);
    client_reading_ = true;
    c_.stream.async_read_some(
        asio::buffer(space.data(), space.size()),
        [this, self, size = space.size()](boost::system::error_code ec, size_t n) {
          client_reading_ = false;
          if (ec) {
            // operation_aborted is our own cancel when parking the client;
            // kill() marks the client closed itself.
            if (ec != asio::error::operation_aborted) {
              c_.closed = true;
              abandon_wait();  // gone while waiting: its query must never run
            }
          } else {
            parked_ = false;
            c_.in.commit(n);
            client_read_filled_ = n == size;
            c_.last_activity = Clock::now();
            // Waiting for a server: keep watching for the client leaving.
            if (c_.phase == Phase::kWaiting) start_reads();
          }
          c_.wake.notify_from_handler();
        });
  }
  if (server_ && !server_reading_ && !server_closed_ && server_->in().size() < kServerBufferLimit) {
    pool::ServerConnection* server = server_.get();
    auto space = server->in().prepare(server_read_filled_ ? 4 * kReadChunk : kReadChunk);
    server_reading_ = true;
    server->stream().async_read_some(asio::buffer(space.data(), space.size()),
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
                                       c_.wake.notify_from_handler();
                                     });
  }
}

Status Relay::scan_client() {
  auto data = c_.in.readable();
  int messages = 0;
  client_backlog_ = false;
  while (!terminate_) {
    if (stage_ && messages++ == kMaxMessagesPerPass) {
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
        if (piece.header.type == protocol::PqMsg_Terminate) {  // answered here, never forwarded
          terminate_ = true;
          return ok_status();
        }
        if (tap_) {
          tap_->client_message(piece.header.type, data.subspan(pending_, piece.size),
                               piece.kind == Kind::kWhole);
        }
        switch (piece.header.type) {
          case protocol::PqMsg_Query:
            // disable_pqexec: several statements in one simple Query are a
            // classic SQL injection vector; PgBouncer disconnects alike.
            if (c_.config->disable_pqexec)
              return make_error(protocol::sqlstate::protocol_violation, "PQexec disallowed");
            [[fallthrough]];
          case protocol::PqMsg_FunctionCall:
            ++outstanding_;
            break;
          case protocol::PqMsg_Sync:
            if (in_copy_) break;  // PostgreSQL ignores a Sync during COPY FROM STDIN
            ++outstanding_;
            unsynced_ = false;
            break;
          case protocol::PqMsg_Parse:
          case protocol::PqMsg_Bind:
          case protocol::PqMsg_Describe:
          case protocol::PqMsg_Execute:
          case protocol::PqMsg_Close:
            unsynced_ = true;
            flushed_ = false;
            break;
          case protocol::PqMsg_Flush:
            flushed_ = true;
            break;
          case protocol::PqMsg_CopyDone:  // or CopyFail: the COPY ends
          case protocol::PqMsg_CopyFail:
            in_copy_ = false;
            break;
          case protocol::PqMsg_CopyData:
            break;
          default:  // includes PasswordMessage: none after login
            return protocol::framing_error(piece.header.type, piece.header.length);
        }
        pending_ += piece.size;
        break;
    }
  }
  return ok_status();
}

void Relay::build_to_server(bool idle) {
  auto now = Clock::now();
  if (outstanding_ > 0 && query_start_ == Clock::time_point{}) query_start_ = now;
  to_server_.clear();
  auto data = c_.in.readable().first(pending_);
  if (!stage_) {
    to_server_.pass(data);
  } else {
    stage_->from_client(data, RelayState{tx_status_, in_copy_}, to_server_);
    forget_skipped_queries();
    flush_stage_stats();
  }
  // The tap's own query behind a commit: one more ReadyForQuery is due.
  if (tap_ &&
      tap_->batch_ready(idle, tx_status_, answered_ + uint64_t(outstanding_ - tap_->own_pending()),
                        to_server_))
    ++outstanding_;
}

bool Relay::owes_nothing() const {
  return outstanding_ == 0 && !unsynced_ && !in_copy_ && !client_backlog_ &&
         (!server_ || (server_->in().empty() && !server_scan_.mid_message())) &&
         (!stage_ || stage_->idle());
}

asio::awaitable<bool> Relay::answer_from_cache(bool idle) {
  to_client_.clear();
  auto answered =
      tap_->answer(c_.in.readable().first(pending_), idle, !server_, tx_status_, to_client_);
  if (answered.flight) {
    // Another client is getting this very result: wait for it rather than
    // run the query again, then look once more.
    co_await wait_for_fill(*answered.flight);
    answered =
        tap_->answer(c_.in.readable().first(pending_), idle, !server_, tx_status_, to_client_);
  }
  if (answered.queries == 0) co_return true;
  if (stage_) stage_->answered_elsewhere(c_.in.readable().first(answered.bytes));
  net::WriteResult sent;
  if (!c_.stream.write_now(gather(to_client_), sent)) {
    sent = co_await c_.stream.write_rest(gather_, sent);
  }
  to_client_.clear();
  auto& stats = m_.pool->stats().slot(c_.worker.index);
  pool::bump(stats.bytes_received, answered.bytes);
  pool::bump(stats.bytes_sent, sent.written);
  pool::bump(stats.query_count, answered.queries);
  pool::bump(stats.xact_count, answered.queries);
  c_.in.consume(answered.bytes);
  pending_ -= answered.bytes;
  outstanding_ -= answered.queries;
  answered_ += uint64_t(answered.queries);
  if (sent.ec) c_.closed = true;
  co_return !sent.ec;
}

void Relay::forget_skipped_queries() {
  // PostgreSQL ignored them while skipping to Sync: no ReadyForQuery comes.
  int n = std::min(static_cast<int>(stage_->take_skipped_queries()), outstanding_);
  outstanding_ -= n;
  answered_ += uint64_t(n);
}

void Relay::flush_stage_stats() {
  stage_->flush_stats(m_.pool->stats().slot(c_.worker.index));
}

bool Relay::link_idle_server() {
  pool::ServerPtr server = m_.pool->try_take_idle(c_.worker.index);
  if (!server) return false;
  attach_server(std::move(server), Clock::duration::zero());
  return true;
}

asio::awaitable<Status> Relay::link_server() {
  c_.phase = Phase::kWaiting;
  wait_start_ = Clock::now();
  wait_notified_ = false;
  // A client that leaves while it waits gives up its place (start_reads()
  // watches the socket meanwhile): what it sent is never run.
  start_reads();
  m_.pool->waiting_clients.fetch_add(1, std::memory_order_relaxed);
  auto server = co_await m_.pool->acquire(c_.worker.index, c_.worker.io, &wait_ticket_);
  m_.pool->waiting_clients.fetch_sub(1, std::memory_order_relaxed);
  wait_ticket_ = 0;
  if (c_.kill_reason || c_.closed) {
    if (server) m_.pool->release(std::move(*server));
    if (c_.kill_reason) co_return *c_.kill_reason;
    co_return make_error(protocol::sqlstate::connection_failure, "client connection lost");
  }
  if (!wait_notice_.empty()) {
    // The rest of query_wait_notify's notice, before anything else.
    Status st = co_await c_.send(wait_notice_);
    wait_notice_.clear();
    if (!st) {
      if (server) m_.pool->release(std::move(*server));
      co_return st;
    }
  }
  if (!server) co_return server.take_error();
  attach_server(std::move(*server), Clock::now() - wait_start_);
  co_return ok_status();
}

void Relay::abandon_wait() {
  if (c_.phase != Phase::kWaiting || wait_ticket_ == 0) return;
  m_.pool->abandon(c_.worker.index, wait_ticket_);
  wait_ticket_ = 0;
}

void Relay::attach_server(pool::ServerPtr server, Clock::duration waited) {
  server_ = std::move(server);
  auto now = Clock::now();
  auto& stats = m_.pool->stats().slot(c_.worker.index);
  const uint64_t waited_us = micros(waited);
  pool::bump(stats.wait_time_us, waited_us);
  stats.wait_latency.record(waited_us);
  pool::bump(stats.server_assignments, 1);
  c_.phase = Phase::kActive;
  xact_start_ = now;
  server_->link_time = now;
  server_scan_.reset();
  server_msg_forwarded_ = true;
  if (stage_) stage_->attach(server_.get());
  server_closed_ = false;
  server_read_filled_ = false;
  tx_status_ = protocol::kTransactionIdle;
}

asio::awaitable<Status> Relay::sync_server_params(const std::string& messages) {
  bool answered = false;
  Status st = co_await server_->run(messages, m_.pool->own_query_timeout(), &answered);
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
  held.replayed(c_.params);
  // Adopt the server's spelling ("UTC" for "utc") so we do not SET again.
  for (int i = 0; i < int(c_.params.size()); ++i) {
    if (!c_.params.has(i)) continue;
    const int s = held.index_of(c_.params.name(i));
    if (s >= 0 && held.has(s)) c_.params.set(c_.params.name(i), held.get(s));
  }
  co_return ok_status();
}

void Relay::notify_queued() {
  // PgBouncer 1.25's notice, once per wait. Nothing else writes to the
  // client while it waits; what the socket does not take at once is sent
  // by link_server() before anything else.
  wait_notified_ = true;
  protocol::write_notice_response(
      wait_notice_, protocol::sqlstate::successful_completion,
      "No server connection available in postgres backend, client being queued");
  net::WriteResult sent;
  const asio::const_buffer buffer(wait_notice_.data(), wait_notice_.size());
  c_.stream.write_now(std::span(&buffer, 1), sent);
  wait_notice_.erase(0, sent.ec ? wait_notice_.size() : sent.written);
}

Status Relay::server_write_status(const net::WriteResult& sent) {
  if (!sent.ec) return ok_status();
  server_closed_ = true;
  return make_error(protocol::sqlstate::connection_failure, "server conn crashed?");
}

asio::awaitable<void> Relay::wait_for_fill(cache::Flight& flight) {
  // The flight may land on another worker's thread: the wake-up is posted
  // here, and finds the wait over (and the timer gone) when it timed out.
  struct Wait {
    explicit Wait(asio::io_context& io) : timer(io, cache::kFlightWait) {}
    asio::steady_timer timer;
    bool landed = false;
  };
  auto wait = std::make_shared<Wait>(c_.worker.io);
  std::weak_ptr<Wait> weak = wait;
  auto wake = [&io = c_.worker.io, weak] {
    asio::post(io, [weak] {
      if (auto w = weak.lock()) {
        w->landed = true;
        w->timer.cancel();
      }
    });
  };
  if (!flight.on_landed(std::move(wake))) co_return;
  if (!wait->landed) co_await wait->timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

const std::vector<asio::const_buffer>& Relay::gather(const protocol::Outbox& out) {
  gather_.clear();
  out.for_each_run([&](const void* data, size_t size) { gather_.emplace_back(data, size); });
  return gather_;
}

asio::awaitable<Status> Relay::send_to_server() {
  if (to_server_.empty()) co_return ok_status();
  net::WriteResult sent;
  if (!server_->stream().write_now(gather(to_server_), sent)) {
    sent = co_await server_->stream().write_rest(gather_, sent);
  }
  co_return server_write_status(sent);
}

std::optional<Error> Relay::check_timeouts(Clock::time_point now, const ClientLimits& limits) {
  auto over = [&](Clock::time_point since, std::chrono::milliseconds limit) {
    return limit.count() > 0 && since != Clock::time_point{} && now - since >= limit;
  };
  switch (c_.phase) {
    case Phase::kIdle:
      if (over(c_.last_activity, limits.client_idle_timeout)) {
        return make_error(protocol::sqlstate::idle_session_timeout, "client_idle_timeout");
      }
      if (!parked_ && client_reading_ && c_.in.empty() && now - c_.last_activity >= kParkAfter) {
        // Swap the pending read for a buffer-free readiness wait (see
        // start_reads); the cancelled read completes with operation_aborted.
        parked_ = true;
        boost::system::error_code ec;
        c_.stream.socket().cancel(ec);
      }
      break;
    case Phase::kActive:
      // A query (or extended messages after a Flush) running too long.
      if ((outstanding_ > 0 || answers_due()) &&
          over(outstanding_ > 0 ? query_start_ : c_.last_activity, limits.query_timeout)) {
        return make_error(protocol::sqlstate::query_canceled, "query timeout");
      }
      if (waiting_for_client() && over(c_.last_activity, limits.idle_transaction_timeout)) {
        return make_error(protocol::sqlstate::idle_in_transaction_session_timeout,
                          "idle transaction timeout");
      }
      if (tx_status_ != protocol::kTransactionIdle &&
          over(xact_start_, limits.transaction_timeout)) {
        return make_error(protocol::sqlstate::transaction_timeout, "transaction timeout");
      }
      break;
    case Phase::kWaiting:
      if (!wait_notified_ && over(wait_start_, limits.query_wait_notify)) notify_queued();
      break;
    default:
      break;
  }
  return std::nullopt;
}

bool Relay::waiting_for_client() const {
  // The server is held and owes nothing: a transaction left open, half a
  // message, or extended-protocol messages with no Sync yet (PostgreSQL
  // holds their answers until a Sync or Flush).
  return outstanding_ == 0 &&
         (tx_status_ != protocol::kTransactionIdle || client_scan_.mid_message() ||
          (unsynced_ && (!flushed_ || !answers_due())));
}

void Relay::on_kill() {
  abandon_wait();
  // The backend's query would otherwise run on after its client is gone.
  cancel_server_query();
  if (server_) {
    // Its transaction cannot be finished for a client that is gone.
    boost::system::error_code ec;
    server_->socket().cancel(ec);
    server_closed_ = true;
  }
}

}  // namespace usher::session
