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

// The text around the name, as Usher splices its own name in.
std::string spliced(std::string_view sql, const SqlCommand& c, std::string_view name) {
  return std::string(sql.substr(0, c.name_begin)) + std::string(name) +
         std::string(sql.substr(c.name_end));
}

TEST(SqlCommand, OrdinaryQueriesAreNotParsed) {
  EXPECT_FALSE(classify_sql("select 1"));
  EXPECT_FALSE(classify_sql("  /* prepare */ select 'execute'"));
  EXPECT_FALSE(classify_sql("explain select 1"));
  EXPECT_FALSE(classify_sql("create table t as select 'execute'"));
  EXPECT_FALSE(classify_sql(""));
  EXPECT_EQ(first_word("-- c\n /* a /* nested */ b */ DEALLOCATE x"), "DEALLOCATE");
  EXPECT_TRUE(classify_sql("DeAlLoCaTe x"));
  EXPECT_TRUE(starts_with_word("/* c */ DeAllocate all", "deallocate"));
  EXPECT_FALSE(starts_with_word("deallocated", "deallocate"));
  EXPECT_FALSE(starts_with_word("select 1", "deallocate"));
}

TEST(SqlCommand, NamesAreLocatedByTheLexer) {
  std::string_view prepare = "/* c */ PREPARE Foo (int, text) AS select $1, $2";
  auto p = classify_sql(prepare);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, SqlCommand::Kind::kPrepare);
  EXPECT_EQ(p->name, "foo");
  EXPECT_EQ(prepare.substr(p->name_end), " (int, text) AS select $1, $2");
  std::string_view execute = "execute \"Foo\"\"x\"(1, 'a')";
  auto e = classify_sql(execute);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, SqlCommand::Kind::kExecute);
  EXPECT_EQ(e->name, "Foo\"x");
  EXPECT_EQ(spliced(execute, *e, "usher_1"), "execute usher_1(1, 'a')");
  // A comment between the keyword and the name.
  std::string_view commented = "EXECUTE /* execute b */ a (1)";
  auto c = classify_sql(commented);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, SqlCommand::Kind::kExecute);
  EXPECT_EQ(spliced(commented, *c, "usher_2"), "EXECUTE /* execute b */ usher_2 (1)");
}

TEST(SqlCommand, ExecuteInsideExplainAndCreateTableAs) {
  for (std::string_view sql :
       {"explain execute s1(2)", "EXPLAIN (ANALYZE, FORMAT json) EXECUTE s1 (2)",
        "explain analyze verbose execute s1(2)", "create table t as execute s1(2)",
        "CREATE TEMP TABLE IF NOT EXISTS t (a) AS EXECUTE s1 (2) WITH NO DATA",
        "explain create table t as execute s1(2)"}) {
    auto c = classify_sql(sql);
    ASSERT_TRUE(c) << sql;
    EXPECT_EQ(c->kind, SqlCommand::Kind::kExecute) << sql;
    EXPECT_EQ(c->name, "s1") << sql;
    EXPECT_EQ(sql.substr(c->name_begin, c->name_end - c->name_begin), "s1") << sql;
  }
  // EXECUTE as a statement's name.
  std::string_view odd = "explain execute execute";
  auto c = classify_sql(odd);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "execute");
  EXPECT_EQ(spliced(odd, *c, "usher_3"), "explain execute usher_3");
}

TEST(SqlCommand, LongNamesAreTruncatedAsPostgreSQLDoes) {
  std::string name(70, 'n');
  std::string sql = "execute " + name + "(1)";
  auto c = classify_sql(sql);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, SqlCommand::Kind::kExecute);
  EXPECT_EQ(c->name, std::string(kMaxIdentifier, 'n'));
  EXPECT_EQ(sql.substr(c->name_end), "(1)");
  // Truncation never splits a UTF-8 character: 31 two-byte letters and a half.
  std::string utf8 = "x";
  for (int i = 0; i < 40; ++i)
    utf8 += "\xc3\xa9";
  EXPECT_EQ(fold_identifier(utf8).size(), 63u);
  EXPECT_EQ(fold_identifier("\"A\"\"b\""), "A\"b");
  EXPECT_EQ(fold_identifier("AbC"), "abc");
  EXPECT_EQ(fold_identifier("U&\"d0061\""), "");
}

TEST(SqlCommand, UnicodeEscapedNamesAreNotPassedOn) {
  auto c = classify_sql("execute U&\"s\\0031\"");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, SqlCommand::Kind::kUnlocatable);
}

TEST(SqlCommand, StandardConformingStringsDecidesWhatIsAString) {
  // With it off, \' escapes a quote: a DEALLOCATE ALL follows the string.
  std::string_view sql = "select 'x\\''; deallocate all; --'";
  auto on = classify_sql(sql, true);
  EXPECT_FALSE(on);
  auto off = classify_sql(sql, false);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->kind, SqlCommand::Kind::kDeallocateAll);
  EXPECT_TRUE(off->multiple);
  // And the reverse: what is one string with it off is two statements on.
  std::string_view hidden = "select 'a\\'; execute s1; --'";
  EXPECT_EQ(classify_sql(hidden, true)->kind, SqlCommand::Kind::kCombined);
  EXPECT_FALSE(classify_sql(hidden, false));
}

TEST(SqlCommand, DeallocateForms) {
  auto d = classify_sql("deallocate prepare s1;");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, SqlCommand::Kind::kDeallocate);
  EXPECT_EQ(d->name, "s1");
  auto named_prepare = classify_sql("deallocate \"prepare\"");
  ASSERT_TRUE(named_prepare);
  EXPECT_EQ(named_prepare->name, "prepare");
  std::string_view bare = "DEALLOCATE prepare;";
  auto bare_prepare = classify_sql(bare);
  ASSERT_TRUE(bare_prepare);
  EXPECT_EQ(bare_prepare->name, "prepare");
  EXPECT_EQ(bare.substr(bare_prepare->name_end), ";");
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
  EXPECT_FALSE(classify_sql(std::string_view("execute a\0b", 11)));
}

TEST(SqlCommand, SeveralStatementsThatNameOneAreCombined) {
  EXPECT_EQ(classify_sql("prepare a as select 1; execute a")->kind, SqlCommand::Kind::kCombined);
  auto hidden = classify_sql("select 1;\n/* x */ EXECUTE a");
  ASSERT_TRUE(hidden);
  EXPECT_EQ(hidden->kind, SqlCommand::Kind::kCombined);
  EXPECT_FALSE(hidden->drops_all);
  EXPECT_EQ(classify_sql("select 1; explain execute a")->kind, SqlCommand::Kind::kCombined);
  // DEALLOCATE ALL and DISCARD ALL name nothing: they run, and the tag tells.
  auto all = classify_sql("select 1; discard all");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->kind, SqlCommand::Kind::kDiscardAll);
  EXPECT_TRUE(all->multiple);
  EXPECT_TRUE(all->drops_all);
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
