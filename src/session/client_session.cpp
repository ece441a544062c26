#include "session/client_session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>

#include "common/socket_id.h"
#include "protocol/writer.h"
#include "session/login.h"

namespace usher::session {

namespace {

// Server-side messages we must see whole: ReadyForQuery decides when the
// server can go back to the pool, ParameterStatus updates tracked settings.
bool server_wants_whole(char type) {
  return type == 'Z' || type == 'S';
}

// With prepared statements tracked, also what the translator reads.
bool tracking_server_wants_whole(char type) {
  return server_wants_whole(type) || prepared::server_wants_whole(type);
}

// Errors longer than this stream through without being looked into.
bool is_error(char type) {
  return type == 'E';
}

// Client-side: Terminate is answered by Usher, not forwarded.
bool client_wants_whole(char type) {
  return type == 'X';
}

// A client idle this long gives its read buffer back.
constexpr auto kParkAfter = std::chrono::seconds(1);

double seconds_since(Clock::time_point then, Clock::time_point now) {
  if (then == Clock::time_point{}) return 0;
  return std::chrono::duration<double>(now - then).count();
}

}  // namespace

ClientSession::ClientSession(SessionContext& ctx, Worker& worker, net::Socket socket)
    : conn_(ctx, worker, std::move(socket)),
      membership_(ctx),
      // PostgreSQL refuses frontend messages over 1 GB whatever we allow.
      max_packet_(static_cast<uint32_t>(std::min(conn_.config->max_packet_size, 0x3fffffff))),
      client_scan_(max_packet_, kMaxControlMessage, client_wants_whole),
      server_scan_(0x7fffffff, kMaxControlMessage, server_wants_whole) {
  conn_.ctx.client_count().fetch_add(1);
  conn_.worker.clients.fetch_add(1);
}

ClientSession::~ClientSession() {
  conn_.ctx.client_count().fetch_sub(1);
  conn_.worker.clients.fetch_sub(1);
}

void ClientSession::start(SessionContext& ctx, Worker& worker, net::Socket socket) {
  auto session = std::make_shared<ClientSession>(ctx, worker, std::move(socket));
  worker.sessions.push_back(session);
  session->registry_it_ = std::prev(worker.sessions.end());
  session->spawn(session->run());
}

void ClientSession::spawn(asio::awaitable<void> coroutine) {
  asio::co_spawn(conn_.worker.io, std::move(coroutine),
                 [self = shared_from_this()](std::exception_ptr e) {
                   // A suspended session lives on in its parked wait; it leaves the
                   // worker's list only when it is done.
                   if (e || !self->suspended_)
                     self->conn_.worker.sessions.erase(self->registry_it_);
                   if (!e) return;
                   // A bug, not bad input: bad input is handled as values. Log it loudly;
                   // the other clients carry on.
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     spdlog::critical("client session failed: {}", ex.what());
                   }
                 });
}

asio::awaitable<void> ClientSession::serve_and_finish() {
  Status st = co_await serve();
  if (suspended_) co_return;  // parked: the wait's handler spawns us again
  co_await finish(st);
}

asio::awaitable<void> ClientSession::run() {
  auto self = shared_from_this();
  net::tune_socket(conn_.socket, config::tcp_options(*conn_.config));
  // A coroutine of its own, so its locals are freed once the client is in.
  auto login = co_await log_in();
  if (!login) {
    co_await finish(login.error());
    co_return;
  }
  if (!*login) co_return;  // a CancelRequest: nothing more to say
  if (conn_.config->log_connections) {
    spdlog::info("C-{}: {}/{}@{}:{} login attempt: db={} user={}", static_cast<const void*>(&conn_),
                 conn_.database, conn_.user, conn_.addr, conn_.port, conn_.database, conn_.user);
  }
  if (conn_.admin) {
    conn_.phase = Phase::kAdmin;
    co_await finish(co_await conn_.ctx.serve_console(conn_));
    co_return;
  }
  conn_.phase = Phase::kIdle;
  conn_.in.release_if_empty(false);  // an idle client holds no buffer
  parked_ = true;
  co_await serve_and_finish();
}

