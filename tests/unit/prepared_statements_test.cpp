#include <gtest/gtest.h>

#include "prepared/server_statements.h"
#include "prepared/sql_command.h"
#include "prepared/statement.h"

namespace usher::prepared {
namespace {

// The lexical pieces classification reads SQL with (sql/lexical.h).
using sql::backslash_in_multibyte;
using sql::first_word;
using sql::fold_identifier;
using sql::kMaxIdentifier;
using sql::starts_with_word;

TEST(StatementRegistry, SharesEqualStatementsComparedInFull) {
  StatementRegistry r;
  const std::string types("\0\1\0\0\0\x17", 6);
  auto a = r.intern(Origin::kProtocol, "UTF8 on", "select $1", types);
  auto b = r.intern(Origin::kProtocol, "UTF8 on", "select $1", types);
  auto c = r.intern(Origin::kProtocol, "UTF8 on", "select $1", std::string("\0\1\0\0\0\x14", 6));
  auto d = r.intern(Origin::kSql, "UTF8 on", "select $1", types);
  // The same bytes read under another encoding or standard_conforming_strings.
  auto e = r.intern(Origin::kProtocol, "LATIN1 on", "select $1", types);
  EXPECT_EQ(a, b);
  EXPECT_NE(a->id, c->id);
  EXPECT_NE(a->id, d->id);
  EXPECT_NE(a->id, e->id);
  EXPECT_EQ(a->server_name, "usher_" + std::to_string(a->id));
  EXPECT_EQ(r.size(), 4u);
  c.reset();
  d.reset();
  e.reset();
  EXPECT_EQ(r.size(), 1u);
  // Once nobody holds it, the same text gets a new id: a server name always
  // means one text.
  uint64_t old = a->id;
  a.reset();
  b.reset();
  EXPECT_NE(r.intern(Origin::kProtocol, "UTF8 on", "select $1", types)->id, old);
}

TEST(ServerStatements, EvictsLeastRecentlyUsed) {
  StatementRegistry r;
  ServerStatements s;
  auto a = r.intern(Origin::kProtocol, "", "a", {});
  auto b = r.intern(Origin::kProtocol, "", "b", {});
  auto c = r.intern(Origin::kProtocol, "", "c", {});
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

TEST(SqlCommand, TextsReadDifferentlyByStandardConformingStringsAreAmbiguous) {
  // With it off, \' escapes a quote and DEALLOCATE ALL follows the string;
  // with it on, it is all one string. The setting can change within the
  // batch being read, so either way the text is not passed on.
  for (bool scs : {true, false}) {
    SqlReading reading{.standard_conforming_strings = scs};
    EXPECT_EQ(classify_sql("select 'x\\''; deallocate all; --'", reading)->kind,
              SqlCommand::Kind::kAmbiguous);
    EXPECT_EQ(classify_sql("select 'a\\'; execute s1; --'", reading)->kind,
              SqlCommand::Kind::kAmbiguous);
  }
  // A backslash that reads the same either way changes nothing.
  auto like = classify_sql("prepare p as select 1 where 'a' like 'a\\_%'");
  ASSERT_TRUE(like);
  EXPECT_EQ(like->kind, SqlCommand::Kind::kPrepare);
}

TEST(SqlCommand, EncodingsWithBackslashInCharactersAreRefusedWithHighBytes) {
  EXPECT_TRUE(backslash_in_multibyte("SJIS"));
  EXPECT_TRUE(backslash_in_multibyte("big5"));
  EXPECT_FALSE(backslash_in_multibyte("UTF8"));
  SqlReading sjis{.backslash_in_multibyte = true};
  // 0x95 0x5C is one character in SJIS: the server reads no backslash.
  EXPECT_EQ(classify_sql("select E'\x95\\'; execute s1; --'", sjis)->kind,
            SqlCommand::Kind::kAmbiguous);
  EXPECT_EQ(classify_sql("execute s1", sjis)->kind, SqlCommand::Kind::kExecute);
  EXPECT_FALSE(classify_sql("select '\x95\\'", sjis));  // not a candidate at all
}

TEST(SqlCommand, CandidatesTheParserRefusesAreNotPassedOn) {
  auto c = classify_sql("execute s1(1,");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, SqlCommand::Kind::kUnparsable);
  EXPECT_NE(c->error.find("syntax error"), std::string::npos);
  EXPECT_GT(c->position, 0);
  // Deep nesting: understood, or the parser's own refusal; never a pass.
  for (int depth : {40, 3000, 30000}) {
    std::string deep =
        "execute s1(" + std::string(depth, '(') + "1" + std::string(depth, ')') + ")";
    auto d = classify_sql(deep);
    ASSERT_TRUE(d) << depth;
    EXPECT_TRUE(d->kind == SqlCommand::Kind::kExecute || d->kind == SqlCommand::Kind::kUnparsable ||
                d->kind == SqlCommand::Kind::kTooLarge)
        << depth;
  }
}

TEST(SqlCommand, CommentsEndAtAReturnAsInPostgreSQL) {
  auto c = classify_sql("-- note\rEXECUTE s1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, SqlCommand::Kind::kExecute);
}

TEST(SqlCommand, LargeTextsAreSplitAndOnlyCandidateStatementsParsed) {
  std::string values = "select 1";
  for (int i = 0; i < 40000; ++i)
    values += ",1";
  // A big ordinary statement and a comment with a keyword after the ';'.
  EXPECT_FALSE(classify_sql(values + "; -- execute s1"));
  // A big ordinary statement, then one that names a statement.
  auto c = classify_sql(values + "; execute s1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, SqlCommand::Kind::kCombined);
  auto all = classify_sql(values + "; deallocate all");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->kind, SqlCommand::Kind::kDeallocateAll);
  EXPECT_TRUE(all->multiple);
  // One statement of ours over the limit.
  auto big = classify_sql("execute s1(" + values.substr(7) + ")");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->kind, SqlCommand::Kind::kTooLarge);
  // A big function body with EXECUTE inside its string is not ours.
  std::string body = "create function f() returns void as $$ begin ";
  for (int i = 0; i < 4000; ++i)
    body += "execute 'select 1'; ";
  EXPECT_FALSE(classify_sql(body + "end $$ language plpgsql; select 1"));
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

TEST(SqlCommand, BrokenCandidatesAreNeverPassedOn) {
  EXPECT_EQ(classify_sql("prepare")->kind, SqlCommand::Kind::kUnparsable);
  EXPECT_EQ(classify_sql("execute")->kind, SqlCommand::Kind::kUnparsable);
  EXPECT_EQ(classify_sql("select 1; prepare")->kind, SqlCommand::Kind::kUnparsable);
  EXPECT_EQ(classify_sql(std::string_view("execute a\0b", 11))->kind, SqlCommand::Kind::kAmbiguous);
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
