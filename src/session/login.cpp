// After authentication: find the pool, make sure we know the server's
// parameters, and send the client what PostgreSQL sends at the end of login.
#include "session/login.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::session {

asio::awaitable<Status> Login::join_pool() {
  auto db_config = config::find_database(*c_.config, c_.database);
  if (!db_config) {
    co_return make_error(protocol::sqlstate::invalid_catalog_name,
                         "no such database: " + c_.database);
  }
  if (c_.ctx.disabled(c_.database)) {
    co_return make_error(protocol::sqlstate::protocol_violation,
                         "database \"" + c_.database + "\" is disabled");
  }
  // Counted before the pool is joined, as PgBouncer counts them; the admin
  // console never gets here, so an operator can always get in.
  auto db_clients = c_.ctx.pools().db_clients(*c_.config, *db_config);
  if (!db_clients->try_take()) {
    co_return make_error(protocol::sqlstate::too_many_connections,
                         "client connections exceeded (max_db_client_connections)");
  }
  m_.db_clients = std::move(db_clients);
  auto user_clients = c_.ctx.pools().user_clients(*c_.config, c_.user);
  if (!user_clients->try_take()) {
    co_return make_error(protocol::sqlstate::too_many_connections,
                         "client connections exceeded (max_user_client_connections)");
  }
  m_.user_clients = std::move(user_clients);
  m_.pool = c_.ctx.pools().get(*c_.config, *db_config, c_.user);
  if (c_.ctx.paused(c_.database)) m_.pool->set_paused(true);  // a pool created while paused
  // SHOW STATS client_login_count (PgBouncer 1.26): logins that passed
  // authentication and the client limits.
  pool::bump(m_.pool->stats().slot(c_.worker.index).client_login_count, 1);
  m_.mode = m_.pool->settings().mode;
  if (m_.mode != config::PoolMode::kSession && c_.config->max_prepared_statements > 0) {
    m_.max_statements_per_server = static_cast<size_t>(c_.config->max_prepared_statements);
  }
  // What the client proved opens server connections as the pool's server
  // user (SCRAM pass-through, or a password), so only that user's own will
  // do. With a forced user= in [databases], a client logged in as anyone
  // else holds the credentials of another user, and handing them to the
  // pool would break every later server login.
  if (!db_config->password && m_.pool->target().user == c_.user) {
    if (learned_.has_scram_keys) m_.pool->set_scram_keys(learned_.client_key, learned_.server_key);
    if (!learned_.password.empty()) m_.pool->learn_password(learned_.password);
  }

  // The first client of a pool waits for a server connection: what it
  // reports (server_version, encodings, ...) is what every client is told.
  if (!m_.pool->has_welcome()) {
    auto server = co_await m_.pool->acquire(c_.worker.index, c_.worker.io);
    if (!server) co_return server.take_error();
    m_.pool->release(std::move(*server));
  }

  m_.cancel_target = std::make_shared<CancelTarget>();
  m_.cancel_key = c_.ctx.cancels().add(m_.cancel_target);

  std::string out;
  protocol::write_authentication_ok(out);
  // The client is told the values it asked for; the rest become its own
  // too, so that a server another client changed is brought back to them.
  for (const auto& [name, value] : m_.pool->welcome()) {
    const int i = c_.params.index_of(name);
    if (i >= 0 && c_.params.has(i)) {
      protocol::write_parameter_status(out, name, c_.params.get(i));
    } else {
      if (!protocol::never_tracked(name)) c_.params.set(name, value);
      protocol::write_parameter_status(out, name, value);
    }
  }
  protocol::write_backend_key_data(out, m_.cancel_key.pid, m_.cancel_key.secret);
  if (!c_.config->login_notify_message.empty())
    protocol::write_notice_response(out, protocol::sqlstate::successful_completion,
                                    c_.config->login_notify_message);
  protocol::write_ready_for_query(out, protocol::kTransactionIdle);
  // In the pool's count from here on, as in SHOW CLIENTS (no longer "login").
  m_.pool->clients.fetch_add(1);
  m_.counted_in_pool = true;
  co_return co_await c_.send(out);
}

}  // namespace usher::session
