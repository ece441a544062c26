#include <gtest/gtest.h>

#include "prepared/server_statements.h"
#include "prepared/sql_command.h"
#include "prepared/statement.h"

namespace usher::prepared {
namespace {

TEST(StatementRegistry, SharesEqualStatementsComparedInFull) {
  StatementRegistry r;
  auto a = r.intern(Origin::kProtocol, "select $1", std::string("\0\1\0\0\0\x17", 6));
  auto b = r.intern(Origin::kProtocol, "select $1", std::string("\0\1\0\0\0\x17", 6));
  auto c = r.intern(Origin::kProtocol, "select $1", std::string("\0\1\0\0\0\x14", 6));
  auto d = r.intern(Origin::kSql, "select $1", std::string("\0\1\0\0\0\x17", 6));
  EXPECT_EQ(a, b);
  EXPECT_NE(a->id, c->id);
  EXPECT_NE(a->id, d->id);
  EXPECT_EQ(a->server_name, "usher_" + std::to_string(a->id));
  EXPECT_EQ(r.size(), 3u);
  c.reset();
  d.reset();
  EXPECT_EQ(r.size(), 1u);
  // Once nobody holds it, the same text gets a new id: a server name always
  // means one text.
  uint64_t old = a->id;
  a.reset();
  b.reset();
  EXPECT_NE(r.intern(Origin::kProtocol, "select $1", std::string("\0\1\0\0\0\x17", 6))->id, old);
}

TEST(ServerStatements, EvictsLeastRecentlyUsed) {
  StatementRegistry r;
  ServerStatements s;
  auto a = r.intern(Origin::kProtocol, "a", {});
  auto b = r.intern(Origin::kProtocol, "b", {});
  auto c = r.intern(Origin::kProtocol, "c", {});
  EXPECT_FALSE(s.insert(a, 2));
  EXPECT_FALSE(s.insert(b, 2));
  EXPECT_TRUE(s.touch(a->id));  // b is now the oldest
  auto victim = s.insert(c, 2);
  ASSERT_TRUE(victim);
  EXPECT_EQ(*victim, b);
  EXPECT_FALSE(s.touch(b->id));
  EXPECT_EQ(s.size(), 2u);
  s.restore(b);  // a Close that did not happen: over the bound until the next insert
  EXPECT_EQ(s.size(), 3u);
  s.erase(a->id);
  EXPECT_FALSE(s.touch(a->id));
  s.clear();
  EXPECT_EQ(s.size(), 0u);
}

TEST(SqlCommand, OrdinaryQueriesAreNotParsed) {
  EXPECT_FALSE(classify_sql("select 1"));
  EXPECT_FALSE(classify_sql("  /* prepare */ select 'execute'"));
  EXPECT_FALSE(classify_sql("explain execute s1"));
  EXPECT_FALSE(classify_sql(""));
  EXPECT_EQ(first_word("-- c\n /* a /* nested */ b */ DEALLOCATE x"), "DEALLOCATE");
  EXPECT_TRUE(classify_sql("DeAlLoCaTe x"));
  EXPECT_TRUE(starts_with_word("/* c */ DeAllocate all", "deallocate"));
  EXPECT_FALSE(starts_with_word("deallocated", "deallocate"));
  EXPECT_FALSE(starts_with_word("select 1", "deallocate"));
}

TEST(SqlCommand, PrepareAndExecuteWithTheirTails) {
  auto p = classify_sql("/* c */ PREPARE Foo (int, text) AS select $1, $2");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, SqlCommand::Kind::kPrepare);
  EXPECT_EQ(p->name, "foo");
  EXPECT_EQ(p->tail, " (int, text) AS select $1, $2");
  auto e = classify_sql("execute \"Foo\"\"x\"(1, 'a')");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, SqlCommand::Kind::kExecute);
  EXPECT_EQ(e->name, "Foo\"x");
  EXPECT_EQ(e->tail, "(1, 'a')");
}

TEST(SqlCommand, DeallocateForms) {
  auto d = classify_sql("deallocate prepare s1;");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, SqlCommand::Kind::kDeallocate);
  EXPECT_EQ(d->name, "s1");
  auto named_prepare = classify_sql("deallocate \"prepare\"");
  ASSERT_TRUE(named_prepare);
  EXPECT_EQ(named_prepare->name, "prepare");
  auto bare_prepare = classify_sql("DEALLOCATE prepare;");
  ASSERT_TRUE(bare_prepare);
  EXPECT_EQ(bare_prepare->name, "prepare");
  EXPECT_EQ(bare_prepare->tail, ";");
  EXPECT_EQ(classify_sql("deallocate prepare prepare")->name, "prepare");
  EXPECT_EQ(classify_sql("DEALLOCATE ALL")->kind, SqlCommand::Kind::kDeallocateAll);
  EXPECT_EQ(classify_sql("deallocate prepare all")->kind, SqlCommand::Kind::kDeallocateAll);
  EXPECT_EQ(classify_sql("discard all")->kind, SqlCommand::Kind::kDiscardAll);
  EXPECT_FALSE(classify_sql("discard plans"));
}

TEST(SqlCommand, BrokenSqlIsNotRecognised) {
  EXPECT_FALSE(classify_sql("prepare"));
  EXPECT_FALSE(classify_sql("execute"));
  EXPECT_FALSE(classify_sql("select 1; prepare"));
}

TEST(SqlCommand, SeveralStatementsWithOneOfOursAreCombined) {
  EXPECT_EQ(classify_sql("prepare a as select 1; execute a")->kind, SqlCommand::Kind::kCombined);
  auto hidden = classify_sql("select 1;\n/* x */ EXECUTE a");
  ASSERT_TRUE(hidden);
  EXPECT_EQ(hidden->kind, SqlCommand::Kind::kCombined);
  EXPECT_FALSE(hidden->drops_all);
  EXPECT_TRUE(classify_sql("select 1; discard all")->drops_all);
  EXPECT_TRUE(classify_sql("DEALLOCATE ALL; select 1")->drops_all);
  // Ordinary statements, even with our keywords in strings or comments.
  EXPECT_FALSE(classify_sql("select 1; select 'prepare'"));
  EXPECT_FALSE(classify_sql("select 1; -- execute a"));
  EXPECT_FALSE(classify_sql("select 1; discard plans"));
  // One statement and a trailing semicolon is still one statement.
  EXPECT_EQ(classify_sql("execute a;")->kind, SqlCommand::Kind::kExecute);
}

TEST(SqlCommand, ResetQueriesThatDropStatements) {
  EXPECT_TRUE(drops_all_statements("DISCARD ALL"));
  EXPECT_TRUE(drops_all_statements("deallocate all"));
  EXPECT_TRUE(drops_all_statements("RESET ALL; DISCARD ALL"));
  EXPECT_FALSE(drops_all_statements("RESET ALL"));
  EXPECT_FALSE(drops_all_statements("DISCARD PLANS"));
}

}  // namespace
}  // namespace usher::prepared
