// The typed configuration: pgbouncer.ini's [pgbouncer], [databases] and
// [users] sections, plus the users of auth_file.
//
// Members of Config are named exactly as the [pgbouncer] keys and start at
// PgBouncer 1.26's defaults, except where Usher deliberately differs
// (server_tls_sslmode, auth_query; see docs/configuration.md). A Config is a
// plain value: copy it, compare what changed on RELOAD, hand it to workers.
//
// Loading never prints. Problems that PgBouncer would ignore or that cannot
// hurt (an unknown key) come back as warnings, each
// starting with "file:line: "; anything else is an Error (SQLSTATE F0000)
// whose message starts with "file:line: " and, for a bad value, reads like
//   pgbouncer.ini:12: invalid value "abc" for pool_mode: expected session,
//   transaction or statement
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/hba.h"
#include "auth/ident.h"
#include "common/result.h"
#include "common/tcp_options.h"
#include "config/connstr.h"
#include "config/ini.h"
#include "config/values.h"

namespace usher::config {

// The admin console's virtual database, which no [databases] entry may
// take, and the user that may reach it over the Unix socket with no
// password when it is the OS user Usher runs as (PgBouncer's rules).
inline constexpr std::string_view kConsoleDatabase = "pgbouncer";
inline constexpr std::string_view kConsoleUser = "pgbouncer";

// A [databases] entry. Unset optionals fall back to the [pgbouncer] value.
struct DatabaseConfig : ConnString {
  std::string name;  // the name clients connect to
  SourceLocation where;
};

// A [users] entry. Unset optionals fall back to the database's value, then
// to [pgbouncer].
struct UserConfig : UserSettings {
  std::string name;
  SourceLocation where;
};

// A [peers] entry: another Usher (or PgBouncer) process sharing the listen
// port, to which cancel requests for its clients are forwarded.
struct PeerConfig {
  int peer_id = 0;
  std::string host;
  int port = 6432;
  std::optional<int> pool_size;  // cancels in flight to it; unset: default_pool_size
  SourceLocation where;
};

inline constexpr std::string_view kEmptyCheckQuery = "<empty>";

struct Config {
  // --- Generic -------------------------------------------------------------
  std::string logfile;
  std::string pidfile;
  // TCP addresses to listen on; empty: Unix socket only. "*" means all
  // addresses (IPv4 and IPv6).
  std::vector<std::string> listen_addr;
  int listen_port = 6432;
  std::string unix_socket_dir = "/tmp";  // empty: no Unix socket
  int unix_socket_mode = 0777;
  std::string unix_socket_group;
  std::string user;  // Unix user to switch to after startup
  PoolMode pool_mode = PoolMode::kSession;
  int max_client_conn = 100;
  int default_pool_size = 20;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  Duration reserve_pool_timeout = Duration(5000);
  int max_db_connections = 0;  // 0: unlimited
  int max_db_client_connections = 0;
  int max_user_connections = 0;
  int max_user_client_connections = 0;
  bool server_round_robin = false;
  std::vector<std::string> track_extra_parameters = {"IntervalStyle"};
  std::vector<std::string> ignore_startup_parameters;
  int peer_id = 0;
  bool disable_pqexec = false;
  bool application_name_add_host = false;
  std::string conffile;                // defaults to the file loaded
  std::string job_name = "pgbouncer";  // service_name is an alias
  Duration stats_period = Duration(60'000);
  int max_prepared_statements = 200;  // PgBouncer's default since 1.24 (before: 0)
  int scram_iterations = 4096;
  // PgBouncer 1.26: a pool with no clients and no servers for this long is
  // freed (0: kept).
  Duration pool_idle_timeout = Duration(0);
  // PgBouncer 1.25: a NOTICE to a client queued this long for a server (0: none).
  Duration query_wait_notify = Duration(5'000);
  // PgBouncer 1.26: a NOTICE every client gets after login (empty: none).
  std::string login_notify_message;
  // Usher: worker threads, each with its own event loop. 0: one per CPU core
  // (the consumer resolves it).
  int workers = 0;

  // --- Authentication -------------------------------------------------------
  AuthType auth_type = AuthType::kMd5;
  std::string auth_file;
  std::string auth_hba_file;    // read when auth_type = hba: hba_rules
  std::string auth_ident_file;  // read with auth_hba_file: ident_entries
  std::string auth_user;
  // PgBouncer 1.24.1+'s default (honours VALID UNTIL), schema-qualified so
  // that no search_path can change what it calls.
  std::string auth_query =
      "SELECT rolname, CASE WHEN rolvaliduntil < pg_catalog.now() THEN NULL ELSE rolpassword "
      "END FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin";
  std::string auth_dbname;
  std::string auth_ldap_options;  // stored only: auth_type ldap is not built

  // --- Logging ----------------------------------------------------------------
  bool syslog = false;
  std::string syslog_ident = "pgbouncer";
  std::string syslog_facility = "daemon";
  bool log_connections = true;
  bool log_disconnections = true;
  bool log_pooler_errors = true;
  bool log_stats = true;
  // text (PgBouncer's lines) or json (one object a line); Usher only.
  std::string log_format = "text";
  int verbose = 0;

  // --- Console access -------------------------------------------------------
  std::vector<std::string> admin_users;
  std::vector<std::string> stats_users;

  // --- Server sanity checks and timeouts ------------------------------------
  std::string server_reset_query = "DISCARD ALL";
  bool server_reset_query_always = false;
  Duration server_check_delay = Duration(30'000);
  // PgBouncer 1.25: "<empty>" sends an empty query (the cheapest check);
  // "" checks nothing.
  std::string server_check_query = std::string(kEmptyCheckQuery);
  bool server_fast_close = false;
  Duration server_lifetime = Duration(3'600'000);
  Duration server_idle_timeout = Duration(600'000);
  Duration server_connect_timeout = Duration(15'000);
  Duration server_login_retry = Duration(15'000);
  Duration client_login_timeout = Duration(60'000);
  Duration autodb_idle_timeout = Duration(3'600'000);
  Duration dns_max_ttl = Duration(15'000);
  Duration dns_nxdomain_ttl = Duration(15'000);
  Duration dns_zone_check_period = Duration(0);
  std::string resolv_conf;

  // --- Dangerous timeouts (0: disabled) --------------------------------------
  Duration query_timeout = Duration(0);
  Duration query_wait_timeout = Duration(120'000);
  Duration cancel_wait_timeout = Duration(10'000);
  Duration client_idle_timeout = Duration(0);
  Duration idle_transaction_timeout = Duration(0);
  Duration transaction_timeout = Duration(0);
  Duration suspend_timeout = Duration(10'000);

  // --- TLS (net/tls.h; the files load at start and on every RELOAD) ----------
  std::string client_tls_sslmode = "disable";
  std::string client_tls_key_file;
  std::string client_tls_cert_file;
  std::string client_tls_ca_file;
  std::string client_tls_protocols = "secure";
  std::string client_tls_ciphers = "default";  // PgBouncer 1.26 (before: "fast")
  std::string client_tls13_ciphers;
  std::string client_tls_ecdhcurve = "auto";
  std::string client_tls_dheparams = "auto";
  std::string server_tls_sslmode = "prefer";  // PgBouncer's default since 1.20
  // SCRAM-SHA-256-PLUS towards servers: disable, prefer, require (Usher's;
  // PgBouncer has no channel binding). pool::ChannelBinding.
  std::string server_channel_binding = "prefer";
  std::string server_tls_ca_file;
  std::string server_tls_key_file;
  std::string server_tls_cert_file;
  std::string server_tls_protocols = "secure";
  std::string server_tls_ciphers = "default";
  std::string server_tls13_ciphers;

  // --- Low-level network -----------------------------------------------------
  int pkt_buf = 4096;
  int max_packet_size = 2147483647;
  int listen_backlog = 128;
  int sbuf_loopcnt = 5;
  bool so_reuseport = false;
  bool tcp_defer_accept = true;  // PgBouncer: 1 on Linux
  int tcp_socket_buffer = 0;     // 0: OS default
  bool tcp_keepalive = true;
  int tcp_keepcnt = 0;  // 0: OS default, as the three below
  int tcp_keepidle = 0;
  int tcp_keepintvl = 0;
  int tcp_user_timeout = 0;  // milliseconds, as in PgBouncer

  // --- Query cache (Usher only; docs/configuration.md, "Query cache") ---------
  // Off by default; [databases] and [users] entries may override it (see
  // query_cache_enabled()).
  bool query_cache = false;
  // A hard limit on the memory of all entries together, keys included.
  ByteSize query_cache_size = ByteSize{256 * kMegabyte};
  // A larger result streams through uncached; at most query_cache_size.
  ByteSize query_cache_max_entry = ByteSize{kMegabyte};
  Duration query_cache_ttl = Duration(0);  // 0: until invalidated
  CacheInvalidation query_cache_invalidation = CacheInvalidation::kReplication;
  std::string query_cache_replication_user;  // empty: the database's pool user
  // Canonical table names (config/table_name.h). Empty include list: every
  // table; a table in both lists is excluded.
  std::vector<std::string> query_cache_tables;
  std::vector<std::string> query_cache_exclude_tables;

  // --- HTTP endpoint (Usher only; docs/configuration.md, "HTTP endpoint") -----
  std::string http_listen_addr = "127.0.0.1";
  int http_listen_port = 0;  // 0: no HTTP endpoint
  // A bearer token, read into http_auth_token at load, RELOAD and SET;
  // without one, write actions are refused.
  std::string http_auth_token_file;
  bool http_public_read = false;  // GET endpoints without the token
  // Origins as browsers send them (http_origin.h); "*" for any, which
  // credentials refuse.
  std::vector<std::string> http_cors_origins;
  bool http_cors_allow_credentials = false;
  std::string http_auth_token;  // the file's content: never shown or logged

  // --- Other sections ----------------------------------------------------------
  std::map<std::string, DatabaseConfig> databases;  // by client-side name
  std::optional<DatabaseConfig> fallback_database;  // the "*" entry
  std::map<std::string, UserConfig> users;          // [users]
  std::map<int, PeerConfig> peers;                  // [peers], by peer_id
  std::map<std::string, std::string> auth_users;    // auth_file: user -> secret
  std::vector<auth::HbaRule> hba_rules;             // auth_hba_file, with auth_type = hba
  std::vector<auth::IdentEntry> ident_entries;      // auth_ident_file, with auth_type = hba

  // The file load_config() read (the conffile key may point elsewhere for
  // the next RELOAD, as in PgBouncer).
  std::string config_path;
};

struct LoadResult {
  Config config;
  std::vector<std::string> warnings;
  // Every file read: the config file, its includes, then auth_file (as
  // resolved), so a caller can tell whether a RELOAD has anything new.
  std::vector<std::string> files;
};

// Reads `path` with its includes, parses every section, validates, and loads
// auth_file when it is set (a relative auth_file is looked up beside the
// config file first, then in the current directory, as PgBouncer does).
Result<LoadResult> load_config(const std::string& path);

// The same from an already-read document; `path` becomes config_path and
// the base for a relative auth_file.
Result<LoadResult> build_config(const IniDocument& doc, const std::string& path);

// The database a client asking for `name` gets: its own [databases] entry,
// else the "*" fallback with dbname defaulting to `name`, else nullopt.
// dbname is always set in the result.
std::optional<DatabaseConfig> find_database(const Config& config, std::string_view name);

// Whether the query cache serves a client of `db` logged in as `user`:
// the [users] entry's query_cache if it sets one, else the [databases]
// entry's, else [pgbouncer]'s. Either pointer may be null (no entry).
bool query_cache_enabled(const Config& config, const DatabaseConfig* db, const UserConfig* user);

// query_cache_max_entry <= query_cache_size, which load_config() checks
// (with the file and line): for a Config changed another way, as by the
// console's SET, which sets one key at a time.
Status check_query_cache_limits(const Config& config);

// auth_hba_file read into hba_rules and auth_ident_file into ident_entries
// when auth_type is hba (cleared otherwise); `files`, if given, receives the
// paths read. For the loader, and for SET of auth_type, auth_hba_file or
// auth_ident_file from the console.
Status load_hba_rules(Config& config, std::vector<std::string>* files = nullptr);

// http_auth_token_file read into http_auth_token (cleared when no file is
// set); for the loader and for SET. Errors name the file, never the token.
Status load_http_token(Config& config, std::vector<std::string>* files = nullptr);
// http_cors_origins = * with http_cors_allow_credentials = on is refused.
Status check_http_cors(const Config& config);

// The tcp_* settings, for client and server sockets alike (as PgBouncer).
TcpOptions tcp_options(const Config& config);

// SHOW CONFIG: every [pgbouncer] key in alphabetical order.
struct ConfigRow {
  std::string key;
  std::string value;          // as SHOW CONFIG prints it (lists comma-joined,
  std::string default_value;  // durations in seconds, enums by name)
  bool changeable = true;     // false: takes effect only after a restart
};

std::vector<ConfigRow> describe(const Config& config);

}  // namespace usher::config
