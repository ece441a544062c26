#include "session/client_session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>

#include "common/socket_id.h"
#include "protocol/writer.h"

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
    : ctx_(ctx),
      worker_(worker),
      id_(next_socket_id()),
      socket_(std::move(socket)),
      wake_(worker.io),
      config_(ctx.config()),
      // PostgreSQL refuses frontend messages over 1 GB whatever we allow.
      max_packet_(static_cast<uint32_t>(std::min(config_->max_packet_size, 0x3fffffff))),
      client_scan_(max_packet_, kMaxControlMessage, client_wants_whole),
      server_scan_(0x7fffffff, kMaxControlMessage, server_wants_whole) {
  addr_ = net::peer_name(socket_);
  port_ = net::peer_port(socket_);
  ctx_.client_count().fetch_add(1);
  worker_.clients.fetch_add(1);
}

ClientSession::~ClientSession() {
  ctx_.client_count().fetch_sub(1);
  worker_.clients.fetch_sub(1);
  if (cancel_key_.pid != 0) ctx_.cancels().remove(cancel_key_);
  if (counted_in_pool_) pool_->clients.fetch_sub(1);
  if (db_clients_) db_clients_->give_back();
  if (user_clients_) user_clients_->give_back();
}

void ClientSession::start(SessionContext& ctx, Worker& worker, net::Socket socket) {
  auto session = std::make_shared<ClientSession>(ctx, worker, std::move(socket));
  worker.sessions.push_back(session);
  session->registry_it_ = std::prev(worker.sessions.end());
  session->spawn(session->run());
}

void ClientSession::spawn(asio::awaitable<void> coroutine) {
  asio::co_spawn(worker_.io, std::move(coroutine),
                 [self = shared_from_this()](std::exception_ptr e) {
                   // A suspended session lives on in its parked wait; it leaves the
                   // worker's list only when it is done.
                   if (e || !self->suspended_) self->worker_.sessions.erase(self->registry_it_);
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

asio::awaitable<Status> ClientSession::send(std::string_view bytes) {
  co_return co_await net::write_all(socket_, bytes);
}

asio::awaitable<void> ClientSession::run() {
  auto self = shared_from_this();
  net::tune_socket(socket_, config::tcp_options(*config_));
  // A coroutine of its own, so its locals are freed once the client is in.
  auto login = co_await log_in();
  if (!login) {
    co_await finish(login.error());
    co_return;
  }
  if (!*login) co_return;  // a CancelRequest: nothing more to say
  if (config_->log_connections) {
    spdlog::info("C-{}: {}/{}@{}:{} login attempt: db={} user={}", static_cast<void*>(this),
                 database_, user_, addr_, port_, database_, user_);
  }
  if (admin_) {
    phase_ = Phase::kAdmin;
    co_await finish(co_await ctx_.serve_console(*this));
    co_return;
  }
  phase_ = Phase::kIdle;
  in_.release_if_empty(false);  // an idle client holds no buffer
  parked_ = true;
  co_await serve_and_finish();
}

asio::awaitable<Result<bool>> ClientSession::log_in() {
  // client_login_timeout: closing the socket fails whatever is pending.
  asio::steady_timer login_timer(worker_.io);
  if (config_->client_login_timeout.count() > 0) {
    login_timer.expires_after(config_->client_login_timeout);
    login_timer.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && phase_ == Phase::kLogin) kill(make_error("08P01", "client_login_timeout"));
    });
  }
  auto started = co_await startup();
  if (!started || !*started) co_return started;
  // Checked once the client has said who it is, so a client trying SSL first
  // gets a plain error; the admin console is exempt so an operator can get
  // in when clients exhaust the limit, as in PgBouncer.
  if (database_ != "pgbouncer" && ctx_.client_count().load() > config_->max_client_conn) {
    co_return make_error("53300", "no more connections allowed (max_client_conn)");
  }
  Status st = co_await authenticate();
  if (st && !admin_) st = co_await join_pool();
  if (!st) co_return st.take_error();
  co_return true;
}

// Ends the session: the server goes back to its pool when it is clean, the
// client gets the error if there was one, and both sockets close.
asio::awaitable<void> ClientSession::finish(const Status& status) {
  if (server_ && server_reading_) co_await stop_server_read();
  if (server_) {
    if (server_idle()) {
      if (mode_ == config::PoolMode::kSession) server_->needs_reset_query = true;
      auto st = co_await unlink_server();
      (void)st;
    } else {
      cancel_server_query();  // the client left mid-query
      drop_server();
    }
  }
  const Error* error = kill_reason_ ? &*kill_reason_ : (status ? nullptr : &status.error());
  if (error && !client_closed_ && socket_.is_open()) {
    std::string out;
    protocol::write_error_response(out, "FATAL", error->sqlstate, error->message);
    co_await net::write_all(socket_, out);
  }
  if (error && config_->log_pooler_errors && !error->sqlstate.empty()) {
    spdlog::warn("C-{}: {}/{}@{}:{} closing because: {}", static_cast<void*>(this), database_,
                 user_, addr_, port_, error->message);
  }
  if (config_->log_disconnections && phase_ != Phase::kLogin) {
    spdlog::info("C-{}: {}/{}@{}:{} closing because: client close request (age={}s)",
                 static_cast<void*>(this), database_, user_, addr_, port_,
                 static_cast<int>(seconds_since(connect_time_, Clock::now())));
  }
  boost::system::error_code ec;
  socket_.shutdown(net::Socket::shutdown_both, ec);
  socket_.close(ec);
  // Outstanding reads complete with operation_aborted; wait for them so no
  // handler outlives what it touches.
  while (client_reading_ || server_reading_)
    co_await wake_.wait();
}

