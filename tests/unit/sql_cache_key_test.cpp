#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "sql/analysis.h"

namespace usher::sql {
namespace {

// Case 21 of the cache study (shared/cache-study.md, section 4).
TEST(SqlKeyText, KeepsAliasesOrderAndConstants) {
  EXPECT_NE(key_text("SELECT a AS x FROM t", true), key_text("SELECT a AS y FROM t", true));
  EXPECT_NE(key_text("SELECT a, b FROM t", true), key_text("SELECT b, a FROM t", true));
  EXPECT_NE(key_text("SELECT * FROM t WHERE id = 1", true),
            key_text("SELECT * FROM t WHERE id = 2", true));
  EXPECT_NE(key_text("SELECT 'A'", true), key_text("SELECT 'a'", true));
  EXPECT_EQ(key_text("SELECT a::int,b FROM t", true), "SELECT a :: int , b FROM t");
  // N'a' is a national string; N 'a' a cast to a type named n (an error):
  // never the same key.
  EXPECT_EQ(key_text("SELECT N'a'", true), "SELECT N'a'");
  EXPECT_EQ(key_text("SELECT N 'a'", true), "SELECT N 'a'");
  // A literal continued over a newline is one token, kept as written.
  EXPECT_EQ(key_text("SELECT 'a'\n'b'", true), "SELECT 'a'\n'b'");
}

TEST(SqlKeyText, FollowsStandardConformingStrings) {
  const std::string sql = "SELECT 'a\\'b'";
  EXPECT_EQ(key_text(sql, false), "SELECT 'a\\'b'");
  EXPECT_EQ(key_text(sql, true), "");  // 'a\' b ' : unterminated
  EXPECT_EQ(key_text("", true), "");
  EXPECT_EQ(key_text(std::string("SELECT 1\0 x", 11), true), "");
}

TEST(SqlCacheHint, ReadsDirectivesInComments) {
  EXPECT_TRUE(cache_hint("/* usher:no-cache */ SELECT 1").no_cache);
  EXPECT_TRUE(cache_hint("SELECT 1 -- USHER:No-Cache").no_cache);
  EXPECT_TRUE(cache_hint("SELECT /* a /* usher:no-cache */ b */ 1").no_cache);
  EXPECT_EQ(cache_hint("/* usher:cache ttl=30s */ SELECT 1").ttl_ms, 30000);
  EXPECT_EQ(cache_hint("SELECT 1 /* usher:cache ttl=250ms */").ttl_ms, 250);
  EXPECT_EQ(cache_hint("SELECT 1 /*usher:cache  ttl=2m*/").ttl_ms, 120000);
  EXPECT_EQ(cache_hint("SELECT 1 -- usher:cache ttl=1h\n").ttl_ms, 3600000);
  EXPECT_EQ(cache_hint("SELECT 1 -- usher:cache ttl=45").ttl_ms, 45000);
  EXPECT_EQ(cache_hint("SELECT 1 -- usher:cache ttl=0").ttl_ms, 0);
  // The first valid TTL counts.
  EXPECT_EQ(cache_hint("/* usher:cache ttl=x */ /* usher:cache ttl=5s */ /* usher:cache ttl=9s */")
                .ttl_ms,
            5000);
  CacheHint both = cache_hint("/* usher:cache ttl=1s usher:no-cache */ SELECT 1");
  EXPECT_TRUE(both.no_cache);
  EXPECT_EQ(both.ttl_ms, 1000);
}

TEST(SqlCacheHint, IgnoresWhatIsNotADirective) {
  for (const char* sql : {"SELECT 1", "SELECT '/* usher:no-cache */'",
                          "SELECT \"-- usher:no-cache\"", "SELECT $$ /* usher:no-cache */ $$",
                          "/* xusher:no-cache */ SELECT 1", "/* usher:no-cache-please */ SELECT 1",
                          "/* usher:nocache */ SELECT 1", "SELECT E'\\' /* usher:no-cache */ '"}) {
    CacheHint h = cache_hint(sql);
    EXPECT_FALSE(h.no_cache) << sql;
    EXPECT_EQ(h.ttl_ms, -1) << sql;
  }
  for (const char* sql :
       {"/* usher:cache ttl=-5s */", "/* usher:cache ttl=1.5s */", "/* usher:cache ttl=5d */",
        "/* usher:cache ttl= 5s */", "/* usher:cache ttl=s */", "/* usher:cache */",
        "/* usher:cache tt=5s */", "SELECT 'usher:cache ttl=5s'"}) {
    EXPECT_EQ(cache_hint(sql).ttl_ms, -1) << sql;
  }
}

TEST(SqlCacheHint, ClampsToAYear) {
  constexpr int64_t kYearMs = 365LL * 24 * 3600 * 1000;
  EXPECT_EQ(cache_hint("/* usher:cache ttl=9000h */").ttl_ms, kYearMs);
  EXPECT_EQ(cache_hint("/* usher:cache ttl=99999999999999999999999999999h */").ttl_ms, kYearMs);
  EXPECT_EQ(cache_hint("/* usher:cache ttl=8760h */").ttl_ms, kYearMs);
}

TEST(SqlCacheHint, UnterminatedInputIsSafe) {
  EXPECT_FALSE(cache_hint("SELECT 'x /* usher:no-cache */").no_cache);
  EXPECT_TRUE(cache_hint("/* usher:no-cache").no_cache);  // the lexer fails; the comment is one
  EXPECT_FALSE(cache_hint(std::string("/* usher:no-cache */\0", 21)).no_cache);
}

}  // namespace
}  // namespace usher::sql
