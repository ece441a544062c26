#include "cache/query_stats.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "cache/statements.h"
#include "sql/analysis.h"

namespace usher::cache {
namespace {

TEST(StatementTexts, ConstantsBecomeNumberedParameters) {
  auto t = sql::statement_texts("/* c */ SELECT v FROM t WHERE id = 42 AND s = 'x''y'", true);
  EXPECT_EQ(t.key, "SELECT v FROM t WHERE id = 42 AND s = 'x''y'");
  EXPECT_EQ(t.normalized, "SELECT v FROM t WHERE id = $1 AND s = $2");
  // Numbered after the statement's own parameters; every kind of constant.
  EXPECT_EQ(sql::statement_texts("SELECT $2, 1.5, B'101', X'ff', E'a\\n', $$d$$", true).normalized,
            "SELECT $2 , $3 , $4 , $5 , $6 , $7");
  // Shapes that differ only in constants, case, blanks and comments share
  // it; aliases, quoted names and column order do not.
  EXPECT_EQ(sql::statement_texts("select  A from T where id=2 -- x", true).normalized,
            "SELECT a FROM t WHERE id = $1");
  EXPECT_EQ(sql::statement_texts("SELECT \"A\" FROM t", true).normalized, "SELECT \"A\" FROM t");
  EXPECT_NE(sql::statement_texts("SELECT a AS x FROM t", true).normalized,
            sql::statement_texts("SELECT a AS y FROM t", true).normalized);
  // A national string is one constant; a keyword found by lookahead is
  // upper case too.
  EXPECT_EQ(sql::statement_texts("SELECT N'a', x not like 'b'", true).normalized,
            "SELECT $1 , x NOT LIKE $2");
  // What the lexer cannot read has neither.
  EXPECT_EQ(sql::statement_texts("SELECT 'unterminated", true).normalized, "");
  EXPECT_EQ(sql::statement_texts(std::string("SELECT 1\0", 9), true).key, "");
}

// Review of 2665396: constants are numbered after the highest $n, which
// may be INT_MAX ($2147483647 lexes as a parameter): ++params overflowed a
// signed int (undefined; UBSan aborts the process, a release build wrote
// $-2147483648).
TEST(StatementTexts, NumberingAfterTheLargestParameterDoesNotOverflow) {
  EXPECT_EQ(sql::statement_texts("SELECT $2147483647, 1", true).normalized,
            "SELECT $2147483647 , $2147483648");
}

TEST(StatementTexts, FingerprintIsStableFnv1a) {
  EXPECT_EQ(sql::fingerprint(""), 14695981039346656037ull);
  EXPECT_EQ(sql::fingerprint("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_NE(sql::fingerprint("SELECT $1"), sql::fingerprint("SELECT $2"));
}

TEST(QueryStats, OneRecordPerShapeCountsAndReasons) {
  QueryStats stats;
  auto a = stats.record("SELECT v FROM t WHERE id = $1");
  auto b = stats.record("SELECT v FROM t WHERE id = $1");
  EXPECT_EQ(a, b);
  a->hit();
  a->hit();
  a->miss();
  a->stored();
  a->refuse(refusal::kInTransaction);
  a->refuse(refusal::kPipelined);
  a->refuse(refusal::kInTransaction);
  a->not_stored(unstored::kTooLarge);
  const auto c = a->counts();
  EXPECT_EQ(c.hits, 2u);
  EXPECT_EQ(c.misses, 1u);
  EXPECT_EQ(c.refused, 3u);
  EXPECT_EQ(c.stored, 1u);
  EXPECT_EQ(c.calls(), 6u);
  ASSERT_EQ(c.reasons.size(), 3u);
  EXPECT_EQ(c.reasons[0].first, refusal::kInTransaction);
  EXPECT_EQ(c.reasons[0].second, 2u);
  EXPECT_EQ(stats.find(a->fingerprint()), a);
  EXPECT_EQ(stats.find(a->fingerprint() + 1), nullptr);
}

TEST(QueryStats, BoundedTheFewestCallsLeaveFirst) {
  QueryStats stats;
  auto hot = stats.record("SELECT hot");
  for (int i = 0; i < 10; ++i)
    hot->hit();
  for (size_t i = 0; i < QueryStats::kMaxStatements + 500; ++i) {
    auto r = stats.record("SELECT " + std::to_string(i));
    if (i % 2 == 0) r->miss();
  }
  EXPECT_EQ(stats.records().size(), QueryStats::kMaxStatements);
  EXPECT_EQ(stats.find(hot->fingerprint()), hot);
  // A text longer than kMaxText is kept cut, whole UTF-8 characters only.
  std::string long_text(QueryStats::kMaxText - 1, 'a');
  long_text += "é and more";
  auto cut = stats.record(long_text);
  EXPECT_EQ(cut->text().size(), QueryStats::kMaxText - 1);
}

TEST(QueryStats, CountsFromManyThreads) {
  QueryStats stats;
  auto r = stats.record("SELECT 1");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        r->hit();
        r->refuse(i % 2 ? refusal::kPipelined : refusal::kRowLimit);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  const auto c = r->counts();
  EXPECT_EQ(c.hits, 40000u);
  EXPECT_EQ(c.refused, 40000u);
  EXPECT_EQ(c.reasons.size(), 2u);
}

TEST(QueryStats, DecideRecordsReadsOnly) {
  QueryStats stats;
  const std::vector<std::string> none;
  // No catalog: the read is refused, but counted under its shape.
  auto read = decide(nullptr, "SELECT v FROM t WHERE id = 7", true, false, none, none, &stats);
  ASSERT_NE(read.stats, nullptr);
  EXPECT_EQ(read.stats->text(), "SELECT v FROM t WHERE id = $1");
  EXPECT_EQ(read.refusal, refusal::kCatalogLoading);
  auto again = decide(nullptr, "SELECT v FROM t WHERE id = 8", true, false, none, none, &stats);
  EXPECT_EQ(again.stats, read.stats);
  // Unreadable statements are counted; writes, SET and transaction control not.
  EXPECT_NE(decide(nullptr, "SELEC 1", true, false, none, none, &stats).stats, nullptr);
  EXPECT_EQ(decide(nullptr, "UPDATE t SET v = 1", true, false, none, none, &stats).stats, nullptr);
  EXPECT_EQ(decide(nullptr, "SET search_path = x", true, false, none, none, &stats).stats, nullptr);
  EXPECT_EQ(decide(nullptr, "BEGIN", true, false, none, none, &stats).stats, nullptr);
  EXPECT_EQ(stats.records().size(), 2u);
  // Without a registry nothing is recorded (CACHE EXPLAIN).
  EXPECT_EQ(decide(nullptr, "SELECT 2", true, false, none, none, nullptr).stats, nullptr);
}

}  // namespace
}  // namespace usher::cache
