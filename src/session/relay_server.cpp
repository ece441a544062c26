// The relay's server side: passing what the server says on to the client
// (through the stage), noticing when its transaction ends, and giving the
// server back to the pool, reset, or closing it (session/relay.h).
#include <spdlog/spdlog.h>

#include "prepared/sql_command.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/tracked_params.h"
#include "protocol/writer.h"
#include "session/client_session.h"
#include "session/relay.h"

namespace usher::session {

asio::awaitable<void> Relay::stop_server_read() {
  boost::system::error_code ec;
  server_->socket().cancel(ec);
  while (server_reading_)
    co_await c_.wake.wait();
  c_.wake.notify();  // the wait may have taken a client read's wake-up
}

asio::awaitable<Status> Relay::forward_to_client() {
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
    if (stage_ && stage_->resend_due()) {
      to_server_.clear();
      stage_->write_resend(to_server_);
      flush_stage_stats();
      Status st = co_await send_to_server();
      if (!st) co_return st;
    }
    if (!to_client_.empty()) {
      net::WriteResult sent;
      if (!c_.stream.write_now(gather(to_client_), sent)) {
        sent = co_await c_.stream.write_rest(gather_, sent);
      }
      pool::bump(m_.pool->stats().slot(c_.worker.index).bytes_sent, sent.written);
      if (sent.ec) {
        buf.consume(scanned);
        c_.closed = true;
        co_return make_error(protocol::sqlstate::connection_failure, "client connection lost");
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

Result<bool> Relay::relay_from_server(size_t& pos) {
  auto data = server_->in().readable();
  // Answers Usher made up are due before the server's next message.
  Result<bool> release = false;
  if (stage_) release = emit_stage_answers();
  using Kind = protocol::StreamScanner::Kind;
  while (release && !*release) {
    auto piece = server_scan_.next(data.subspan(pos));
    if (piece.kind == Kind::kNeedMore) break;
    if (piece.kind == Kind::kInvalid)
      return make_error(protocol::sqlstate::protocol_violation, "server sent an invalid message");
    auto bytes = data.subspan(pos, piece.size);
    pos += piece.size;
    if (piece.kind == Kind::kBody) {
      if (server_msg_forwarded_) to_client_.pass(bytes);
      continue;
    }
    char type = piece.header.type;
    server_msg_forwarded_ = true;
    if (tap_) {
      // The tap's own position query is answered after all the client's
      // requests; its messages go to neither the stage nor the client.
      auto verdict = tap_->from_server(type, bytes, piece.kind == Kind::kWhole, answered_);
      if (verdict == CacheTap::Verdict::kSwallow) {
        server_msg_forwarded_ = false;
        continue;
      }
      if (verdict == CacheTap::Verdict::kOwnReady) {
        server_msg_forwarded_ = false;
        tx_status_ =
            piece.body.empty() ? protocol::kTransactionIdle : static_cast<char>(piece.body[0]);
        release = ready_for_query(tx_status_, true);
        continue;
      }
    }
    if (stage_) {
      server_msg_forwarded_ =
          stage_->from_server(type, bytes, piece.kind == Kind::kWhole, to_client_);
      if (type == protocol::PqMsg_ErrorResponse) forget_skipped_queries();
    }
    if (server_msg_forwarded_) to_client_.pass(bytes);
    switch (type) {
      case protocol::PqMsg_CopyInResponse:  // the client now sends CopyData
        in_copy_ = true;
        break;
      case protocol::PqMsg_CommandComplete:
        in_copy_ = false;
        if (piece.kind == Kind::kWhole &&
            protocol::may_change_settings(protocol::as_chars(piece.body)))
          server_->tracked().forget_unreported();
        break;
      case protocol::PqMsg_ErrorResponse:
        in_copy_ = false;
        break;
      case protocol::PqMsg_ReadyForQuery:
        if (piece.kind != Kind::kWhole) break;
        tx_status_ =
            piece.body.empty() ? protocol::kTransactionIdle : static_cast<char>(piece.body[0]);
        // Usher's own Sync is not one the client is waiting for.
        if (server_msg_forwarded_) {
          if (tap_) tap_->client_ready(tx_status_, outstanding_ - tap_->own_pending());
          release = ready_for_query(tx_status_);
        }
        break;
      case protocol::PqMsg_ParameterStatus:
        if (piece.kind != Kind::kWhole) break;
        if (auto ps = protocol::parse_parameter_status(piece.body)) {
          server_->set_parameter(ps->name, ps->value);
          if (!protocol::never_tracked(ps->name)) c_.params.set(ps->name, ps->value);
        }
        break;
      default:
        break;
    }
    if (stage_ && stage_->answer_due() && release && !*release) release = emit_stage_answers();
  }
  return release;
}

Result<bool> Relay::emit_stage_answers() {
  while (stage_->answer_due()) {
    if (!stage_->take_answer(to_client_)) continue;
    // It answered a whole Query: its ReadyForQuery, with the status of the moment.
    to_client_.write_own(
        [&](std::string& out) { protocol::write_ready_for_query(out, tx_status_); });
    if (tap_) tap_->client_ready(tx_status_, outstanding_ - tap_->own_pending());
    auto release = ready_for_query(tx_status_);
    if (!release || *release) return release;
  }
  return false;
}

Result<bool> Relay::ready_for_query(char status, bool own) {
  auto now = Clock::now();
  auto& stats = m_.pool->stats().slot(c_.worker.index);
  if (outstanding_ > 0) --outstanding_;
  in_copy_ = false;
  if (!own) {
    ++answered_;
    pool::bump(stats.query_count, 1);
    if (query_start_ != Clock::time_point{}) {
      const uint64_t us = micros(now - query_start_);
      pool::bump(stats.query_time_us, us);
      stats.query_latency.record(us);
    }
    query_start_ = outstanding_ > 0 ? now : Clock::time_point{};
  }
  if (outstanding_ > 0 || unsynced_) return false;
  if (status == protocol::kTransactionIdle) {
    pool::bump(stats.xact_count, 1);
    const uint64_t us = micros(now - xact_start_);
    pool::bump(stats.xact_time_us, us);
    stats.xact_latency.record(us);
    xact_start_ = now;
    return m_.mode != config::PoolMode::kSession;
  }
  if (m_.mode == config::PoolMode::kStatement) {
    return make_error(protocol::sqlstate::protocol_violation,
                      "transaction blocks not allowed in statement pooling mode");
  }
  return false;
}

bool Relay::server_busy() const {
  return server_ && (outstanding_ > 0 || answers_due());
}

bool Relay::answers_due() const {
  // Without the translator, extended messages after a Flush may still be
  // running; with it, it knows.
  return stage_ ? !stage_->idle() : unsynced_ && flushed_;
}

bool Relay::server_idle() const {
  return server_ && outstanding_ == 0 && !unsynced_ && tx_status_ == protocol::kTransactionIdle &&
         !in_copy_ && !server_closed_ && server_->in().empty() && !server_scan_.mid_message() &&
         (!stage_ || stage_->idle());
}

bool Relay::reset_due() const {
  return server_->needs_reset_query || server_->prepared.needs_reset ||
         (m_.pool->reset_query_always() && m_.mode != config::PoolMode::kSession);
}

asio::awaitable<Status> Relay::unlink_server() {
  // Settings are read (a copy under the pool lock) only when a reset runs,
  // not at every transaction end.
  bool reset = server_->needs_reset_query ||
               (m_.pool->reset_query_always() && m_.mode != config::PoolMode::kSession);
  server_->needs_reset_query = false;
  std::string query = reset ? m_.pool->settings().server_reset_query : std::string();
  Status st = ok_status();
  if (!query.empty()) {
    st = co_await server_->run_query(query, m_.pool->own_query_timeout());
    // DISCARD ALL (the default reset) also drops every prepared statement.
    if (st && prepared::drops_all_statements(query)) server_->prepared.all_deallocated();
  }
  // Statements Usher can no longer vouch for (see prepared::ServerState)
  // are dropped before another client gets the server.
  if (st && server_->prepared.needs_reset) {
    st = co_await server_->run_query("DEALLOCATE ALL", m_.pool->own_query_timeout());
    if (st) server_->prepared.all_deallocated();
  }
  if (!st) {
    drop_server();
    co_return ok_status();  // the client's work is done; only the server is lost
  }
  release_server();
  co_return ok_status();
}

void Relay::release_server() {
  if (stage_) stage_->attach(nullptr);
  // A cancel on its way to this backend must not reach the next client's
  // query: such a server is closed instead of handed on.
  if (m_.cancel_target->unlink()) {
    m_.pool->discard(std::move(server_));
  } else {
    m_.pool->release(std::move(server_));
  }
  c_.phase = Phase::kIdle;
}

void Relay::drop_server() {
  if (!server_) return;
  if (stage_) stage_->attach(nullptr);
  if (tap_) tap_->detach();
  m_.cancel_target->unlink();
  m_.pool->discard(std::move(server_));
  c_.phase = Phase::kIdle;
  answered_ += uint64_t(outstanding_);
  outstanding_ = 0;
  unsynced_ = false;
  in_copy_ = false;
  tx_status_ = protocol::kTransactionIdle;
  query_start_ = {};
}

void Relay::cancel_server_query() {
  if (!server_busy() || server_closed_) return;
  BackendKey key{server_->endpoint, server_->backend_pid, server_->backend_secret};
  asio::co_spawn(c_.worker.io, send_cancel(key, c_.config->cancel_wait_timeout),
                 [](std::exception_ptr e, bool) {
                   if (e) spdlog::error("cancel request failed unexpectedly");
                 });
}

asio::awaitable<void> Relay::finish_server() {
  if (server_ && server_reading_) co_await stop_server_read();
  if (!server_) co_return;
  if (server_idle()) {
    if (m_.mode == config::PoolMode::kSession) server_->needs_reset_query = true;
    auto st = co_await unlink_server();
    (void)st;
  } else {
    cancel_server_query();  // the client left mid-query
    drop_server();
  }
}

asio::awaitable<void> Relay::wait_reads() {
  // Outstanding reads complete with operation_aborted; wait for them so no
  // handler outlives what it touches.
  while (client_reading_ || server_reading_)
    co_await c_.wake.wait();
}

void Relay::fill_info(ClientInfo& i, Clock::time_point now) const {
  i.wait_seconds = c_.phase == Phase::kWaiting ? seconds_since(wait_start_, now) : 0;
  if (stage_) i.prepared_statements = stage_->statement_count();
  if (!server_) return;
  i.has_server = true;
  i.server_id = server_->id();
  i.server_addr = server_->remote_addr;
  i.server_port = server_->remote_port;
  i.server_tls = server_->tls_info;
  i.server_pid = server_->backend_pid;
  i.server_connect_time = seconds_since(server_->created_at, now);
  i.server_prepared_statements = server_->prepared.statements.size();
  i.server_close_needed = m_.pool && server_->generation != m_.pool->generation();
}

}  // namespace usher::session
