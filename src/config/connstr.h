// Values of the [databases] and [users] sections: libpq-style
// "key=value key='quoted value'" lists, typed.
//
// Quoting, a superset of PgBouncer's and libpq's rules: a value is either a
// run of non-blank characters or a single-quoted string in which '' (as
// PgBouncer writes it), \' and \\ (as libpq writes them) stand for ' and \;
// any other backslash is kept as is, so Windows-style paths survive.
// Blanks around '=' are allowed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/values.h"

namespace usher::config {

struct KeyValue {
  std::string key;
  std::string value;
};

// The raw pairs, in order (a repeated key appears twice; typed parsing keeps
// the last). Errors: a word with no '=', a missing value, an unterminated
// quote, text glued to a closing quote.
Result<std::vector<KeyValue>> parse_key_values(std::string_view text);

// One [databases] entry's value. Unset optionals inherit from [pgbouncer]
// (pool_size from default_pool_size, reserve_pool_size, pool_mode, ...) or,
// for user/password, from the client's own login.
struct ConnString {
  // The first entry of `hosts`, or empty when host is not set: then the
  // server is reached over the Unix socket in [pgbouncer] unix_socket_dir,
  // as PgBouncer does. A value starting with '/' (or '@', Linux abstract
  // namespace) is a Unix socket directory; see is_unix_socket_host().
  std::string host;
  std::vector<std::string> hosts;  // the comma-separated list, for round robin
  int port = 5432;
  // The server-side database name. Unset means "the name the client asked
  // for": the entry's own name, or for the "*" fallback the requested one.
  std::optional<std::string> dbname;
  std::optional<std::string> user;  // forced user: one pool for the database
  std::optional<std::string> password;
  std::optional<std::string> auth_user;
  std::optional<std::string> auth_dbname;
  std::optional<std::string> auth_query;
  std::optional<int> pool_size;
  std::optional<int> min_pool_size;
  std::optional<int> reserve_pool_size;  // also spelled reserve_pool
  std::optional<int> max_db_connections;
  std::optional<int> max_db_client_connections;
  std::optional<PoolMode> pool_mode;
  std::optional<Duration> server_lifetime;
  std::optional<Duration> query_wait_timeout;  // -1 in the file means unset
  std::optional<std::string> connect_query;
  // PgBouncer 1.24: with several hosts, "round-robin" takes the next one for
  // each new connection; "disable" stays on one until a connection to it
  // fails. Unset: round-robin.
  std::optional<std::string> load_balance_hosts;
  // Only "any" for now: choosing a primary or a standby is issue #17's.
  std::optional<std::string> target_session_attrs;
  // Startup parameters sent to the server for this database.
  std::optional<std::string> application_name;
  std::optional<std::string> client_encoding;
  std::optional<std::string> datestyle;
  std::optional<std::string> timezone;
  // Usher: the query cache for this database (unset: [pgbouncer]'s).
  std::optional<bool> query_cache;
};

// Errors name the key, the bad value and what is accepted; an unknown key is
// an error (as in PgBouncer), listing the known ones.
Result<ConnString> parse_connstr(std::string_view text);

// One [users] entry's value: "pool_mode=transaction max_user_connections=10".
struct UserSettings {
  std::optional<PoolMode> pool_mode;
  std::optional<int> pool_size;
  std::optional<int> reserve_pool_size;
  std::optional<int> max_user_connections;
  std::optional<int> max_user_client_connections;
  std::optional<Duration> query_timeout;
  std::optional<Duration> query_wait_timeout;
  std::optional<Duration> idle_transaction_timeout;
  std::optional<Duration> transaction_timeout;
  std::optional<Duration> client_idle_timeout;
  // Usher: the query cache for this user (unset: the database's, then
  // [pgbouncer]'s).
  std::optional<bool> query_cache;
};

Result<UserSettings> parse_user_settings(std::string_view text);

// True for "/dir" (a Unix socket directory) and "@name" (abstract socket).
bool is_unix_socket_host(std::string_view host);

}  // namespace usher::config
