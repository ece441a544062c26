#include "config/connstr.h"

#include <gtest/gtest.h>

namespace usher::config {
namespace {

using std::chrono::milliseconds;

TEST(ConfigConnstr, KeyValuePairsInOrder) {
  auto pairs = parse_key_values("host=localhost  port = 5433\tdbname=x");
  ASSERT_TRUE(pairs.ok()) << pairs.error().message;
  ASSERT_EQ(pairs->size(), 3u);
  EXPECT_EQ((*pairs)[0].key, "host");
  EXPECT_EQ((*pairs)[0].value, "localhost");
  EXPECT_EQ((*pairs)[1].key, "port");
  EXPECT_EQ((*pairs)[1].value, "5433");
  EXPECT_EQ((*pairs)[2].value, "x");
}

TEST(ConfigConnstr, QuotedValuesAndEscapes) {
  auto pairs = parse_key_values(
      R"(a='with spaces' b='it\'s' c='back\\slash' d='pg''style' e='C:\dir' f='')");
  ASSERT_TRUE(pairs.ok()) << pairs.error().message;
  ASSERT_EQ(pairs->size(), 6u);
  EXPECT_EQ((*pairs)[0].value, "with spaces");
  EXPECT_EQ((*pairs)[1].value, "it's");
  EXPECT_EQ((*pairs)[2].value, "back\\slash");
  EXPECT_EQ((*pairs)[3].value, "pg'style");
  EXPECT_EQ((*pairs)[4].value, "C:\\dir");  // other backslashes are kept
  EXPECT_EQ((*pairs)[5].value, "");
}

TEST(ConfigConnstr, SyntaxErrors) {
  EXPECT_EQ(parse_key_values("host").error().message, "key=value pair 1: expected key=value");
  EXPECT_EQ(parse_key_values("host=a port").error().message,
            "key=value pair 2: expected key=value");
  EXPECT_EQ(parse_key_values("=a").error().message, "key=value pair 1: no key before \"=\"");
  EXPECT_EQ(parse_key_values("host=").error().message, "key=value pair 1: missing value");
  EXPECT_EQ(parse_key_values("a='open").error().message,
            "key=value pair 1: unterminated quoted value");
  EXPECT_EQ(parse_key_values("a='x'b=1").error().message,
            "key=value pair 1: expected a space after the quoted value");
}

TEST(ConfigConnstr, EmptyStringMeansAllDefaults) {
  auto conn = parse_connstr("");
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(conn->host, "");
  EXPECT_TRUE(conn->hosts.empty());
  EXPECT_EQ(conn->port, 5432);
  EXPECT_FALSE(conn->dbname);
  EXPECT_FALSE(conn->user);
  EXPECT_FALSE(conn->pool_size);
  EXPECT_FALSE(conn->pool_mode);
}

TEST(ConfigConnstr, EveryKey) {
  auto conn = parse_connstr(
      "host=db1 port=5433 dbname=real user=app password='s3 cret' auth_user=auth "
      "auth_dbname=authdb auth_query='SELECT 1' pool_size=10 min_pool_size=2 reserve_pool=3 "
      "max_db_connections=50 max_db_client_connections=500 pool_mode=transaction "
      "server_lifetime=600 query_wait_timeout=0.5 connect_query='SET search_path = x' "
      "application_name=app1 client_encoding=UTF8 datestyle=ISO timezone=UTC");
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  EXPECT_EQ(conn->host, "db1");
  EXPECT_EQ(conn->hosts, std::vector<std::string>{"db1"});
  EXPECT_EQ(conn->port, 5433);
  EXPECT_EQ(conn->dbname, "real");
  EXPECT_EQ(conn->user, "app");
  EXPECT_EQ(conn->password, "s3 cret");
  EXPECT_EQ(conn->auth_user, "auth");
  EXPECT_EQ(conn->auth_dbname, "authdb");
  EXPECT_EQ(conn->auth_query, "SELECT 1");
  EXPECT_EQ(conn->pool_size, 10);
  EXPECT_EQ(conn->min_pool_size, 2);
  EXPECT_EQ(conn->reserve_pool_size, 3);
  EXPECT_EQ(conn->max_db_connections, 50);
  EXPECT_EQ(conn->max_db_client_connections, 500);
  EXPECT_EQ(conn->pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(conn->server_lifetime, milliseconds(600'000));
  EXPECT_EQ(conn->query_wait_timeout, milliseconds(500));
  EXPECT_EQ(conn->connect_query, "SET search_path = x");
  EXPECT_EQ(conn->application_name, "app1");
  EXPECT_EQ(conn->client_encoding, "UTF8");
  EXPECT_EQ(conn->datestyle, "ISO");
  EXPECT_EQ(conn->timezone, "UTC");
}

TEST(ConfigConnstr, ReservePoolSizeIsAnAlias) {
  auto conn = parse_connstr("reserve_pool_size=4");
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(conn->reserve_pool_size, 4);
}

TEST(ConfigConnstr, MinusOneTimeoutMeansUnset) {
  auto conn = parse_connstr("query_wait_timeout=-1");
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  EXPECT_FALSE(conn->query_wait_timeout);
}

TEST(ConfigConnstr, HostListKeepsAllAndFirst) {
  auto conn = parse_connstr("host=10.0.0.1,10.0.0.2, 10.0.0.3");
  // The blank after the comma ends the value in libpq syntax; quote lists
  // that contain blanks.
  ASSERT_FALSE(conn.ok());
  conn = parse_connstr("host='10.0.0.1, 10.0.0.2,10.0.0.3'");
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  EXPECT_EQ(conn->host, "10.0.0.1");
  EXPECT_EQ(conn->hosts, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

TEST(ConfigConnstr, UnixSocketHosts) {
  auto conn = parse_connstr("host=/var/run/postgresql");
  ASSERT_TRUE(conn.ok());
  EXPECT_TRUE(is_unix_socket_host(conn->host));
  EXPECT_TRUE(is_unix_socket_host("@abstract"));
  EXPECT_FALSE(is_unix_socket_host("localhost"));
  EXPECT_FALSE(is_unix_socket_host(""));
}

TEST(ConfigConnstr, LastRepeatedKeyWins) {
  auto conn = parse_connstr("port=1 port=2");
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(conn->port, 2);
}

TEST(ConfigConnstr, BadValuesNameKeyAndExpectationNotValue) {
  EXPECT_EQ(parse_connstr("port=abc").error().message,
            "invalid value for port: expected an integer between 1 and 65535");
  EXPECT_EQ(parse_connstr("port=0").error().message,
            "invalid value for port: expected an integer between 1 and 65535");
  EXPECT_EQ(parse_connstr("pool_size=-3").error().message,
            "invalid value for pool_size: expected an integer >= 0");
  EXPECT_EQ(parse_connstr("pool_mode=sessions").error().message,
            "invalid value for pool_mode: expected session, transaction or "
            "statement");
  EXPECT_EQ(parse_connstr("server_lifetime=forever").error().message,
            "invalid value for server_lifetime: expected a duration in seconds (e.g. "
            "30 or 0.5) or with a unit (ms, s, min, h, d)");
}

TEST(ConfigConnstr, UnknownKeyIsAnErrorListingKnownKeys) {
  auto conn = parse_connstr("host=a sslmode=require");
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().message.rfind("key=value pair 2: unknown key (known keys: host, port, "
                                       "dbname, "
                                       "user, password",
                                       0),
            0u)
      << conn.error().message;
}

TEST(ConfigConnstr, UserSettings) {
  auto user = parse_user_settings(
      "pool_mode=transaction max_user_connections=10 pool_size=5 reserve_pool_size=1 "
      "max_user_client_connections=100 query_timeout=30 query_wait_timeout=5 "
      "idle_transaction_timeout=60 transaction_timeout=2min client_idle_timeout=0");
  ASSERT_TRUE(user.ok()) << user.error().message;
  EXPECT_EQ(user->pool_mode, PoolMode::kTransaction);
  EXPECT_EQ(user->max_user_connections, 10);
  EXPECT_EQ(user->pool_size, 5);
  EXPECT_EQ(user->reserve_pool_size, 1);
  EXPECT_EQ(user->max_user_client_connections, 100);
  EXPECT_EQ(user->query_timeout, milliseconds(30'000));
  EXPECT_EQ(user->query_wait_timeout, milliseconds(5000));
  EXPECT_EQ(user->idle_transaction_timeout, milliseconds(60'000));
  EXPECT_EQ(user->transaction_timeout, milliseconds(120'000));
  EXPECT_EQ(user->client_idle_timeout, milliseconds(0));
}

TEST(ConfigConnstr, UserSettingsRejectDatabaseKeys) {
  auto user = parse_user_settings("host=x");
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().message.rfind("key=value pair 1: unknown key (known keys: pool_mode,", 0),
            0u)
      << user.error().message;
}

}  // namespace
}  // namespace usher::config
