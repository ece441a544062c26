#include "session/client_session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "session/login.h"

namespace usher::session {

ClientSession::ClientSession(SessionContext& ctx, Worker& worker, net::Socket socket)
    : conn_(ctx, worker, std::move(socket)), membership_(ctx), relay_(conn_, membership_, *this) {
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
                   if (e || !self->relay_.suspended()) {
                     self->conn_.worker.sessions.erase(self->registry_it_);
                   }
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
  Status st = co_await relay_.serve();
  if (relay_.suspended()) co_return;  // parked: resume() serves again
  co_await finish(st);
}

asio::awaitable<void> ClientSession::run() {
  auto self = shared_from_this();
  net::tune_socket(conn_.stream.socket(), config::tcp_options(*conn_.config));
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
  std::unique_ptr<CacheTap> tap;
  if (auto access = conn_.ctx.cache_for(*conn_.config, *membership_.pool)) {
    tap = std::make_unique<CacheTap>(std::move(*access), conn_.worker.cache_memo,
                                     membership_.pool->target().user, conn_.params);
  }
  relay_.start(membership_.max_statements_per_server, std::move(tap));
  co_await serve_and_finish();
}

asio::awaitable<Result<bool>> ClientSession::log_in() {
  // client_login_timeout: closing the socket fails whatever is pending.
  asio::steady_timer login_timer(conn_.worker.io);
  if (conn_.config->client_login_timeout.count() > 0) {
    login_timer.expires_after(conn_.config->client_login_timeout);
    login_timer.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && conn_.phase == Phase::kLogin) {
        kill(make_error(protocol::sqlstate::protocol_violation, "client_login_timeout"));
      }
    });
  }
  Login login(conn_, membership_);
  auto started = co_await login.startup();
  if (!started || !*started) co_return started;
  // Checked once the client has said who it is, so a client trying SSL first
  // gets a plain error; the admin console is exempt so an operator can get
  // in when clients exhaust the limit, as in PgBouncer.
  if (conn_.database != config::kConsoleDatabase &&
      conn_.ctx.client_count().load() > conn_.config->max_client_conn) {
    co_return make_error(protocol::sqlstate::too_many_connections,
                         "no more connections allowed (max_client_conn)");
  }
  Status st = co_await login.authenticate();
  if (st && !conn_.admin) st = co_await login.join_pool();
  if (!st) co_return st.take_error();
  co_return true;
}

asio::awaitable<void> ClientSession::finish(const Status& status) {
  co_await relay_.finish_server();
  const Error* error =
      conn_.kill_reason ? &*conn_.kill_reason : (status ? nullptr : &status.error());
  if (error && !conn_.closed && conn_.stream.socket().is_open()) {
    std::string out;
    protocol::write_error_response(out, "FATAL", error->sqlstate, error->message);
    co_await net::write_all(conn_.stream, out);
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
  conn_.stream.close_tls();
  boost::system::error_code ec;
  conn_.stream.socket().shutdown(net::Socket::shutdown_both, ec);
  conn_.stream.socket().close(ec);
  co_await relay_.wait_reads();
}

void ClientSession::kill(const Error& reason) {
  if (conn_.kill_reason) return;
  conn_.kill_reason = std::make_unique<Error>(reason);
  relay_.on_kill();
  // Best effort and non-blocking: the client may not be reading.
  std::string out;
  protocol::write_error_response(out, "FATAL", reason.sqlstate, reason.message);
  const asio::const_buffer buffer(out.data(), out.size());
  net::WriteResult ignored;
  conn_.stream.write_now(std::span(&buffer, 1), ignored);
  conn_.closed = true;  // nothing more to say to it
  boost::system::error_code ec;
  conn_.stream.socket().shutdown(net::Socket::shutdown_both, ec);
  conn_.stream.socket().cancel(ec);
  conn_.wake.notify();
}

void ClientSession::check_timeouts(Clock::time_point now, const config::Config& c) {
  // A [users] entry overrides the global value for that user's clients.
  const config::UserConfig* user = nullptr;
  if (!c.users.empty()) {
    if (auto it = c.users.find(conn_.user); it != c.users.end()) user = &it->second;
  }
  auto limit = [&](std::optional<config::Duration> config::UserSettings::*own,
                   config::Duration global) { return user && user->*own ? *(user->*own) : global; };
  const ClientLimits limits{
      .client_idle_timeout =
          limit(&config::UserSettings::client_idle_timeout, c.client_idle_timeout),
      .query_timeout = limit(&config::UserSettings::query_timeout, c.query_timeout),
      .idle_transaction_timeout =
          limit(&config::UserSettings::idle_transaction_timeout, c.idle_transaction_timeout),
      .transaction_timeout =
          limit(&config::UserSettings::transaction_timeout, c.transaction_timeout),
      .query_wait_notify = c.query_wait_notify};
  if (auto reason = relay_.check_timeouts(now, limits)) kill(*reason);
}

ClientInfo ClientSession::info(Clock::time_point now) const {
  ClientInfo i;
  i.user = conn_.user;
  i.database = conn_.database;
  static constexpr const char* kStateNames[] = {"login", "idle", "waiting", "active", "active"};
  i.state = kStateNames[static_cast<int>(conn_.phase)];
  i.addr = conn_.addr;
  i.port = conn_.port;
  if (conn_.stream.tls()) i.tls = conn_.stream.tls()->describe();
  const int app = protocol::TrackedParams::kApplicationName;
  i.application_name = conn_.params.has(app) ? conn_.params.get(app) : "";
  i.connect_time = seconds_since(conn_.connect_time, now);
  i.request_time = seconds_since(conn_.last_activity, now);
  i.pid = membership_.cancel_key.pid;
  i.ptr = this;
  i.id = conn_.id;
  relay_.fill_info(i, now);
  return i;
}

}  // namespace usher::session
