// After authentication: find the pool, make sure we know the server's
// parameters, and send the client what PostgreSQL sends at the end of login.
#include "protocol/writer.h"
#include "session/client_session.h"

namespace usher::session {

asio::awaitable<Status> ClientSession::join_pool() {
  auto db_config = config::find_database(*config_, database_);
  if (!db_config) {
    co_return make_error("3D000", "no such database: " + database_);
  }
  if (ctx_.disabled(database_)) {
    co_return make_error("08P01", "database \"" + database_ + "\" is disabled");
  }
  // Counted before the pool is joined, as PgBouncer counts them; the admin
  // console never gets here, so an operator can always get in.
  auto db_clients = ctx_.pools().db_clients(*config_, *db_config);
  if (!db_clients->try_take()) {
    co_return make_error("53300", "client connections exceeded (max_db_client_connections)");
  }
  db_clients_ = std::move(db_clients);
  auto user_clients = ctx_.pools().user_clients(*config_, user_);
  if (!user_clients->try_take()) {
    co_return make_error("53300", "client connections exceeded (max_user_client_connections)");
  }
  user_clients_ = std::move(user_clients);
  pool_ = ctx_.pools().get(*config_, *db_config, user_);
  if (ctx_.paused(database_)) pool_->set_paused(true);  // a pool created while paused
  // SHOW STATS client_login_count (PgBouncer 1.26): logins that passed
  // authentication and the client limits.
  pool::bump(pool_->stats().slot(worker_.index).client_login_count, 1);
  mode_ = pool_->settings().mode;
  if (mode_ != config::PoolMode::kSession && config_->max_prepared_statements > 0) {
    enable_statement_tracking(static_cast<size_t>(config_->max_prepared_statements));
  }
  // What the client proved opens server connections as the pool's server
  // user (SCRAM pass-through, or a password), so only that user's own will
  // do. With a forced user= in [databases], a client logged in as anyone
  // else holds the credentials of another user, and handing them to the
  // pool would break every later server login.
  if (learned_ && !db_config->password && pool_->target().user == user_) {
    if (learned_->has_scram_keys) pool_->set_scram_keys(learned_->client_key, learned_->server_key);
    if (!learned_->password.empty()) pool_->learn_password(learned_->password);
  }
  learned_.reset();  // not needed again

  // The first client of a pool waits for a server connection: what it
  // reports (server_version, encodings, ...) is what every client is told.
  if (!pool_->has_welcome()) {
    auto server = co_await pool_->acquire(worker_.index, worker_.io);
    if (!server) co_return server.take_error();
    pool_->release(std::move(*server));
  }

  cancel_target_ = std::make_shared<CancelTarget>();
  cancel_key_ = ctx_.cancels().add(cancel_target_);

  std::string out;
  protocol::write_authentication_ok(out);
  // The client is told the values it asked for; the rest become its own
  // too, so that a server another client changed is brought back to them.
  for (const auto& [name, value] : pool_->welcome()) {
    const int i = params_.index_of(name);
    if (i >= 0 && params_.has(i)) {
      protocol::write_parameter_status(out, name, params_.get(i));
    } else {
      if (!protocol::never_tracked(name)) params_.set(name, value);
      protocol::write_parameter_status(out, name, value);
    }
  }
  protocol::write_backend_key_data(out, cancel_key_.pid, cancel_key_.secret);
  if (!config_->login_notify_message.empty())
    protocol::write_notice_response(out, "00000", config_->login_notify_message);
  protocol::write_ready_for_query(out, 'I');
  // In the pool's count from here on, as in SHOW CLIENTS (no longer "login").
  pool_->clients.fetch_add(1);
  counted_in_pool_ = true;
  co_return co_await send(out);
}

}  // namespace usher::session