asio::awaitable<Result<bool>> ClientSession::log_in() {
  // client_login_timeout: closing the socket fails whatever is pending.
  asio::steady_timer login_timer(conn_.worker.io);
  if (conn_.config->client_login_timeout.count() > 0) {
    login_timer.expires_after(conn_.config->client_login_timeout);
    login_timer.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && conn_.phase == Phase::kLogin) kill(make_error("08P01", "client_login_timeout"));
    });
  }
  Login login(conn_, membership_);
  auto started = co_await login.startup();
  if (!started || !*started) co_return started;
  // Checked once the client has said who it is, so a client trying SSL first
  // gets a plain error; the admin console is exempt so an operator can get
  // in when clients exhaust the limit, as in PgBouncer.
  if (conn_.database != "pgbouncer" &&
      conn_.ctx.client_count().load() > conn_.config->max_client_conn) {
    co_return make_error("53300", "no more connections allowed (max_client_conn)");
  }
  Status st = co_await login.authenticate();
  if (st && !conn_.admin) st = co_await login.join_pool();
  if (!st) co_return st.take_error();
  if (membership_.max_statements_per_server > 0) {
    enable_statement_tracking(membership_.max_statements_per_server);
  }
  co_return true;
}

// Ends the session: the server goes back to its pool when it is clean, the
// client gets the error if there was one, and both sockets close.
asio::awaitable<void> ClientSession::finish(const Status& status) {
  if (server_ && server_reading_) co_await stop_server_read();
  if (server_) {
    if (server_idle()) {
      if (membership_.mode == config::PoolMode::kSession) server_->needs_reset_query = true;
      auto st = co_await unlink_server();
      (void)st;
    } else {
      cancel_server_query();  // the client left mid-query
      drop_server();
    }
  }
  const Error* error =
      conn_.kill_reason ? &*conn_.kill_reason : (status ? nullptr : &status.error());
  if (error && !conn_.closed && conn_.socket.is_open()) {
    std::string out;
    protocol::write_error_response(out, "FATAL", error->sqlstate, error->message);
    co_await net::write_all(conn_.socket, out);
  }
  if (error && conn_.config->log_pooler_errors && !error->sqlstate.empty()) {
    spdlog::warn("C-{}: {}/{}@{}:{} closing because: {}", static_cast<const void*>(&conn_),
                 conn_.database, conn_.user, conn_.addr, conn_.port, error->message);
  }
  if (conn_.config->log_disconnections && conn_.phase != Phase::kLogin) {
    spdlog::info("C-{}: {}/{}@{}:{} closing because: client close request (age={}s)",
                 static_cast<const void*>(&conn_), conn_.database, conn_.user, conn_.addr,
                 conn_.port, static_cast<int>(seconds_since(conn_.connect_time, Clock::now())));
  }
  boost::system::error_code ec;
  conn_.socket.shutdown(net::Socket::shutdown_both, ec);
  conn_.socket.close(ec);
  // Outstanding reads complete with operation_aborted; wait for them so no
  // handler outlives what it touches.
  while (client_reading_ || server_reading_)
    co_await conn_.wake.wait();
}

void ClientSession::enable_statement_tracking(size_t max_per_server) {
  static std::atomic<uint64_t> next_id{1};
  translator_ = std::make_unique<prepared::Translator>(
      membership_.pool->statements(), max_per_server,
      next_id.fetch_add(1, std::memory_order_relaxed), max_packet_);
  // Framed as the translator frames them: what it reads arrives whole.
  client_scan_ = prepared::client_scanner(max_packet_);
  server_scan_ =
      protocol::StreamScanner(0x7fffffff, kMaxControlMessage, tracking_server_wants_whole, is_error,
                              prepared::kServerErrorWhole);
}

