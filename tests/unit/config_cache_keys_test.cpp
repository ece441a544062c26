// The query cache's configuration: the query_cache_* keys of [pgbouncer],
// the query_cache override of [databases] and [users], and
// query_cache_enabled(), which combines them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config/settings.h"
#include "config_test_util.h"

namespace usher::config {
namespace {

using std::chrono::milliseconds;

class ConfigCacheKeys : public testing::ConfigFileTest {
 protected:
  // The error of a file whose line 2 is `line`.
  std::string line_error(const std::string& line) {
    return load_error("[pgbouncer]\n" + line + "\n");
  }
  std::string at2() const { return path_ + ":2: "; }
};

const ConfigRow* find_row(const std::vector<ConfigRow>& rows, std::string_view key) {
  for (const auto& row : rows) {
    if (row.key == key) return &row;
  }
  return nullptr;
}

TEST_F(ConfigCacheKeys, Defaults) {
  const LoadResult r = load_ok("[pgbouncer]\n");
  const Config& c = r.config;
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_FALSE(c.query_cache);
  EXPECT_EQ(c.query_cache_size.bytes, 256LL * 1024 * 1024);
  EXPECT_EQ(c.query_cache_max_entry.bytes, 1024 * 1024);
  EXPECT_EQ(c.query_cache_ttl, milliseconds(0));
  EXPECT_EQ(c.query_cache_invalidation, CacheInvalidation::kReplication);
  EXPECT_EQ(c.query_cache_replication_user, "");
  EXPECT_TRUE(c.query_cache_tables.empty());
  EXPECT_TRUE(c.query_cache_exclude_tables.empty());
}

TEST_F(ConfigCacheKeys, EveryKeyParses) {
  const LoadResult r = load_ok(
      "[pgbouncer]\n"
      "query_cache = on\n"
      "query_cache_size = 2GB\n"
      "query_cache_max_entry = 512kB\n"
      "query_cache_ttl = 30s\n"
      "query_cache_invalidation = proxy\n"
      "query_cache_tables = public.orders, Items, \"Mixed\".\"Case\"\n"
      "query_cache_exclude_tables = audit.log\n");
  const Config& c = r.config;
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_TRUE(c.query_cache);
  EXPECT_EQ(c.query_cache_size.bytes, 2LL * 1024 * 1024 * 1024);
  EXPECT_EQ(c.query_cache_max_entry.bytes, 512 * 1024);
  EXPECT_EQ(c.query_cache_ttl, milliseconds(30'000));
  EXPECT_EQ(c.query_cache_invalidation, CacheInvalidation::kProxy);
  // Canonical: unquoted names folded to lower case, quotes only where needed.
  EXPECT_EQ(c.query_cache_tables,
            (std::vector<std::string>{"public.orders", "items", "\"Mixed\".\"Case\""}));
  EXPECT_EQ(c.query_cache_exclude_tables, (std::vector<std::string>{"audit.log"}));

  const LoadResult plain = load_ok(
      "[pgbouncer]\nquery_cache_size = 1048576\nquery_cache_max_entry = 1048576\n"
      "query_cache_ttl = 0.5\nquery_cache_replication_user = usher_repl\n");
  EXPECT_EQ(plain.config.query_cache_size.bytes, 1048576);
  EXPECT_EQ(plain.config.query_cache_max_entry.bytes, 1048576);  // equal is allowed
  EXPECT_EQ(plain.config.query_cache_ttl, milliseconds(500));
  EXPECT_EQ(plain.config.query_cache_replication_user, "usher_repl");
  EXPECT_TRUE(plain.warnings.empty());
}

TEST_F(ConfigCacheKeys, BadValuesNameTheKey) {
  EXPECT_EQ(line_error("query_cache = maybe"),
            at2() +
                "invalid value for query_cache: expected 0, 1, yes, no, on, off, true or "
                "false");
  EXPECT_EQ(line_error("query_cache_size = lots"),
            at2() +
                "invalid value for query_cache_size: expected a number of bytes or a whole "
                "number with a unit (kB, MB, GB, TB), e.g. 256MB");
  EXPECT_EQ(line_error("query_cache_size = 512"),
            at2() + "invalid value for query_cache_size: expected a size between 1kB and 1TB");
  EXPECT_EQ(line_error("query_cache_size = 2TB"),
            at2() + "invalid value for query_cache_size: expected a size between 1kB and 1TB");
  EXPECT_EQ(line_error("query_cache_max_entry = 0"),
            at2() + "invalid value for query_cache_max_entry: expected a size between 1 and 1TB");
  EXPECT_EQ(line_error("query_cache_max_entry = -1MB"),
            at2() +
                "invalid value for query_cache_max_entry: expected a number of bytes or a "
                "whole number with a unit (kB, MB, GB, TB), e.g. 256MB");
  EXPECT_EQ(line_error("query_cache_ttl = forever"),
            at2() +
                "invalid value for query_cache_ttl: expected a duration in seconds (e.g. 30 "
                "or 0.5) or with a unit (ms, s, min, h, d)");
  EXPECT_EQ(line_error("query_cache_ttl = -5"),
            at2() +
                "invalid value for query_cache_ttl: expected a duration in seconds (e.g. 30 "
                "or 0.5) or with a unit (ms, s, min, h, d)");
  EXPECT_EQ(line_error("query_cache_invalidation = ttl"),
            at2() + "invalid value for query_cache_invalidation: expected replication or proxy");
  EXPECT_EQ(line_error("query_cache_tables = public.orders, 2fast"),
            at2() +
                "invalid value for query_cache_tables: item 2: expected name or schema.name "
                "(a name starts with a letter or _, or is double-quoted)");
  EXPECT_EQ(line_error("query_cache_exclude_tables = db.public.orders"),
            at2() +
                "invalid value for query_cache_exclude_tables: item 1: expected name or "
                "schema.name (at most one schema, no database)");
}

TEST_F(ConfigCacheKeys, TableListsAreBounded) {
  std::string many;
  for (int i = 0; i <= 1024; ++i)
    many += (i ? ",t" : "t") + std::to_string(i);
  EXPECT_EQ(line_error("query_cache_tables = " + many),
            at2() + "invalid value for query_cache_tables: expected at most 1024 items");
  many = many.substr(0, many.rfind(','));  // 1024 items
  EXPECT_EQ(load_ok("[pgbouncer]\nquery_cache_exclude_tables = " + many + "\n")
                .config.query_cache_exclude_tables.size(),
            1024u);
}

TEST_F(ConfigCacheKeys, MaxEntryLargerThanSizeIsALoadError) {
  EXPECT_EQ(load_error("[pgbouncer]\nquery_cache_size = 64MB\nquery_cache_max_entry = 65MB\n"),
            path_ + ":3: query_cache_max_entry must not be larger than query_cache_size");
  // Only the size set: the error points at it and says why.
  EXPECT_EQ(load_error("[pgbouncer]\nlisten_port = 6000\nquery_cache_size = 512kB\n"),
            path_ +
                ":3: query_cache_size is smaller than query_cache_max_entry (default 1MB); "
                "lower query_cache_max_entry too");
  const LoadResult r =
      load_ok("[pgbouncer]\nquery_cache_size = 512kB\nquery_cache_max_entry = 64kB\n");
  EXPECT_EQ(r.config.query_cache_size.bytes, 512 * 1024);
}

TEST_F(ConfigCacheKeys, LimitsCheckForAConfigChangedOneKeyAtATime) {
  // The console's SET changes one key: the same rule must hold after it.
  Config c;
  EXPECT_TRUE(check_query_cache_limits(c).ok());
  ASSERT_TRUE(apply_setting(c, *find_setting("query_cache_max_entry"), "1GB").ok());
  const Status s = check_query_cache_limits(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "query_cache_max_entry must not be larger than query_cache_size");
  EXPECT_EQ(s.error().sqlstate, "F0000");
  ASSERT_TRUE(apply_setting(c, *find_setting("query_cache_size"), "1GB").ok());
  EXPECT_TRUE(check_query_cache_limits(c).ok());
}

TEST_F(ConfigCacheKeys, ReplicationUserUnusedWithProxyIsAWarning) {
  const LoadResult r = load_ok(
      "[pgbouncer]\nquery_cache_replication_user = repl\nquery_cache_invalidation = proxy\n");
  EXPECT_EQ(r.warnings,
            (std::vector<std::string>{
                path_ + ":2: query_cache_replication_user is not used: query_cache_invalidation "
                        "is proxy"}));
}

TEST_F(ConfigCacheKeys, ShowConfigListsEveryKey) {
  const LoadResult r = load_ok(
      "[pgbouncer]\nquery_cache = 1\nquery_cache_size = 1GB\nquery_cache_ttl = 90\n"
      "query_cache_tables = Public.Orders,items\n");
  const std::vector<ConfigRow> rows = describe(r.config);
  struct Expected {
    std::string_view key, value, default_value;
  };
  for (const Expected& e : std::initializer_list<Expected>{
           {"query_cache", "1", "0"},
           {"query_cache_exclude_tables", "", ""},
           {"query_cache_invalidation", "replication", "replication"},
           {"query_cache_max_entry", "1MB", "1MB"},
           {"query_cache_replication_user", "", ""},
           {"query_cache_size", "1GB", "256MB"},
           {"query_cache_tables", "public.orders,items", ""},
           {"query_cache_ttl", "90", "0"},
       }) {
    const ConfigRow* row = find_row(rows, e.key);
    ASSERT_NE(row, nullptr) << e.key;
    EXPECT_EQ(row->value, e.value) << e.key;
    EXPECT_EQ(row->default_value, e.default_value) << e.key;
    // All of them change on RELOAD (the runtime restarts a database's
    // invalidation stream when its invalidation or replication user changes).
    EXPECT_TRUE(row->changeable) << e.key;
  }
}

TEST_F(ConfigCacheKeys, EveryPrintedValueLoadsBackTheSame) {
  const LoadResult r = load_ok(
      "[pgbouncer]\nquery_cache_size = 1536kB\nquery_cache_max_entry = 1000\n"
      "query_cache_ttl = 250ms\nquery_cache_invalidation = PROXY\n"
      "query_cache_exclude_tables = \"a b\".c, D\n");
  std::string text = "[pgbouncer]\n";
  for (const ConfigRow& row : describe(r.config)) {
    if (row.key.rfind("query_cache", 0) == 0) text += row.key + " = " + row.value + "\n";
  }
  const Config again = load_ok(text).config;
  EXPECT_EQ(again.query_cache_size, r.config.query_cache_size);
  EXPECT_EQ(again.query_cache_max_entry.bytes, 1000);
  EXPECT_EQ(again.query_cache_ttl, milliseconds(250));
  EXPECT_EQ(again.query_cache_invalidation, CacheInvalidation::kProxy);
  EXPECT_EQ(again.query_cache_exclude_tables, (std::vector<std::string>{"\"a b\".c", "d"}));
}

TEST_F(ConfigCacheKeys, DatabaseAndUserOverrides) {
  const LoadResult r = load_ok(
      "[pgbouncer]\nquery_cache = on\n"
      "[databases]\n"
      "cached = host=a query_cache=on\n"
      "uncached = host=a query_cache=off\n"
      "inherits = host=a\n"
      "* = host=b query_cache=no\n"
      "[users]\n"
      "reporter = query_cache=yes\n"
      "writer = query_cache=false pool_mode=transaction\n"
      "plain = pool_size=3\n");
  const Config& c = r.config;
  ASSERT_TRUE(r.warnings.empty());
  EXPECT_EQ(c.databases.at("cached").query_cache, true);
  EXPECT_EQ(c.databases.at("uncached").query_cache, false);
  EXPECT_EQ(c.databases.at("inherits").query_cache, std::nullopt);
  EXPECT_EQ(c.users.at("reporter").query_cache, true);
  EXPECT_EQ(c.users.at("writer").query_cache, false);
  EXPECT_EQ(c.users.at("plain").query_cache, std::nullopt);
  // The "*" fallback's setting reaches every database it serves.
  const std::optional<DatabaseConfig> other = find_database(c, "other");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->query_cache, false);
}

TEST_F(ConfigCacheKeys, UserOverridesDatabaseOverridesGlobal) {
  Config c;
  DatabaseConfig db_on, db_off, db_unset;
  db_on.query_cache = true;
  db_off.query_cache = false;
  UserConfig user_on, user_off, user_unset;
  user_on.query_cache = true;
  user_off.query_cache = false;

  for (bool global : {false, true}) {
    c.query_cache = global;
    // Neither entry, or entries that say nothing: the global value.
    EXPECT_EQ(query_cache_enabled(c, nullptr, nullptr), global);
    EXPECT_EQ(query_cache_enabled(c, &db_unset, &user_unset), global);
    // The database decides when the user says nothing.
    EXPECT_TRUE(query_cache_enabled(c, &db_on, &user_unset));
    EXPECT_FALSE(query_cache_enabled(c, &db_off, nullptr));
    // The user decides over both.
    EXPECT_TRUE(query_cache_enabled(c, &db_off, &user_on));
    EXPECT_FALSE(query_cache_enabled(c, &db_on, &user_off));
    EXPECT_TRUE(query_cache_enabled(c, nullptr, &user_on));
    EXPECT_FALSE(query_cache_enabled(c, &db_unset, &user_off));
  }
}

TEST_F(ConfigCacheKeys, BadOverridesAreLoadErrors) {
  EXPECT_EQ(load_error("[pgbouncer]\n[databases]\nx = host=a query_cache=sometimes\n"),
            path_ +
                ":3: [databases] entry: invalid value for query_cache: expected 0, 1, yes, "
                "no, on, off, true or false");
  EXPECT_EQ(load_error("[pgbouncer]\n[users]\nu = query_cache=\n"),
            path_ + ":3: [users] entry: key=value pair 1: missing value");
  EXPECT_EQ(load_error("[pgbouncer]\n[users]\nu = query_cache=2x\n"),
            path_ +
                ":3: [users] entry: invalid value for query_cache: expected 0, 1, yes, no, "
                "on, off, true or false");
}

}  // namespace
}  // namespace usher::config
