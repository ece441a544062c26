// Every configuration key of PgBouncer 1.26, in every section, loads in Usher.
//
// The key list and defaults come from PgBouncer's doc/config.md (the 1.26
// text: pool_idle_timeout, login_notify_message, per-database
// query_wait_timeout and target_session_attrs) and its src/main.c key table
// (which gives client_tls_ciphers' "default" and the CF_NO_RELOAD keys).
// docs/configuration.md has the same list with what Usher does with each key;
// a key added to one must be added to the other.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/settings.h"
#include "config_test_util.h"

namespace usher::config {
namespace {

using std::chrono::milliseconds;
using testing::TempDir;

struct MainKey {
  std::string_view key;
  // PgBouncer's default, as SHOW CONFIG prints it (durations in seconds).
  std::string_view pgbouncer_default;
  // A valid value that is not the default, written so that Usher prints it
  // back unchanged.
  std::string_view value;
};

// [pgbouncer], alphabetical. service_name is PgBouncer's Windows spelling of
// job_name (on other systems PgBouncer does not know it; Usher takes it).
const std::vector<MainKey> kMainKeys = {
    {"admin_users", "", "admin,root"},
    {"application_name_add_host", "0", "1"},
    {"auth_dbname", "", "authdb"},
    {"auth_file", "", "userlist.txt"},
    {"auth_hba_file", "", "/etc/pgbouncer/hba.conf"},
    {"auth_ident_file", "", "/etc/pgbouncer/ident.map"},
    {"auth_ldap_options", "", "ldapurl=\"ldap://127.0.0.1:12345/dc=example,dc=net?uid?sub\""},
    {"auth_query",
     "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM "
     "pg_authid WHERE rolname=$1 AND rolcanlogin",
     "SELECT usename, passwd FROM pg_shadow WHERE usename=$1"},
    {"auth_type", "md5", "scram-sha-256"},
    {"auth_user", "", "pgbouncer_auth"},
    {"autodb_idle_timeout", "3600", "600"},
    {"cancel_wait_timeout", "10", "5"},
    {"client_idle_timeout", "0", "7200"},
    {"client_login_timeout", "60", "30"},
    {"client_tls13_ciphers", "", "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"},
    {"client_tls_ca_file", "", "/etc/ssl/ca.crt"},
    {"client_tls_cert_file", "", "/etc/ssl/client.crt"},
    {"client_tls_ciphers", "default", "HIGH:!aNULL"},
    {"client_tls_dheparams", "auto", "legacy"},
    {"client_tls_ecdhcurve", "auto", "prime256v1"},
    {"client_tls_key_file", "", "/etc/ssl/client.key"},
    {"client_tls_protocols", "secure", "tlsv1.2,tlsv1.3"},
    {"client_tls_sslmode", "disable", "allow"},
    {"conffile", "", "/etc/pgbouncer/next.ini"},
    {"default_pool_size", "20", "25"},
    {"disable_pqexec", "0", "1"},
    {"dns_max_ttl", "15", "30"},
    {"dns_nxdomain_ttl", "15", "20"},
    {"dns_zone_check_period", "0", "60"},
    {"idle_transaction_timeout", "0", "45"},
    {"ignore_startup_parameters", "", "extra_float_digits,options"},
    {"job_name", "pgbouncer", "usher-test"},
    {"listen_addr", "", "127.0.0.1,::1"},
    {"listen_backlog", "128", "256"},
    {"listen_port", "6432", "6543"},
    {"log_connections", "1", "0"},
    {"log_disconnections", "1", "0"},
    {"log_pooler_errors", "1", "0"},
    {"log_stats", "1", "0"},
    {"logfile", "", "/var/log/pgbouncer/pgbouncer.log"},
    {"login_notify_message", "", "Welcome to the pooler"},
    {"max_client_conn", "100", "500"},
    {"max_db_client_connections", "0", "400"},
    {"max_db_connections", "0", "50"},
    {"max_packet_size", "2147483647", "1073741824"},
    {"max_prepared_statements", "200", "100"},
    {"max_user_client_connections", "0", "300"},
    {"max_user_connections", "0", "60"},
    {"min_pool_size", "0", "2"},
    {"peer_id", "0", "1"},
    {"pidfile", "", "/var/run/pgbouncer/pgbouncer.pid"},
    {"pkt_buf", "4096", "8192"},
    {"pool_idle_timeout", "0", "120"},
    {"pool_mode", "session", "transaction"},
    {"query_timeout", "0", "90"},
    {"query_wait_notify", "5", "3"},
    {"query_wait_timeout", "120", "60"},
    {"reserve_pool_size", "0", "3"},
    {"reserve_pool_timeout", "5", "2.5"},
    {"resolv_conf", "", "/etc/pgbouncer/resolv.conf"},
    {"sbuf_loopcnt", "5", "10"},
    {"scram_iterations", "4096", "8192"},
    {"server_check_delay", "30", "10"},
    {"server_check_query", "<empty>", "select 1"},
    {"server_connect_timeout", "15", "5"},
    {"server_fast_close", "0", "1"},
    {"server_idle_timeout", "600", "300"},
    {"server_lifetime", "3600", "1800"},
    {"server_login_retry", "15", "3"},
    {"server_reset_query", "DISCARD ALL", "DEALLOCATE ALL"},
    {"server_reset_query_always", "0", "1"},
    {"server_round_robin", "0", "1"},
    {"server_tls13_ciphers", "", "TLS_AES_128_GCM_SHA256"},
    {"server_tls_ca_file", "", "/etc/ssl/server-ca.crt"},
    {"server_tls_cert_file", "", "/etc/ssl/server.crt"},
    {"server_tls_ciphers", "default", "secure"},
    {"server_tls_key_file", "", "/etc/ssl/server.key"},
    {"server_tls_protocols", "secure", "all"},
    {"server_tls_sslmode", "prefer", "require"},
    {"service_name", "pgbouncer", "usher-test"},
    {"so_reuseport", "0", "1"},
    {"stats_period", "60", "30"},
    {"stats_users", "", "stats,monitor"},
    {"suspend_timeout", "10", "20"},
    {"syslog", "0", "1"},
    {"syslog_facility", "daemon", "local0"},
    {"syslog_ident", "pgbouncer", "usher"},
    {"tcp_defer_accept", "1", "0"},
    {"tcp_keepalive", "1", "0"},
    {"tcp_keepcnt", "0", "5"},
    {"tcp_keepidle", "0", "60"},
    {"tcp_keepintvl", "0", "10"},
    {"tcp_socket_buffer", "0", "65536"},
    {"tcp_user_timeout", "0", "30000"},
    {"track_extra_parameters", "IntervalStyle", "IntervalStyle,search_path"},
    {"transaction_timeout", "0", "900"},
    {"unix_socket_dir", "/tmp", "/var/run/postgresql"},
    {"unix_socket_group", "", "postgres"},
    {"unix_socket_mode", "0777", "0770"},
    {"user", "", "postgres"},
    {"verbose", "0", "2"},
};

// Keys PgBouncer does not have (config_cache_keys_test.cpp covers the
// query cache's).
const std::set<std::string_view> kUsherOnlyKeys = {
    "http_auth_token_file",
    "http_cors_allow_credentials",
    "http_cors_origins",
    "http_listen_addr",
    "http_listen_port",
    "http_public_read",
    "log_format",
    "query_cache",
    "query_cache_exclude_tables",
    "query_cache_invalidation",
    "query_cache_max_entry",
    "query_cache_replication_user",
    "query_cache_size",
    "query_cache_tables",
    "query_cache_ttl",
    "server_channel_binding",
    "workers",
};

// Where Usher's default differs on purpose (docs/configuration.md says why):
// the auth_query is schema-qualified.
const std::set<std::string_view> kDifferentDefaults = {"auth_query"};

// PgBouncer's CF_NO_RELOAD keys: read at startup only.
const std::set<std::string_view> kPgBouncerRestartKeys = {
    "disable_pqexec",   "job_name",
    "listen_addr",      "listen_backlog",
    "listen_port",      "pidfile",
    "pkt_buf",          "resolv_conf",
    "so_reuseport",     "track_extra_parameters",
    "unix_socket_dir",  "unix_socket_group",
    "unix_socket_mode", "user",
};

// Usher reads peer_id once (its cancel keys carry it), and applies a changed
// track_extra_parameters to the next clients; workers is its own.
const std::set<std::string_view> kRestartDifferences = {
    "http_listen_addr", "http_listen_port", "peer_id", "track_extra_parameters", "workers"};

const MainKey* find_main_key(std::string_view key) {
  for (const auto& k : kMainKeys) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

std::string row_value(const std::vector<ConfigRow>& rows, std::string_view key) {
  for (const auto& row : rows) {
    if (row.key == key) return row.value;
  }
  ADD_FAILURE() << "SHOW CONFIG has no row for " << key;
  return "<missing>";
}

class ConfigPgbouncerKeys : public testing::ConfigFileTest {
 protected:
  // "file:N: " of the first line of `text` that starts with `prefix`.
  std::string at_line(std::string_view text, std::string_view prefix) const {
    int line = 1;
    size_t pos = 0;
    while (pos < text.size()) {
      if (text.substr(pos, prefix.size()) == prefix) return path_ + ":" + std::to_string(line);
      pos = text.find('\n', pos);
      if (pos == std::string_view::npos) break;
      ++pos;
      ++line;
    }
    ADD_FAILURE() << "no line starts with " << prefix;
    return path_;
  }
};

TEST_F(ConfigPgbouncerKeys, EveryPgBouncerKeyIsKnown) {
  for (const auto& k : kMainKeys) {
    EXPECT_NE(find_setting(k.key), nullptr) << k.key;
  }
}

TEST_F(ConfigPgbouncerKeys, EveryUsherKeyIsPgBouncersOrMarkedUsherOnly) {
  for (const auto& spec : setting_specs()) {
    EXPECT_TRUE(find_main_key(spec.name) != nullptr || kUsherOnlyKeys.count(spec.name) > 0)
        << spec.name << " is neither a PgBouncer 1.26 key nor marked Usher-only";
  }
}

TEST_F(ConfigPgbouncerKeys, DefaultsArePgBouncers) {
  const std::vector<ConfigRow> rows = describe(Config{});
  for (const auto& row : rows) {
    const MainKey* k = find_main_key(row.key);
    if (k == nullptr || row.key == "conffile") continue;  // conffile: the file loaded
    if (kDifferentDefaults.count(row.key) > 0) {
      EXPECT_NE(row.default_value, k->pgbouncer_default) << row.key << " now matches: update "
                                                         << "kDifferentDefaults and the docs";
      continue;
    }
    EXPECT_EQ(row.default_value, k->pgbouncer_default) << row.key;
  }
  EXPECT_NE(row_value(rows, "auth_query").find("pg_catalog.pg_authid"), std::string::npos);
}

TEST_F(ConfigPgbouncerKeys, RestartOnlyKeysAsPgBouncer) {
  for (const auto& spec : setting_specs()) {
    if (spec.alias || kRestartDifferences.count(spec.name) > 0) continue;
    EXPECT_EQ(spec.changeable, kPgBouncerRestartKeys.count(spec.name) == 0) << spec.name;
  }
  EXPECT_FALSE(find_setting("peer_id")->changeable);
  EXPECT_TRUE(find_setting("track_extra_parameters")->changeable);
}

TEST_F(ConfigPgbouncerKeys, AFileWithEveryKeyOfEverySectionLoads) {
  dir_.write("userlist.txt",
             "\"pgbouncer_auth\" \"md5d9b2a2c1e6b8c8f0d5b2f8f0e6e3e7a1\"\n"
             "\"admin\" \"plain secret\"\n");
  std::string text = "[pgbouncer]\n";
  for (const auto& k : kMainKeys) {
    text += std::string(k.key) + " = " + std::string(k.value) + "\n";
  }
  text +=
      "\n[databases]\n"
      "full = host=db1.example.com,db2.example.com port=5433 dbname=appdb user=app "
      "password='s3 cret' auth_user=dbauth auth_dbname=authdb "
      "auth_query='SELECT usename, passwd FROM pg_shadow WHERE usename=$1' pool_size=30 "
      "min_pool_size=2 reserve_pool_size=4 max_db_connections=40 max_db_client_connections=200 "
      "pool_mode=statement server_lifetime=1200 query_wait_timeout=30 "
      "connect_query='SELECT 1' load_balance_hosts=disable target_session_attrs=any "
      "application_name=usher-app client_encoding=UTF8 datestyle=ISO timezone=UTC\n"
      "legacy = host=/var/run/postgresql reserve_pool=5 query_wait_timeout=-1\n"
      "authdb = host=127.0.0.1 dbname=postgres\n"
      "socketdb =\n"
      "\"odd db\" = host=localhost load_balance_hosts=round-robin\n"
      "* = host=fallback.example.com port=6000\n"
      "\n[users]\n"
      "app = pool_mode=session pool_size=15 reserve_pool_size=2 max_user_connections=25 "
      "max_user_client_connections=50 query_timeout=300 query_wait_timeout=-1 "
      "idle_transaction_timeout=60 transaction_timeout=600 client_idle_timeout=3600\n"
      "\n[peers]\n"
      "1 = host=/tmp/pgbouncer1\n"
      "2 = host=10.0.0.2 port=6433 pool_size=7\n";

  const LoadResult r = load_ok(text);
  EXPECT_TRUE(r.warnings.empty());

  // Every [pgbouncer] key holds what the file said.
  const Config& c = r.config;
  const std::vector<ConfigRow> rows = describe(c);
  for (const auto& k : kMainKeys) {
    if (k.key == "service_name") continue;  // the alias: job_name's row
    EXPECT_EQ(row_value(rows, k.key), k.value) << k.key;
  }

  // A sample of typed members.
  EXPECT_EQ(c.listen_addr, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(c.listen_port, 6543);
  EXPECT_EQ(c.unix_socket_mode, 0770);
  EXPECT_EQ(c.pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(c.auth_type, AuthType::kScramSha256);
  EXPECT_EQ(c.reserve_pool_timeout, milliseconds(2'500));
  EXPECT_EQ(c.pool_idle_timeout, milliseconds(120'000));
  EXPECT_EQ(c.query_wait_notify, milliseconds(3'000));
  EXPECT_EQ(c.transaction_timeout, milliseconds(900'000));
  EXPECT_EQ(c.stats_period, milliseconds(30'000));
  EXPECT_EQ(c.max_packet_size, 1073741824);
  EXPECT_EQ(c.max_user_client_connections, 300);
  EXPECT_EQ(c.peer_id, 1);
  EXPECT_EQ(c.job_name, "usher-test");
  EXPECT_FALSE(c.tcp_defer_accept);
  EXPECT_TRUE(c.so_reuseport);
  EXPECT_EQ(c.tcp_user_timeout, 30000);
  EXPECT_EQ(c.login_notify_message, "Welcome to the pooler");
  EXPECT_EQ(c.auth_ldap_options, "ldapurl=\"ldap://127.0.0.1:12345/dc=example,dc=net?uid?sub\"");
  EXPECT_EQ(c.track_extra_parameters, (std::vector<std::string>{"IntervalStyle", "search_path"}));
  EXPECT_EQ(c.auth_users.size(), 2u);

  ASSERT_EQ(c.databases.count("full"), 1u);
  const DatabaseConfig& full = c.databases.at("full");
  EXPECT_EQ(full.hosts, (std::vector<std::string>{"db1.example.com", "db2.example.com"}));
  EXPECT_EQ(full.host, "db1.example.com");
  EXPECT_EQ(full.port, 5433);
  EXPECT_EQ(full.dbname, "appdb");
  EXPECT_EQ(full.user, "app");
  EXPECT_EQ(full.password, "s3 cret");
  EXPECT_EQ(full.auth_user, "dbauth");
  EXPECT_EQ(full.auth_dbname, "authdb");
  EXPECT_EQ(full.auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  EXPECT_EQ(full.pool_size, 30);
  EXPECT_EQ(full.min_pool_size, 2);
  EXPECT_EQ(full.reserve_pool_size, 4);
  EXPECT_EQ(full.max_db_connections, 40);
  EXPECT_EQ(full.max_db_client_connections, 200);
  EXPECT_EQ(full.pool_mode, PoolMode::kStatement);
  EXPECT_EQ(full.server_lifetime, milliseconds(1'200'000));
  EXPECT_EQ(full.query_wait_timeout, milliseconds(30'000));
  EXPECT_EQ(full.connect_query, "SELECT 1");
  EXPECT_EQ(full.load_balance_hosts, "disable");
  EXPECT_EQ(full.target_session_attrs, "any");
  EXPECT_EQ(full.application_name, "usher-app");
  EXPECT_EQ(full.client_encoding, "UTF8");
  EXPECT_EQ(full.datestyle, "ISO");
  EXPECT_EQ(full.timezone, "UTC");

  const DatabaseConfig& legacy = c.databases.at("legacy");
  EXPECT_EQ(legacy.host, "/var/run/postgresql");
  EXPECT_EQ(legacy.reserve_pool_size, 5);   // reserve_pool: the old spelling
  EXPECT_FALSE(legacy.query_wait_timeout);  // -1: not set
  EXPECT_EQ(c.databases.at("socketdb").host, "");
  EXPECT_EQ(c.databases.at("socketdb").dbname, "socketdb");
  EXPECT_EQ(c.databases.at("odd db").load_balance_hosts, "round-robin");
  ASSERT_TRUE(c.fallback_database);
  EXPECT_EQ(c.fallback_database->host, "fallback.example.com");
  EXPECT_EQ(c.fallback_database->port, 6000);

  ASSERT_EQ(c.users.count("app"), 1u);
  const UserConfig& app = c.users.at("app");
  EXPECT_EQ(app.pool_mode, PoolMode::kSession);
  EXPECT_EQ(app.pool_size, 15);
  EXPECT_EQ(app.reserve_pool_size, 2);
  EXPECT_EQ(app.max_user_connections, 25);
  EXPECT_EQ(app.max_user_client_connections, 50);
  EXPECT_EQ(app.query_timeout, milliseconds(300'000));
  EXPECT_FALSE(app.query_wait_timeout);
  EXPECT_EQ(app.idle_transaction_timeout, milliseconds(60'000));
  EXPECT_EQ(app.transaction_timeout, milliseconds(600'000));
  EXPECT_EQ(app.client_idle_timeout, milliseconds(3'600'000));

  ASSERT_EQ(c.peers.size(), 2u);
  EXPECT_EQ(c.peers.at(1).host, "/tmp/pgbouncer1");
  EXPECT_EQ(c.peers.at(1).port, 6432);
  EXPECT_EQ(c.peers.at(2).host, "10.0.0.2");
  EXPECT_EQ(c.peers.at(2).port, 6433);
  EXPECT_EQ(c.peers.at(2).pool_size, 7);
}

TEST_F(ConfigPgbouncerKeys, EveryDocumentedChoiceLoads) {
  for (const char* mode : {"session", "transaction", "statement"}) {
    EXPECT_TRUE(load(std::string("[pgbouncer]\npool_mode = ") + mode + "\n").ok()) << mode;
  }
  for (const char* type : {"any", "trust", "plain", "md5", "scram-sha-256", "cert"}) {
    EXPECT_TRUE(load(std::string("[pgbouncer]\nauth_type = ") + type + "\n").ok()) << type;
  }
  for (const char* facility : {"auth", "authpriv", "daemon", "user", "local0", "local1", "local2",
                               "local3", "local4", "local5", "local6", "local7"}) {
    EXPECT_TRUE(load(std::string("[pgbouncer]\nsyslog_facility = ") + facility + "\n").ok())
        << facility;
  }
  for (const char* mode : {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    EXPECT_TRUE(load(std::string("[pgbouncer]\nclient_tls_sslmode = ") + mode +
                     "\nserver_tls_sslmode = " + mode + "\n")
                    .ok())
        << mode;
  }
  for (const char* lb : {"round-robin", "disable"}) {
    EXPECT_TRUE(
        load(std::string("[pgbouncer]\n[databases]\nd = host=a,b load_balance_hosts=") + lb + "\n")
            .ok())
        << lb;
  }
  // Seconds as PgBouncer writes them in its own docs and sample file.
  const LoadResult r = load_ok("[pgbouncer]\nserver_check_delay = 30.0\nquery_timeout = 0.0\n");
  EXPECT_EQ(r.config.server_check_delay, milliseconds(30'000));
}

// Values PgBouncer reads as plain integers, which Usher's typed parsers
// refused before.
TEST_F(ConfigPgbouncerKeys, IntegerReadingsOfPgBouncer) {
  // Booleans are ints in PgBouncer: any nonzero number is on. Old PgBouncer
  // docs gave tcp_defer_accept's default as 45 (seconds).
  LoadResult r = load_ok("[pgbouncer]\ntcp_defer_accept = 45\nlog_stats = 2\nsyslog = 0\n");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_TRUE(r.config.tcp_defer_accept);
  EXPECT_TRUE(r.config.log_stats);
  EXPECT_FALSE(r.config.syslog);

  // max_packet_size is an unsigned int in PgBouncer; above 2^31-1 it means
  // no more than the protocol's own limit.
  r = load_ok("[pgbouncer]\nmax_packet_size = 4294967295\n");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config.max_packet_size, 2147483647);
  EXPECT_EQ(load_error("[pgbouncer]\nmax_packet_size = 4294967296\n"),
            path_ + ":2: invalid value for max_packet_size: expected an integer >= 1024");

  // A [peers] key may go up to 65535 in PgBouncer, though no peer_id can be
  // above 16383: such an entry loads, with a warning, and is left out.
  r = load_ok("[pgbouncer]\n[peers]\n40000 = host=10.0.0.9\n3 = host=10.0.0.3\n");
  EXPECT_EQ(r.warnings,
            (std::vector<std::string>{
                path_ + ":3: [peers] entry 40000 ignored: no peer_id is above 16383, so "
                        "no cancel request can belong to it"}));
  EXPECT_EQ(r.config.peers.size(), 1u);
  EXPECT_EQ(r.config.peers.count(3), 1u);
  EXPECT_EQ(load_error("[pgbouncer]\n[peers]\n65536 = host=a\n"),
            path_ + ":3: [peers] entry: the key must be a peer_id from 1 to 65535");
}

// Valid PgBouncer values Usher refuses on purpose, each with a message that
// says why (docs/configuration.md, "Not supported yet"): loading them and
// doing something else would fail silently.
TEST_F(ConfigPgbouncerKeys, DocumentedRefusals) {
  for (const char* type : {"pam", "ldap"}) {
    EXPECT_NE(load_error(std::string("[pgbouncer]\nauth_type = ") + type + "\n")
                  .find("not supported by Usher yet"),
              std::string::npos)
        << type;
  }
  for (const char* attrs : {"read-write", "read-only", "primary", "standby"}) {
    EXPECT_NE(load_error(std::string("[pgbouncer]\n[databases]\nd = target_session_attrs=") +
                         attrs + "\n")
                  .find("only \"any\" is supported by Usher yet"),
              std::string::npos)
        << attrs;
  }
}

}  // namespace
}  // namespace usher::config