void ClientSession::kill(const Error& reason) {
  if (conn_.kill_reason) return;
  conn_.kill_reason = std::make_unique<Error>(reason);
  abandon_wait();
  // The backend's query would otherwise run on after its client is gone.
  cancel_server_query();
  // Best effort and non-blocking: the client may not be reading.
  std::string out;
  protocol::write_error_response(out, "FATAL", reason.sqlstate, reason.message);
  ::send(conn_.socket.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  conn_.closed = true;  // nothing more to say to it
  boost::system::error_code ec;
  conn_.socket.shutdown(net::Socket::shutdown_both, ec);
  conn_.socket.cancel(ec);
  if (server_) {
    // Its transaction cannot be finished for a client that is gone.
    server_->socket().cancel(ec);
    server_closed_ = true;
  }
  conn_.wake.notify();
}

void ClientSession::check_timeouts(Clock::time_point now, const config::Config& c) {
  auto over = [&](Clock::time_point since, std::chrono::milliseconds limit) {
    return limit.count() > 0 && since != Clock::time_point{} && now - since >= limit;
  };
  // A [users] entry overrides the global value for that user's clients.
  const config::UserConfig* user = nullptr;
  if (!c.users.empty()) {
    if (auto it = c.users.find(conn_.user); it != c.users.end()) user = &it->second;
  }
  auto limit = [&](std::optional<config::Duration> config::UserSettings::*own,
                   config::Duration global) { return user && user->*own ? *(user->*own) : global; };
  switch (conn_.phase) {
    case Phase::kIdle:
      if (over(conn_.last_activity,
               limit(&config::UserSettings::client_idle_timeout, c.client_idle_timeout))) {
        kill(make_error("57P05", "client_idle_timeout"));
      } else if (!parked_ && client_reading_ && conn_.in.empty() &&
                 now - conn_.last_activity >= kParkAfter) {
        // Swap the pending read for a buffer-free readiness wait (see
        // start_reads); the cancelled read completes with operation_aborted.
        parked_ = true;
        boost::system::error_code ec;
        conn_.socket.cancel(ec);
      }
      break;
    case Phase::kActive:
      // A query (or extended messages after a Flush) running too long.
      if ((outstanding_ > 0 || answers_due()) &&
          over(outstanding_ > 0 ? query_start_ : conn_.last_activity,
               limit(&config::UserSettings::query_timeout, c.query_timeout))) {
        kill(make_error("57014", "query timeout"));
      } else if (waiting_for_client() &&
                 over(conn_.last_activity, limit(&config::UserSettings::idle_transaction_timeout,
                                                 c.idle_transaction_timeout))) {
        kill(make_error("25P03", "idle transaction timeout"));
      } else if (tx_status_ != 'I' &&
                 over(xact_start_,
                      limit(&config::UserSettings::transaction_timeout, c.transaction_timeout))) {
        kill(make_error("25P04", "transaction timeout"));
      }
      break;
    case Phase::kWaiting:
      if (!wait_notified_ && over(wait_start_, c.query_wait_notify)) notify_queued();
      break;
    default:
      break;
  }
}

void ClientSession::notify_queued() {
  // PgBouncer 1.25's notice, once per wait. Nothing else writes to the
  // client while it waits; what the socket does not take at once is sent
  // by link_server() before anything else.
  wait_notified_ = true;
  protocol::write_notice_response(
      wait_notice_, "00000",
      "No server connection available in postgres backend, client being queued");
  net::WriteResult sent;
  const asio::const_buffer buffer(wait_notice_.data(), wait_notice_.size());
  net::write_now(conn_.socket, std::span(&buffer, 1), sent);
  wait_notice_.erase(0, sent.ec ? wait_notice_.size() : sent.written);
}

bool ClientSession::waiting_for_client() const {
  // The server is held and owes nothing: a transaction left open, half a
  // message, or extended-protocol messages with no Sync yet (PostgreSQL
  // holds their answers until a Sync or Flush).
  return outstanding_ == 0 && (tx_status_ != 'I' || client_scan_.mid_message() ||
                               (unsynced_ && (!flushed_ || !answers_due())));
}

ClientInfo ClientSession::info(Clock::time_point now) const {
  ClientInfo i;
  i.user = conn_.user;
  i.database = conn_.database;
  static constexpr const char* kStateNames[] = {"login", "idle", "waiting", "active", "active"};
  i.state = kStateNames[static_cast<int>(conn_.phase)];
  i.addr = conn_.addr;
  i.port = conn_.port;
  int app = protocol::TrackedParams::kApplicationName;
  i.application_name = conn_.params.has(app) ? conn_.params.get(app) : "";
  i.connect_time = seconds_since(conn_.connect_time, now);
  i.request_time = seconds_since(conn_.last_activity, now);
  i.wait_seconds = conn_.phase == Phase::kWaiting ? seconds_since(wait_start_, now) : 0;
  i.pid = membership_.cancel_key.pid;
  i.ptr = this;
  i.id = conn_.id;
  if (translator_) i.prepared_statements = translator_->statement_count();
  if (server_) {
    i.has_server = true;
    i.server_id = server_->id();
    i.server_addr = server_->remote_addr;
    i.server_port = server_->remote_port;
    i.server_pid = server_->backend_pid;
    i.server_connect_time = seconds_since(server_->created_at, now);
    i.server_prepared_statements = server_->prepared.statements.size();
    i.server_close_needed =
        membership_.pool && server_->generation != membership_.pool->generation();
  }
  return i;
}

}  // namespace usher::session
