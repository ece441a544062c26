#include <gtest/gtest.h>

#include <algorithm>

#include "config/config.h"
#include "config_test_util.h"

namespace usher::config {
namespace {

using std::chrono::milliseconds;
using testing::TempDir;

class ConfigLoad : public testing::ConfigFileTest {};

TEST_F(ConfigLoad, DefaultsMatchPgBouncer) {
  const LoadResult r = load_ok("[pgbouncer]\n");
  const Config& c = r.config;
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_TRUE(c.listen_addr.empty());
  EXPECT_EQ(c.listen_port, 6432);
  EXPECT_EQ(c.unix_socket_dir, "/tmp");
  EXPECT_EQ(c.unix_socket_mode, 0777);
  EXPECT_EQ(c.auth_type, AuthType::kMd5);
  EXPECT_EQ(c.pool_mode, PoolMode::kSession);
  EXPECT_EQ(c.max_client_conn, 100);
  EXPECT_EQ(c.default_pool_size, 20);
  EXPECT_EQ(c.min_pool_size, 0);
  EXPECT_EQ(c.reserve_pool_size, 0);
  EXPECT_EQ(c.reserve_pool_timeout, milliseconds(5000));
  EXPECT_EQ(c.max_db_connections, 0);
  EXPECT_EQ(c.max_user_connections, 0);
  EXPECT_FALSE(c.server_round_robin);
  EXPECT_TRUE(c.ignore_startup_parameters.empty());
  EXPECT_TRUE(c.log_connections);
  EXPECT_TRUE(c.log_disconnections);
  EXPECT_TRUE(c.log_pooler_errors);
  EXPECT_TRUE(c.log_stats);
  EXPECT_EQ(c.stats_period, milliseconds(60'000));
  EXPECT_EQ(c.verbose, 0);
  EXPECT_EQ(c.server_reset_query, "DISCARD ALL");
  EXPECT_FALSE(c.server_reset_query_always);
  EXPECT_EQ(c.server_check_delay, milliseconds(30'000));
  EXPECT_EQ(c.server_check_query, "<empty>");
  EXPECT_EQ(c.server_lifetime, milliseconds(3'600'000));
  EXPECT_EQ(c.server_idle_timeout, milliseconds(600'000));
  EXPECT_EQ(c.server_connect_timeout, milliseconds(15'000));
  EXPECT_EQ(c.server_login_retry, milliseconds(15'000));
  EXPECT_EQ(c.client_idle_timeout, milliseconds(0));
  EXPECT_EQ(c.client_login_timeout, milliseconds(60'000));
  EXPECT_EQ(c.autodb_idle_timeout, milliseconds(3'600'000));
  EXPECT_EQ(c.idle_transaction_timeout, milliseconds(0));
  EXPECT_EQ(c.query_timeout, milliseconds(0));
  EXPECT_EQ(c.query_wait_timeout, milliseconds(120'000));
  EXPECT_EQ(c.cancel_wait_timeout, milliseconds(10'000));
  EXPECT_EQ(c.suspend_timeout, milliseconds(10'000));
  EXPECT_EQ(c.transaction_timeout, milliseconds(0));
  EXPECT_EQ(c.pkt_buf, 4096);
  EXPECT_EQ(c.max_packet_size, 2147483647);
  EXPECT_EQ(c.listen_backlog, 128);
  EXPECT_EQ(c.sbuf_loopcnt, 5);
  EXPECT_FALSE(c.so_reuseport);
  EXPECT_TRUE(c.tcp_keepalive);
  EXPECT_EQ(c.max_prepared_statements, 200);  // PgBouncer 1.24+; 0 before
  EXPECT_EQ(c.client_tls_sslmode, "disable");
  EXPECT_EQ(c.server_tls_sslmode, "prefer");  // PgBouncer's since 1.20
  EXPECT_EQ(c.workers, 0);
  EXPECT_EQ(c.config_path, path_);
  EXPECT_EQ(c.conffile, path_);
  EXPECT_TRUE(c.databases.empty());
  EXPECT_FALSE(c.fallback_database);
  EXPECT_TRUE(c.users.empty());
  EXPECT_TRUE(c.auth_users.empty());
}

TEST_F(ConfigLoad, EachValueType) {
  const LoadResult r = load_ok(
      "[pgbouncer]\n"
      "listen_addr = 127.0.0.1, ::1\n"
      "listen_port = 7432\n"
      "unix_socket_dir =\n"
      "unix_socket_mode = 0700\n"
      "pool_mode = Transaction\n"
      "auth_type = scram-sha-256\n"
      "default_pool_size = 50\n"
      "server_round_robin = yes\n"
      "log_connections = off\n"
      "reserve_pool_timeout = 0.5\n"
      "server_idle_timeout = 2min\n"
      "query_wait_timeout = 250ms\n"
      "admin_users = admin, postgres\n"
      "ignore_startup_parameters = extra_float_digits,options\n"
      "server_reset_query = DEALLOCATE ALL\n"
      "client_tls_sslmode = Disable\n"
      "client_tls_key_file = /k.pem\n"
      "client_tls_cert_file = /c.pem\n"
      "max_prepared_statements = 0\n"
      "workers = 4\n"
      "service_name = usher1\n");
  const Config& c = r.config;
  EXPECT_EQ(c.listen_addr, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(c.listen_port, 7432);
  EXPECT_EQ(c.unix_socket_dir, "");
  EXPECT_EQ(c.unix_socket_mode, 0700);
  EXPECT_EQ(c.pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(c.auth_type, AuthType::kScramSha256);
  EXPECT_EQ(c.default_pool_size, 50);
  EXPECT_TRUE(c.server_round_robin);
  EXPECT_FALSE(c.log_connections);
  EXPECT_EQ(c.reserve_pool_timeout, milliseconds(500));
  EXPECT_EQ(c.server_idle_timeout, milliseconds(120'000));
  EXPECT_EQ(c.query_wait_timeout, milliseconds(250));
  EXPECT_EQ(c.admin_users, (std::vector<std::string>{"admin", "postgres"}));
  EXPECT_EQ(c.ignore_startup_parameters,
            (std::vector<std::string>{"extra_float_digits", "options"}));
  EXPECT_EQ(c.server_reset_query, "DEALLOCATE ALL");
  EXPECT_EQ(c.client_tls_sslmode, "disable");
  EXPECT_EQ(c.max_prepared_statements, 0);
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(c.job_name, "usher1");
}

TEST_F(ConfigLoad, ListenAddrStar) {
  const LoadResult r = load_ok("[pgbouncer]\nlisten_addr = *\n");
  EXPECT_EQ(r.config.listen_addr, std::vector<std::string>{"*"});
}

TEST_F(ConfigLoad, LaterAssignmentWins) {
  const LoadResult r = load_ok("[pgbouncer]\nlisten_port = 1000\nlisten_port = 2000\n");
  EXPECT_EQ(r.config.listen_port, 2000);
}

TEST_F(ConfigLoad, BadValueNamesFileLineKeyAndExpectation) {
  EXPECT_EQ(load_error("[pgbouncer]\nlisten_port = 6432\n\npool_mode = abc\n"),
            path_ +
                ":4: invalid value for pool_mode: expected session, transaction or "
                "statement");
  EXPECT_EQ(load_error("[pgbouncer]\nlisten_port = 70000\n"),
            path_ +
                ":2: invalid value for listen_port: expected an integer between 1 "
                "and 65535");
  EXPECT_EQ(load_error("[pgbouncer]\nlog_stats = maybe\n"),
            path_ +
                ":2: invalid value for log_stats: expected 0, 1, yes, no, on, off, "
                "true or false");
  EXPECT_EQ(load_error("[pgbouncer]\nserver_lifetime = 1 hour\n"),
            path_ +
                ":2: invalid value for server_lifetime: expected a duration in "
                "seconds (e.g. 30 or 0.5) or with a unit (ms, s, min, h, d)");
  EXPECT_EQ(load_error("[pgbouncer]\ndefault_pool_size = -1\n"),
            path_ + ":2: invalid value for default_pool_size: expected an integer >= 0");
  EXPECT_EQ(load_error("[pgbouncer]\nserver_tls_sslmode = sometimes\n"),
            path_ +
                ":2: invalid value for server_tls_sslmode: expected disable, "
                "allow, prefer, require, verify-ca or verify-full");
  EXPECT_EQ(load_error("[pgbouncer]\nunix_socket_mode = 999\n"),
            path_ +
                ":2: invalid value for unix_socket_mode: expected an octal mode "
                "between 0 and 0777");
  auto r = load("[pgbouncer]\npool_mode = abc\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "F0000");
}

TEST_F(ConfigLoad, UnsupportedAuthTypeIsAClearError) {
  EXPECT_EQ(load_error("[pgbouncer]\nauth_type = pam\n"),
            path_ +
                ":2: invalid value for auth_type: not supported by Usher yet; use "
                "trust, any, plain, md5, scram-sha-256, cert or hba");
}

TEST_F(ConfigLoad, AuthTypeHbaReadsTheFileAndItsIncludes) {
  EXPECT_EQ(load_error("[pgbouncer]\nauth_type = hba\n"),
            path_ + ":2: auth_type = hba needs auth_hba_file");
  EXPECT_EQ(load_error("[pgbouncer]\nauth_type = hba\nauth_hba_file = /nonexistent/hba.conf\n"),
            path_ + ":3: cannot read auth_hba_file /nonexistent/hba.conf");
  dir_.write("users", "app\n");
  dir_.write("hba.conf", "local all all peer\nhost all @users 10.0.0.0/8 md5\n");
  const LoadResult r = load_ok("[pgbouncer]\nauth_type = hba\nauth_hba_file = hba.conf\n");
  ASSERT_EQ(r.config.hba_rules.size(), 2u);
  EXPECT_EQ(r.config.hba_rules[1].users.at(0).text, "app");
  dir_.write("hba.conf", "local all all peer\nhost all all 10.0.0.0/8 gss\n");
  EXPECT_EQ(load_error("[pgbouncer]\nauth_type = hba\nauth_hba_file = hba.conf\n"),
            dir_.path() + "/hba.conf:2: authentication method \"gss\" is not supported");
}

TEST_F(ConfigLoad, AuthHbaFileIsStored) {
  const LoadResult r = load_ok("[pgbouncer]\nauth_hba_file = /etc/pgbouncer/hba.conf\n");
  EXPECT_EQ(r.config.auth_hba_file, "/etc/pgbouncer/hba.conf");
}

TEST_F(ConfigLoad, UnknownKeyIsAWarningWithFileAndLine) {
  const LoadResult r = load_ok("[pgbouncer]\nlisten_port = 1\nno_such_thing = 5\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], path_ + ":3: unknown setting \"no_such_thing\" in [pgbouncer] ignored");
  EXPECT_EQ(r.config.listen_port, 1);
}

TEST_F(ConfigLoad, UnknownSectionsAreWarnings) {
  const LoadResult r = load_ok("[pgbouncer]\n[whatever]\nx = y\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], path_ + ":2: unknown section [whatever] ignored");
}

TEST_F(ConfigLoad, Peers) {
  const LoadResult r = load_ok(
      "[pgbouncer]\npeer_id = 1\n[peers]\n1 = host=/tmp/pgbouncer1\n"
      "2 = host=10.0.0.2 port=6433 pool_size=7\n");
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.config.peers.size(), 2u);
  EXPECT_EQ(r.config.peers.at(1).host, "/tmp/pgbouncer1");
  EXPECT_EQ(r.config.peers.at(1).port, 6432);
  EXPECT_FALSE(r.config.peers.at(1).pool_size);
  EXPECT_EQ(r.config.peers.at(2).port, 6433);
  EXPECT_EQ(r.config.peers.at(2).pool_size, 7);
  EXPECT_EQ(load_error("[pgbouncer]\n[peers]\n0 = host=a\n"),
            path_ + ":3: [peers] entry: the key must be a peer_id from 1 to 65535");
  EXPECT_EQ(load_error("[pgbouncer]\n[peers]\n3 = port=1\n"),
            path_ + ":3: [peers] entry: host was not provided for peer 3");
  EXPECT_EQ(load_error("[pgbouncer]\n[peers]\n3 = host=a dbname=x\n"),
            path_ + ":3: [peers] entry: unknown key (known keys: host, port, pool_size)");
}

TEST_F(ConfigLoad, DatabaseKeysOfPgBouncer126) {
  const LoadResult r = load_ok(
      "[pgbouncer]\n[databases]\n"
      "a = host=h1,h2 load_balance_hosts=disable target_session_attrs=any\n"
      "b = host=h1,h2 load_balance_hosts=Round-Robin\n");
  EXPECT_EQ(r.config.databases.at("a").load_balance_hosts, "disable");
  EXPECT_EQ(r.config.databases.at("b").load_balance_hosts, "round-robin");
  EXPECT_EQ(load_error("[pgbouncer]\n[databases]\na = load_balance_hosts=random\n"),
            path_ +
                ":3: [databases] entry: invalid value for load_balance_hosts: expected "
                "round-robin or disable");
  EXPECT_NE(load_error("[pgbouncer]\n[databases]\na = target_session_attrs=read-write\n")
                .find("only \"any\" is supported by Usher yet"),
            std::string::npos);
}

TEST_F(ConfigLoad, MainKeysOfPgBouncer126) {
  const LoadResult r = load_ok(
      "[pgbouncer]\npool_idle_timeout = 30\nquery_wait_notify = 2\n"
      "login_notify_message = hello\nauth_ldap_options = ldapurl=\"ldap://x\"\n");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config.pool_idle_timeout, Duration(30'000));
  EXPECT_EQ(r.config.query_wait_notify, Duration(2'000));
  EXPECT_EQ(r.config.login_notify_message, "hello");
}

TEST_F(ConfigLoad, MissingMainSectionIsAnError) {
  EXPECT_EQ(load_error("[databases]\nx = host=a\n"), path_ + ": missing [pgbouncer] section");
}

TEST_F(ConfigLoad, NoListenerAtAllIsAnError) {
  EXPECT_EQ(load_error("[pgbouncer]\nunix_socket_dir =\n"),
            path_ +
                ": neither listen_addr nor unix_socket_dir is set, so no client could "
                "connect");
}

TEST_F(ConfigLoad, EverySslModeLoads) {
  // The files are read when the TLS contexts are made (net/tls.h), not here.
  for (const char* mode : {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    const LoadResult r = load_ok(std::string("[pgbouncer]\nclient_tls_sslmode = ") + mode +
                                 "\nserver_tls_sslmode = " + mode + "\n");
    EXPECT_TRUE(r.warnings.empty()) << mode;
    EXPECT_EQ(r.config.client_tls_sslmode, mode);
  }
}

TEST_F(ConfigLoad, AuthUserLoads) {
  const LoadResult r = load_ok(
      "[databases]\nx = host=h auth_user=a auth_dbname=y auth_query='SELECT u, p FROM t "
      "WHERE u=$1'\n[pgbouncer]\nauth_user = pgbouncer\n");
  EXPECT_EQ(r.config.auth_user, "pgbouncer");
  EXPECT_EQ(r.config.databases.at("x").auth_user, "a");
  EXPECT_EQ(r.config.databases.at("x").auth_query, "SELECT u, p FROM t WHERE u=$1");
  EXPECT_NE(r.config.auth_query.find("rolvaliduntil"), std::string::npos);
}

TEST_F(ConfigLoad, TrackExtraParameters) {
  const LoadResult r =
      load_ok("[pgbouncer]\ntrack_extra_parameters = IntervalStyle, search_path, x.tenant\n");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.config.track_extra_parameters,
            (std::vector<std::string>{"IntervalStyle", "search_path", "x.tenant"}));
  EXPECT_EQ(load_error("[pgbouncer]\ntrack_extra_parameters = TimeZone, Options\n"),
            path_ +
                ":2: track_extra_parameters: \"options\" cannot be tracked, only the parameters "
                "inside it");
  std::string many = "[pgbouncer]\ntrack_extra_parameters = ";
  for (int i = 0; i < 33; ++i)
    many += "x.p" + std::to_string(i) + ",";
  EXPECT_EQ(load_error(many + "\n"), path_ + ":2: track_extra_parameters: at most 32 names");
}

TEST_F(ConfigLoad, SyslogFacility) {
  EXPECT_EQ(load_ok("[pgbouncer]\nsyslog_facility = local3\n").config.syslog_facility, "local3");
  EXPECT_EQ(load_error("[pgbouncer]\nsyslog_facility = kernel\n"),
            path_ +
                ":2: invalid value for syslog_facility: expected auth, authpriv, "
                "daemon, user, local0, local1, local2, local3, local4, local5, local6 or "
                "local7");
}

TEST_F(ConfigLoad, StatsPeriodMustBePositive) {
  EXPECT_EQ(load_error("[pgbouncer]\nstats_period = 0\n"),
            path_ + ":2: stats_period must be greater than 0");
}

TEST_F(ConfigLoad, Databases) {
  const LoadResult r = load_ok(
      "[databases]\n"
      "foodb =\n"
      "bardb = host=localhost dbname=bazdb\n"
      "forcedb = host=localhost port=300 user=baz password=foo client_encoding=UNICODE "
      "datestyle=ISO pool_size=7 pool_mode=statement\n"
      "\"my db\" = host=/var/run/postgresql\n"
      "[pgbouncer]\n");
  const auto& dbs = r.config.databases;
  ASSERT_EQ(dbs.size(), 4u);

  const DatabaseConfig& foo = dbs.at("foodb");
  EXPECT_EQ(foo.name, "foodb");
  EXPECT_EQ(foo.dbname, "foodb");  // defaults to the entry's name
  EXPECT_EQ(foo.host, "");         // Unix socket in unix_socket_dir
  EXPECT_EQ(foo.port, 5432);
  EXPECT_EQ(foo.where.str(), path_ + ":2");

  EXPECT_EQ(dbs.at("bardb").dbname, "bazdb");
  EXPECT_EQ(dbs.at("bardb").host, "localhost");

  const DatabaseConfig& forced = dbs.at("forcedb");
  EXPECT_EQ(forced.port, 300);
  EXPECT_EQ(forced.user, "baz");
  EXPECT_EQ(forced.password, "foo");
  EXPECT_EQ(forced.client_encoding, "UNICODE");
  EXPECT_EQ(forced.datestyle, "ISO");
  EXPECT_EQ(forced.pool_size, 7);
  EXPECT_EQ(forced.pool_mode, PoolMode::kStatement);
  EXPECT_FALSE(forced.reserve_pool_size);  // inherits reserve_pool_size

  EXPECT_EQ(dbs.at("my db").host, "/var/run/postgresql");
  EXPECT_EQ(dbs.at("my db").dbname, "my db");
}

TEST_F(ConfigLoad, DatabaseErrorsNameFileAndLine) {
  EXPECT_EQ(load_error("[pgbouncer]\n[databases]\nmydb = host=a port=x\n"),
            path_ +
                ":3: [databases] entry: invalid value for port: expected an integer "
                "between 1 and 65535");
  EXPECT_EQ(load_error("[pgbouncer]\n[databases]\npgbouncer = host=a\n"),
            path_ + ":3: database name \"pgbouncer\" is reserved for the admin console");
  const std::string unknown = load_error("[pgbouncer]\n[databases]\nmydb = bogus=1\n");
  EXPECT_EQ(unknown.rfind(path_ + ":3: [databases] entry: key=value pair 1: unknown key", 0), 0u)
      << unknown;
}

TEST_F(ConfigLoad, RedefinedDatabaseWarnsAndLaterWins) {
  const LoadResult r = load_ok("[pgbouncer]\n[databases]\nd = port=1\nd = port=2\n");
  EXPECT_EQ(r.config.databases.at("d").port, 2);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], path_ + ":4: database \"d\" defined again (first at " + path_ +
                               ":3); this one is used");
}

TEST_F(ConfigLoad, StarIsTheFallbackDatabase) {
  const LoadResult r = load_ok(
      "[databases]\n"
      "known = host=a dbname=real\n"
      "* = host=fallback port=5555 pool_size=3\n"
      "[pgbouncer]\n");
  const Config& c = r.config;
  ASSERT_TRUE(c.fallback_database);
  EXPECT_FALSE(c.fallback_database->dbname);  // the client's database name
  EXPECT_EQ(c.databases.count("*"), 0u);

  auto known = find_database(c, "known");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->dbname, "real");
  EXPECT_EQ(known->host, "a");

  auto other = find_database(c, "orders");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->name, "orders");
  EXPECT_EQ(other->dbname, "orders");
  EXPECT_EQ(other->host, "fallback");
  EXPECT_EQ(other->port, 5555);
  EXPECT_EQ(other->pool_size, 3);
}

TEST_F(ConfigLoad, FallbackWithFixedDbname) {
  const LoadResult r = load_ok("[databases]\n* = host=x dbname=everything\n[pgbouncer]\n");
  EXPECT_EQ(find_database(r.config, "anything")->dbname, "everything");
}

TEST_F(ConfigLoad, NoFallbackMeansUnknownDatabase) {
  const LoadResult r = load_ok("[databases]\na = host=x\n[pgbouncer]\n");
  EXPECT_FALSE(find_database(r.config, "b"));
}

TEST_F(ConfigLoad, Users) {
  const LoadResult r = load_ok(
      "[pgbouncer]\n"
      "[users]\n"
      "app = pool_mode=transaction max_user_connections=10 pool_size=4\n"
      "report = pool_mode=session\n");
  const auto& users = r.config.users;
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users.at("app").name, "app");
  EXPECT_EQ(users.at("app").pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(users.at("app").max_user_connections, 10);
  EXPECT_EQ(users.at("app").pool_size, 4);
  EXPECT_EQ(users.at("report").pool_mode, PoolMode::kSession);
  EXPECT_FALSE(users.at("report").max_user_connections);
}

TEST_F(ConfigLoad, UserErrorsNameFileAndLine) {
  EXPECT_EQ(load_error("[pgbouncer]\n[users]\napp = pool_mode=fast\n"),
            path_ +
                ":3: [users] entry: invalid value for pool_mode: expected session, "
                "transaction or statement");
}

TEST_F(ConfigLoad, IncludesAreFollowed) {
  dir_.write("conf.d/dbs.ini", "[databases]\nincluded = host=x\n");
  const LoadResult r = load_ok("[pgbouncer]\nlisten_port = 1\n%include conf.d/dbs.ini\n");
  EXPECT_EQ(r.config.databases.count("included"), 1u);
  EXPECT_EQ(r.config.databases.at("included").where.str(), dir_.path() + "/conf.d/dbs.ini:2");
  EXPECT_EQ(r.files, (std::vector<std::string>{path_, dir_.path() + "/conf.d/dbs.ini"}));
}

TEST_F(ConfigLoad, IncludeLoopIsReported) {
  dir_.write("loop.ini", "%include pgbouncer.ini\n");
  const std::string error = load_error("[pgbouncer]\n%include loop.ini\n");
  EXPECT_NE(error.find("%include loop"), std::string::npos) << error;
}

TEST_F(ConfigLoad, AuthFileIsLoadedRelativeToTheConfigFile) {
  dir_.write("userlist.txt", "\"admin\" \"md545f2603610af569b6155c45067268c6b\"\n\"u\" \"p\"\n");
  const LoadResult r = load_ok("[pgbouncer]\nauth_file = userlist.txt\n");
  EXPECT_EQ(r.config.auth_file, "userlist.txt");  // as written, for SHOW CONFIG
  ASSERT_EQ(r.config.auth_users.size(), 2u);
  EXPECT_EQ(r.config.auth_users.at("admin"), "md545f2603610af569b6155c45067268c6b");
  EXPECT_EQ(r.config.auth_users.at("u"), "p");
  EXPECT_EQ(r.files, (std::vector<std::string>{path_, dir_.path() + "/userlist.txt"}));
}

TEST_F(ConfigLoad, AuthFileAbsolutePath) {
  const std::string users = dir_.write("elsewhere/users.txt", "\"a\" \"b\"\n");
  const LoadResult r = load_ok("[pgbouncer]\nauth_file = " + users + "\n");
  EXPECT_EQ(r.config.auth_users.at("a"), "b");
}

TEST_F(ConfigLoad, AuthFileProblemsAreErrors) {
  EXPECT_EQ(load_error("[pgbouncer]\n\nauth_file = missing.txt\n"),
            path_ + ":3: cannot load auth_file: cannot open \"" + dir_.path() +
                "/missing.txt\": No such file or directory");
  const std::string bad = dir_.write("bad.txt", "\"a\" \"b\"\noops\n");
  EXPECT_EQ(load_error("[pgbouncer]\nauth_file = bad.txt\n"),
            path_ + ":2: cannot load auth_file: " + bad +
                ":2: expected a double-quoted user name, as in \"user\" \"password\"");
}

// SET conffile + RELOAD lets a console user point the loader at any file
// Usher can read: no error may show what a line of it holds.
TEST_F(ConfigLoad, ErrorsNeverQuoteTheFilesContent) {
  const std::string m = "s3cr3t-marker";
  const std::string files[] = {
      m + "\n",                                          // not key = value
      m + " = x\n",                                      // before any section
      "[pgbouncer] " + m + "\n",                         // text after a section
      "[databases]\n" + m + " x = y\n",                  // key with a space
      "[pgbouncer]\nlisten_port = " + m + "\n",          // bad value
      "[pgbouncer]\nserver_tls_sslmode = " + m + "\n",   // refused value
      "[pgbouncer]\n[databases]\nd = " + m + "\n",       // connstr: no '='
      "[pgbouncer]\n[databases]\nd = " + m + "=1\n",     // connstr: unknown key
      "[pgbouncer]\n[databases]\nd = port=" + m + "\n",  // connstr: bad value
      "[pgbouncer]\n[databases]\n" + m + " = load_balance_hosts=" + m + "\n",
      "[pgbouncer]\n[users]\n" + m + " = pool_mode=" + m + "\n",
      "[pgbouncer]\n[users]\nu = " + m + "=1\n",
      "[pgbouncer]\nauth_file = users.txt\n",  // the user list below
  };
  dir_.write("users.txt", "\"" + m + "\" " + m + "\n");
  for (const auto& text : files) {
    const std::string error = load_error(text);
    EXPECT_EQ(error.find(m), std::string::npos) << error;
    EXPECT_EQ(error.rfind(dir_.path() + "/", 0), 0u) << error;  // it names the file
  }
}

TEST_F(ConfigLoad, AuthTypeAnyWarnsAboutDatabasesWithoutUser) {
  const LoadResult r =
      load_ok("[pgbouncer]\nauth_type = any\n[databases]\nok = user=u\nloose = host=a\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(
      r.warnings[0].rfind(path_ + ":5: auth_type is any but database \"loose\" has no user=", 0),
      0u)
      << r.warnings[0];
}

TEST(ConfigBuild, FromDocumentWithoutFiles) {
  auto doc =
      parse_ini_string("[pgbouncer]\nlisten_port = 5000\n[databases]\nd = host=h\n", "virtual.ini");
  ASSERT_TRUE(doc.ok());
  auto r = build_config(*doc, "virtual.ini");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.listen_port, 5000);
  EXPECT_EQ(r->config.databases.at("d").host, "h");
}

TEST(ConfigDescribe, OneRowPerKeyInAlphabeticalOrder) {
  const Config config;
  const std::vector<ConfigRow> rows = describe(config);
  ASSERT_GT(rows.size(), 80u);
  EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end(),
                             [](const ConfigRow& a, const ConfigRow& b) { return a.key < b.key; }));
  // Aliases are not listed: service_name is job_name.
  for (const auto& row : rows) {
    EXPECT_NE(row.key, "service_name");
    EXPECT_EQ(row.value, row.default_value) << row.key;
  }
}

const ConfigRow& row_for(const std::vector<ConfigRow>& rows, std::string_view key) {
  static const ConfigRow kMissing{"<missing>", "", "", true};
  for (const auto& row : rows) {
    if (row.key == key) return row;
  }
  ADD_FAILURE() << "no row for " << key;
  return kMissing;
}

TEST(ConfigDescribe, ValuesDefaultsAndChangeable) {
  Config config;
  config.pool_mode = PoolMode::kTransaction;
  config.listen_addr = {"127.0.0.1", "::1"};
  config.reserve_pool_timeout = milliseconds(500);
  config.log_connections = false;
  config.workers = 8;
  const auto rows = describe(config);

  const ConfigRow& pool_mode = row_for(rows, "pool_mode");
  EXPECT_EQ(pool_mode.value, "transaction");
  EXPECT_EQ(pool_mode.default_value, "session");
  EXPECT_TRUE(pool_mode.changeable);

  const ConfigRow& listen_addr = row_for(rows, "listen_addr");
  EXPECT_EQ(listen_addr.value, "127.0.0.1,::1");
  EXPECT_EQ(listen_addr.default_value, "");
  EXPECT_FALSE(listen_addr.changeable);

  EXPECT_EQ(row_for(rows, "reserve_pool_timeout").value, "0.5");
  EXPECT_EQ(row_for(rows, "reserve_pool_timeout").default_value, "5");
  EXPECT_EQ(row_for(rows, "log_connections").value, "0");
  EXPECT_EQ(row_for(rows, "log_connections").default_value, "1");
  EXPECT_EQ(row_for(rows, "workers").value, "8");
  EXPECT_FALSE(row_for(rows, "workers").changeable);
  EXPECT_EQ(row_for(rows, "listen_port").default_value, "6432");
  EXPECT_FALSE(row_for(rows, "listen_port").changeable);
  EXPECT_EQ(row_for(rows, "unix_socket_mode").default_value, "0777");
  EXPECT_FALSE(row_for(rows, "unix_socket_dir").changeable);
  EXPECT_FALSE(row_for(rows, "pidfile").changeable);
  EXPECT_FALSE(row_for(rows, "user").changeable);
  EXPECT_EQ(row_for(rows, "auth_type").default_value, "md5");
  EXPECT_EQ(row_for(rows, "max_prepared_statements").default_value, "200");
  EXPECT_EQ(row_for(rows, "server_check_query").default_value, "<empty>");
  EXPECT_EQ(row_for(rows, "server_lifetime").default_value, "3600");
  EXPECT_TRUE(row_for(rows, "default_pool_size").changeable);
}

TEST(ConfigDescribe, EveryDescribedKeyLoadsItsOwnDefault) {
  // A key's printed default must parse back to the same value, or SHOW
  // CONFIG would show something the config file cannot say.
  const Config defaults;
  for (const auto& row : describe(defaults)) {
    if (row.key == "unix_socket_dir" || row.key == "conffile") continue;
    std::string text = "[pgbouncer]\n" + row.key + " = " + row.default_value + "\n";
    auto doc = parse_ini_string(text, "t.ini");
    ASSERT_TRUE(doc.ok()) << row.key;
    auto r = build_config(*doc, "t.ini");
    ASSERT_TRUE(r.ok()) << row.key << ": " << r.error().message;
    EXPECT_TRUE(r->warnings.empty()) << row.key;
    for (const auto& again : describe(r->config)) {
      if (again.key == row.key) {
        EXPECT_EQ(again.value, row.default_value) << row.key;
      }
    }
  }
}

}  // namespace
}  // namespace usher::config