void ClientSession::enable_statement_tracking(size_t max_per_server) {
  static std::atomic<uint64_t> next_id{1};
  translator_ = std::make_unique<prepared::Translator>(
      pool_->statements(), max_per_server, next_id.fetch_add(1, std::memory_order_relaxed),
      max_packet_);
  // Framed as the translator frames them: what it reads arrives whole.
  client_scan_ = prepared::client_scanner(max_packet_);
  server_scan_ =
      protocol::StreamScanner(0x7fffffff, kMaxControlMessage, tracking_server_wants_whole, is_error,
                              prepared::kServerErrorWhole);
}

void ClientSession::kill(const Error& reason) {
  if (kill_reason_) return;
  kill_reason_ = std::make_unique<Error>(reason);
  abandon_wait();
  // The backend's query would otherwise run on after its client is gone.
  cancel_server_query();
  // Best effort and non-blocking: the client may not be reading.
  std::string out;
  protocol::write_error_response(out, "FATAL", reason.sqlstate, reason.message);
  ::send(socket_.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  client_closed_ = true;  // nothing more to say to it
  boost::system::error_code ec;
  socket_.shutdown(net::Socket::shutdown_both, ec);
  socket_.cancel(ec);
  if (server_) {
    // Its transaction cannot be finished for a client that is gone.
    server_->socket().cancel(ec);
    server_closed_ = true;
  }
  wake_.notify();
}

void ClientSession::check_timeouts(Clock::time_point now, const config::Config& c) {
  auto over = [&](Clock::time_point since, std::chrono::milliseconds limit) {
    return limit.count() > 0 && since != Clock::time_point{} && now - since >= limit;
  };
  // A [users] entry overrides the global value for that user's clients.
  const config::UserConfig* user = nullptr;
  if (!c.users.empty()) {
    if (auto it = c.users.find(user_); it != c.users.end()) user = &it->second;
  }
  auto limit = [&](std::optional<config::Duration> config::UserSettings::*own,
                   config::Duration global) { return user && user->*own ? *(user->*own) : global; };
  switch (phase_) {
    case Phase::kIdle:
      if (over(last_activity_,
               limit(&config::UserSettings::client_idle_timeout, c.client_idle_timeout))) {
        kill(make_error("57P05", "client_idle_timeout"));
      } else if (!parked_ && client_reading_ && in_.empty() && now - last_activity_ >= kParkAfter) {
        // Swap the pending read for a buffer-free readiness wait (see
        // start_reads); the cancelled read completes with operation_aborted.
        parked_ = true;
        boost::system::error_code ec;
        socket_.cancel(ec);
      }
      break;
    case Phase::kActive:
      // A query (or extended messages after a Flush) running too long.
      if ((outstanding_ > 0 || answers_due()) &&
          over(outstanding_ > 0 ? query_start_ : last_activity_,
               limit(&config::UserSettings::query_timeout, c.query_timeout))) {
        kill(make_error("57014", "query timeout"));
      } else if (waiting_for_client() &&
                 over(last_activity_, limit(&config::UserSettings::idle_transaction_timeout,
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
  net::write_now(socket_, std::span(&buffer, 1), sent);
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
  i.user = user_;
  i.database = database_;
  static constexpr const char* kStateNames[] = {"login", "idle", "waiting", "active", "active"};
  i.state = kStateNames[static_cast<int>(phase_)];
  i.addr = addr_;
  i.port = port_;
  int app = protocol::TrackedParams::kApplicationName;
  i.application_name = params_.has(app) ? params_.get(app) : "";
  i.connect_time = seconds_since(connect_time_, now);
  i.request_time = seconds_since(last_activity_, now);
  i.wait_seconds = phase_ == Phase::kWaiting ? seconds_since(wait_start_, now) : 0;
  i.pid = cancel_key_.pid;
  i.ptr = this;
  i.id = id_;
  if (translator_) i.prepared_statements = translator_->statement_count();
  if (server_) {
    i.has_server = true;
    i.server_id = server_->id();
    i.server_addr = server_->remote_addr;
    i.server_port = server_->remote_port;
    i.server_pid = server_->backend_pid;
    i.server_connect_time = seconds_since(server_->created_at, now);
    i.server_prepared_statements = server_->prepared.statements.size();
    i.server_close_needed = pool_ && server_->generation != pool_->generation();
  }
  return i;
}

}  // namespace usher::session
