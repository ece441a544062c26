// auth_user / auth_query / auth_dbname, as in PgBouncer: a user that
// auth_file does not list is looked up on the server, on a connection of the
// pool (auth database, auth_user), and the secret it returns (md5 or SCRAM)
// checks the client's password. The default query returns no secret for a
// role past its VALID UNTIL and no row for one that cannot log in; both
// then fail like a wrong password (PgBouncer answers "no such user", which
// tells a stranger which names exist).
#include <spdlog/spdlog.h>

#include "protocol/extended.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "session/login.h"

namespace usher::session {

namespace {

// The query runs with only pg_catalog on its search_path, whatever other
// clients of that pool left on the connection: set_config(..., true) lasts
// until the Sync ends the implicit transaction.
constexpr std::string_view kPinSearchPath =
    "SELECT pg_catalog.set_config('search_path', 'pg_catalog', true)";
constexpr size_t kSecretColumns = 2;  // (name, secret)

Error lookup_failed() {
  // The server's own words go to the log only: they may describe its
  // catalog to someone who has not logged in.
  return make_error(protocol::sqlstate::invalid_authorization_specification,
                    "authentication lookup failed; see the pooler's log");
}

std::string exchange(std::string_view query, std::string_view user) {
  std::string out;
  const std::string_view no_types("\0\0", 2);
  protocol::write_parse(out, "", kPinSearchPath, no_types);
  protocol::write_bind_text(out, "", "", {});
  protocol::write_execute(out, "", 0);
  protocol::write_parse(out, "", query, no_types);
  const std::string_view params[] = {user};
  protocol::write_bind_text(out, "", "", params);
  protocol::write_execute(out, "", 0);
  protocol::write_sync(out);
  return out;
}

}  // namespace

asio::awaitable<Result<std::optional<std::string>>> Login::query_secret() {
  const auto db = config::find_database(*c_.config, c_.database);
  if (!db) co_return std::nullopt;
  const std::string auth_user = db->auth_user.value_or(c_.config->auth_user);
  if (auth_user.empty()) co_return std::nullopt;
  const std::string auth_dbname = db->auth_dbname.value_or(c_.config->auth_dbname);
  const auto auth_db = auth_dbname.empty() ? db : config::find_database(*c_.config, auth_dbname);
  if (!auth_db) {
    spdlog::error("authentication database \"{}\" is not configured", auth_dbname);
    co_return make_error(protocol::sqlstate::invalid_authorization_specification,
                         "bouncer config error");
  }
  auto pool = c_.ctx.pools().get(*c_.config, *auth_db, auth_user);
  auto server = co_await pool->acquire(c_.worker.index, c_.worker.io);
  if (!server) co_return server.take_error();
  pool::ServerConnection::LastResult result;
  bool answered = false;
  const std::string messages = exchange(db->auth_query.value_or(c_.config->auth_query), c_.user);
  Status st = co_await (*server)->run(messages, pool->own_query_timeout(), &answered, &result);
  if (answered) {
    pool->release(std::move(*server));
  } else {
    pool->discard(std::move(*server));
  }
  if (!st) {
    spdlog::error("auth_query for user \"{}\" in database \"{}\" failed: {}", c_.user,
                  auth_db->name, st.error().message);
    co_return lookup_failed();
  }
  if (result.rows == 0) co_return std::nullopt;  // no such login
  // Two rows for one name: which one is the user's is anyone's guess, so
  // neither is.
  if (result.rows > 1) {
    spdlog::error("auth_query returned {} rows for user \"{}\"; it must return at most one",
                  result.rows, c_.user);
    co_return lookup_failed();
  }
  auto row = protocol::parse_data_row(protocol::as_bytes(result.first_row));
  if (!row || row->size() != kSecretColumns) {
    spdlog::error("auth_query must return 2 columns (name, secret)");
    co_return lookup_failed();
  }
  const auto& secret = (*row)[1];
  if (!(*row)[0] || !secret || secret->empty()) co_return std::nullopt;  // expired, or none
  co_return std::string(*secret);
}

}  // namespace usher::session
