// "Case N": the pitfalls of the cache study (shared/cache-study.md, section
// 4) that a parse tree can decide.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "sql/analysis.h"

namespace usher::sql {

// For gmock's messages.
void PrintTo(const QualifiedName& n, std::ostream* os) {
  *os << (n.schema.empty() ? "" : n.schema + ".") << n.name;
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Kind = StatementKind;

QualifiedName q(std::string name) {
  return {.schema = {}, .name = std::move(name)};
}
QualifiedName q(std::string schema, std::string name) {
  return {.schema = std::move(schema), .name = std::move(name)};
}

Analysis read(std::string_view sql) {
  return analyze(sql, true);
}

// The refusal of `sql`, which must be a read as far as its kind goes.
std::string_view read_refusal(std::string_view sql) {
  Analysis a = analyze(sql, true);
  EXPECT_EQ(a.kind, Kind::kRead) << sql;
  return a.refusal;
}

TEST(SqlAnalysis, PlainSelectIsACacheableRead) {
  Analysis a = read("SELECT a, b FROM s.t JOIN u USING (id) WHERE x = 1 ORDER BY a LIMIT 5");
  EXPECT_EQ(a.kind, Kind::kRead);
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.relations, ElementsAre(q("s", "t"), q("u")));
  EXPECT_THAT(a.functions, IsEmpty());
  EXPECT_THAT(a.operators, ElementsAre(q("=")));
  EXPECT_THAT(a.written, IsEmpty());
  EXPECT_EQ(a.setting, "");
}

TEST(SqlAnalysis, ListsAreDeduplicated) {
  Analysis a = read("SELECT f(a), f(b), a + 1, b + 2 FROM t, t AS t2, public.t");
  EXPECT_THAT(a.relations, ElementsAre(q("t"), q("public", "t")));
  EXPECT_THAT(a.functions, ElementsAre(q("f")));
  EXPECT_THAT(a.operators, ElementsAre(q("+")));
}

// Study section 4, cases 1, 2, 3, 4 and 11: these are functions in the
// tree, refused later by the catalog; the walker must name every one.
TEST(SqlAnalysis, CollectsEveryFunctionForTheCatalog) {
  Analysis a = read(
      "SELECT nextval('s'), currval('s'), lastval(), setval('s', 5), random(), "
      "clock_timestamp(), timeofday(), gen_random_uuid(), now(), statement_timestamp(), "
      "current_setting('app.tenant'), pg_backend_pid(), inet_client_addr(), pg_sleep(1), "
      "pg_advisory_lock(1), pg_notify('c', 'x'), set_config('a', 'b', false), lo_create(0), "
      "txid_current(), pg_catalog.date_trunc('day', ts), count(*) OVER (PARTITION BY g(x))");
  EXPECT_EQ(a.kind, Kind::kRead);
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.functions,
              ElementsAre(q("nextval"), q("currval"), q("lastval"), q("setval"), q("random"),
                          q("clock_timestamp"), q("timeofday"), q("gen_random_uuid"), q("now"),
                          q("statement_timestamp"), q("current_setting"), q("pg_backend_pid"),
                          q("inet_client_addr"), q("pg_sleep"), q("pg_advisory_lock"),
                          q("pg_notify"), q("set_config"), q("lo_create"), q("txid_current"),
                          q("pg_catalog", "date_trunc"), q("count"), q("g")));
}

TEST(SqlAnalysis, FunctionsInFromAndInDisguise) {
  Analysis a = read(
      "SELECT * FROM generate_series(1, 3) g, ROWS FROM (f(1), h(2) AS (a int)) r, "
      "lateral my.fn(g) WITH ORDINALITY AS x(a, n) "
      "WHERE extract(year FROM d) = 1 AND ts AT TIME ZONE 'utc' > ts2 AND coalesce(a, 1) > 0");
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.relations, IsEmpty());
  EXPECT_THAT(a.functions,
              UnorderedElementsAre(q("generate_series"), q("f"), q("h"), q("my", "fn"),
                                   q("pg_catalog", "extract"), q("pg_catalog", "timezone")));
}

TEST(SqlAnalysis, OperatorsOfEveryForm) {
  Analysis a = read(
      "SELECT CASE x WHEN 1 THEN 2 END FROM t NATURAL JOIN u "
      "WHERE a LIKE 'x' AND b NOT LIKE 'y' AND c ILIKE 'z' AND d SIMILAR TO 'w' "
      "AND e IN (1, 2) AND f NOT IN (3) AND g IS DISTINCT FROM h AND NULLIF(i, 0) > 0 "
      "AND j = ANY (ARRAY[1]) AND k < ALL (ARRAY[2]) AND l BETWEEN 1 AND 2 "
      "AND m NOT BETWEEN 3 AND 4 AND n OPERATOR(my.@@@) o AND p IN (SELECT 1) "
      "AND q2 > ANY (SELECT 2) ORDER BY a USING ~<~");
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.operators,
              UnorderedElementsAre(q("="), q("~~"), q("!~~"), q("~~*"), q("~"), q("<>"), q(">"),
                                   q("<"), q(">="), q("<="), q("my", "@@@"), q("~<~")));
  EXPECT_THAT(a.functions, ElementsAre(q("pg_catalog", "similar_to_escape")));
}

// Equality the server looks up by name though no operator is written.
TEST(SqlAnalysis, ImplicitEqualityIsNamed) {
  for (const char* sql : {"SELECT CASE x WHEN 1 THEN 2 END", "SELECT 1 WHERE x IN (SELECT 1)",
                          "SELECT * FROM a JOIN b USING (x)", "SELECT * FROM a NATURAL JOIN b"}) {
    EXPECT_THAT(read(sql).operators, ElementsAre(q("="))) << sql;
  }
  EXPECT_THAT(read("SELECT CASE WHEN x THEN 2 END FROM a CROSS JOIN b").operators, IsEmpty());
}

TEST(SqlAnalysis, SqlValueFunctionsAreRefused) {
  for (const char* sql :
       {"SELECT current_timestamp", "SELECT CURRENT_DATE", "SELECT localtimestamp",
        "SELECT current_user", "SELECT session_user", "SELECT 1 FROM t WHERE a = current_schema",
        "SELECT * FROM t WHERE d < current_time(2)"}) {
    EXPECT_EQ(read_refusal(sql), refusal::kSqlValueFunction) << sql;
  }
}

// Case 7.
TEST(SqlAnalysis, LockingReadsAreRefused) {
  for (const char* sql : {"SELECT * FROM t FOR UPDATE", "SELECT * FROM t FOR SHARE",
                          "SELECT * FROM t FOR NO KEY UPDATE OF t SKIP LOCKED",
                          "SELECT * FROM (SELECT * FROM t FOR KEY SHARE) s"}) {
    Analysis a = read(sql);
    EXPECT_EQ(a.kind, Kind::kRead) << sql;
    EXPECT_EQ(a.refusal, refusal::kLocking) << sql;
    EXPECT_THAT(a.relations, ElementsAre(q("t"))) << sql;
  }
}

// Case 8.
TEST(SqlAnalysis, DataModifyingCtesAreWrites) {
  Analysis a = read("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_EQ(a.refusal, refusal::kModifyingCte);
  EXPECT_THAT(a.written, ElementsAre(q("t")));
  EXPECT_THAT(a.relations, IsEmpty());  // d is the CTE

  a = read(
      "WITH x AS (INSERT INTO a VALUES (1) RETURNING *), "
      "y AS (UPDATE s.b SET c = 1 RETURNING *) SELECT * FROM x, y, z");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_EQ(a.refusal, refusal::kModifyingCte);
  EXPECT_THAT(a.written, ElementsAre(q("a"), q("s", "b")));
  EXPECT_THAT(a.relations, ElementsAre(q("z")));

  // Nested in a write: every target counts.
  a = read("WITH d AS (DELETE FROM u RETURNING *) INSERT INTO t SELECT * FROM d");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_THAT(a.written, UnorderedElementsAre(q("t"), q("u")));
}

// Case 9.
TEST(SqlAnalysis, SelectIntoAndCreateTableAsAreWrites) {
  Analysis a = read("SELECT * INTO t2 FROM t");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_EQ(a.refusal, refusal::kSelectInto);
  EXPECT_THAT(a.written, ElementsAre(q("t2")));
  EXPECT_THAT(a.relations, ElementsAre(q("t")));

  a = read("CREATE TABLE s.t2 AS SELECT * FROM t");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_EQ(a.refusal, refusal::kNotRead);
  EXPECT_THAT(a.written, ElementsAre(q("s", "t2")));

  a = read("CREATE MATERIALIZED VIEW mv AS SELECT 1");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_THAT(a.written, ElementsAre(q("mv")));
}

// Case 10.
TEST(SqlAnalysis, TableSampleNeedsRepeatable) {
  EXPECT_EQ(read_refusal("SELECT * FROM t TABLESAMPLE BERNOULLI (10)"), refusal::kTableSample);
  EXPECT_EQ(read_refusal("SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (1)"), "");
  EXPECT_THAT(read("SELECT * FROM s.t TABLESAMPLE SYSTEM (1) REPEATABLE (1)").relations,
              ElementsAre(q("s", "t")));
}

// Case 12.
TEST(SqlAnalysis, CommentsChangeNeitherEligibilityNorKey) {
  Analysis a = read("/* now() */ SELECT 1 -- current_user\n");
  EXPECT_EQ(a.kind, Kind::kRead);
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.functions, IsEmpty());
  EXPECT_EQ(key_text("/* x */ SELECT  1", true), "SELECT 1");
  EXPECT_EQ(key_text("SELECT\n\t1 -- trailing\n", true), key_text("SELECT 1", true));
  EXPECT_EQ(key_text("SELECT/**/a/* /* nested */ */FROM t", true), "SELECT a FROM t");
}

// Case 13: the catalog decides; the walker names them.
TEST(SqlAnalysis, CatalogRelationsAreNamed) {
  Analysis a =
      read("SELECT * FROM pg_catalog.pg_class, information_schema.tables, pg_stat_activity");
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.relations, ElementsAre(q("pg_catalog", "pg_class"),
                                       q("information_schema", "tables"), q("pg_stat_activity")));
}

// Case 14.
TEST(SqlAnalysis, SyntaxThisParserDoesNotKnowIsAParseError) {
  for (const char* sql :
       {"SELECT * FROM JSON_TABLE('[]', '$' COLUMNS (a int PATH '$.a')) jt",
        "SELECT JSON_OBJECT('a': 1)", "SELEC 1", "SELECT 'unterminated", "SELECT (1"}) {
    Analysis a = read(sql);
    EXPECT_EQ(a.kind, Kind::kUnknown) << sql;
    EXPECT_EQ(a.refusal, refusal::kParseError) << sql;
  }
}

// Case 15.
TEST(SqlAnalysis, MultipleStatements) {
  Analysis a = read("UPDATE t SET a = 1; SELECT * FROM t");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_EQ(a.refusal, refusal::kMultipleStatements);
  EXPECT_THAT(a.written, ElementsAre(q("t")));
  EXPECT_THAT(a.relations, ElementsAre(q("t")));

  a = read("SELECT 1; SELECT 2");
  EXPECT_EQ(a.kind, Kind::kRead);
  EXPECT_EQ(a.refusal, refusal::kMultipleStatements);

  a = read("SELECT 1; COPY (SELECT 1) TO STDOUT");
  EXPECT_EQ(a.kind, Kind::kWrite);  // kUnknown may write

  a = read("BEGIN; SET search_path = a; SELECT 1");
  EXPECT_EQ(a.kind, Kind::kSetting);
  EXPECT_EQ(a.setting, "search_path");

  a = read("SET search_path = a; SET timezone = 'utc'");
  EXPECT_EQ(a.kind, Kind::kSetting);
  EXPECT_EQ(a.setting, "all");  // more than one: any may have changed

  a = read("BEGIN; SELECT 1");
  EXPECT_EQ(a.kind, Kind::kTransaction);
}

TEST(SqlAnalysis, ParseFollowsStandardConformingStrings) {
  // Off: one literal, x'now; on: an unterminated literal after "now".
  EXPECT_EQ(analyze("SELECT 'x\\'now'", false).refusal, refusal::kTimeLiteral);
  EXPECT_EQ(analyze("SELECT 'x\\'now'", true).refusal, refusal::kParseError);
}

TEST(SqlAnalysis, TimeLiteralsAreRefused) {
  for (const char* sql :
       {"SELECT 'now'::timestamptz", "SELECT date 'today'", "SELECT timestamp 'Tomorrow'",
        "SELECT * FROM t WHERE d > 'YESTERDAY'", "SELECT 'current'::date",
        "SELECT E'\\156ow'::timestamp", "SELECT U&'n\\006Fw'::timestamp",
        "SELECT $$ now $$::timestamptz", "SELECT f('now')"}) {
    EXPECT_EQ(read_refusal(sql), refusal::kTimeLiteral) << sql;
  }
  EXPECT_EQ(read_refusal("SELECT 'epoch'::timestamptz, 'infinity'::date"), "");
}

TEST(SqlAnalysis, CatalogCastsAreRefused) {
  for (const char* sql :
       {"SELECT 't'::regclass", "SELECT CAST('int4' AS regtype)", "SELECT x::pg_catalog.regproc",
        "SELECT '{t}'::regclass[]", "SELECT 'r'::regrole, 'n'::regnamespace",
        "SELECT 'f(int)'::regprocedure", "SELECT '+'::regoper", "SELECT '+(int,int)'::regoperator",
        "SELECT 'english'::regconfig", "SELECT 'simple'::regdictionary", "SELECT 'C'::regcollation",
        "SELECT x::_regclass FROM t"}) {
    EXPECT_EQ(read_refusal(sql), refusal::kCatalogCast) << sql;
  }
  EXPECT_EQ(read_refusal("SELECT 1::int8, 'x'::text, 'a'::regular"), "");
}

TEST(SqlAnalysis, SystemColumnsAreRefused) {
  for (const char* sql :
       {"SELECT ctid FROM t", "SELECT t.xmin FROM t", "SELECT 1 FROM t WHERE xmax = 0",
        "SELECT s.t.cmin FROM s.t", "SELECT cmax FROM t"}) {
    EXPECT_EQ(read_refusal(sql), refusal::kSystemColumn) << sql;
  }
  EXPECT_EQ(read_refusal("SELECT tableoid, t.*, xmin2 FROM t"), "");
}

TEST(SqlAnalysis, ParameterGivesWayToOtherRefusals) {
  EXPECT_EQ(read_refusal("SELECT * FROM t WHERE id = $1"), refusal::kParameter);
  EXPECT_EQ(read_refusal("SELECT $1, current_user"), refusal::kSqlValueFunction);
  EXPECT_EQ(read_refusal("SELECT current_user, $1"), refusal::kSqlValueFunction);
  // Otherwise the first found wins.
  EXPECT_EQ(read_refusal("SELECT ctid, current_user FROM t"), refusal::kSystemColumn);
}

TEST(SqlAnalysis, NoCacheHint) {
  EXPECT_EQ(read_refusal("/* usher:no-cache */ SELECT 1"), refusal::kNoCacheHint);
  EXPECT_EQ(read_refusal("SELECT current_user -- usher:no-cache"), refusal::kNoCacheHint);
  EXPECT_EQ(read_refusal("SELECT 'usher:no-cache'"), "");
  EXPECT_EQ(read_refusal("SELECT 1 AS \"/* usher:no-cache */\""), "");
  Analysis a = read("/* usher:no-cache */ DELETE FROM t");
  EXPECT_EQ(a.kind, Kind::kWrite);
  EXPECT_EQ(a.refusal, refusal::kNotRead);
}

TEST(SqlAnalysis, CteNamesShadowTablesOnlyInScope) {
  EXPECT_THAT(read("WITH t AS (SELECT 1) SELECT * FROM t").relations, IsEmpty());
  // A qualified name is never a CTE.
  EXPECT_THAT(read("WITH t AS (SELECT 1) SELECT * FROM s.t").relations, ElementsAre(q("s", "t")));
  // Without RECURSIVE a CTE does not see itself: the inner t is the table.
  EXPECT_THAT(read("WITH t AS (SELECT * FROM t) SELECT * FROM t").relations, ElementsAre(q("t")));
  EXPECT_THAT(read("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) "
                   "SELECT * FROM t")
                  .relations,
              IsEmpty());
  // A later CTE sees an earlier one, not the other way round.
  EXPECT_THAT(read("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b").relations,
              IsEmpty());
  EXPECT_THAT(read("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a").relations,
              ElementsAre(q("b")));
  // The WITH of a subquery ends with it.
  EXPECT_THAT(read("SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) x, t").relations,
              ElementsAre(q("t")));
  // An enclosing WITH reaches into subqueries and every branch of a set operation.
  EXPECT_THAT(read("WITH t AS (SELECT 1) SELECT * FROM u WHERE EXISTS (SELECT 1 FROM t) "
                   "UNION SELECT * FROM t")
                  .relations,
              ElementsAre(q("u")));
  // Shadowed twice, closed once: still a CTE.
  EXPECT_THAT(read("WITH t AS (SELECT 1) SELECT * FROM (WITH t AS (SELECT 2) SELECT * FROM t) x, t")
                  .relations,
              IsEmpty());
  EXPECT_EQ(read_refusal("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) "
                         "SEARCH DEPTH FIRST BY n SET o CYCLE n SET c USING p SELECT * FROM t"),
            "");
}

TEST(SqlAnalysis, SetOperationsValuesAndTable) {
  Analysis a = read(
      "SELECT a FROM x UNION SELECT b FROM y INTERSECT SELECT c FROM z EXCEPT ALL SELECT d FROM w");
  EXPECT_EQ(a.refusal, "");
  EXPECT_THAT(a.relations, UnorderedElementsAre(q("x"), q("y"), q("z"), q("w")));
  EXPECT_EQ(read_refusal("VALUES (1, 'a'), (2, 'b') ORDER BY 1"), "");
  EXPECT_THAT(read("TABLE s.t").relations, ElementsAre(q("s", "t")));
  EXPECT_EQ(read_refusal("(SELECT 1 FROM t) UNION (SELECT ctid FROM u)"), refusal::kSystemColumn);
}

TEST(SqlAnalysis, RichReadsAreSupported) {
  EXPECT_EQ(read_refusal("SELECT DISTINCT ON (a) a, (b).f, c[1], c[1:2], ARRAY[1, 2], ROW(1, 2), "
                         "x COLLATE \"C\", f(a => 1), a IS NULL, b IS NOT TRUE, GREATEST(1, 2), "
                         "count(*) FILTER (WHERE a > 1), string_agg(b, ',' ORDER BY b), "
                         "rank() OVER w, GROUPING(a), ARRAY(SELECT 1), (SELECT max(v) FROM u) "
                         "FROM t LEFT JOIN LATERAL (SELECT * FROM v WHERE v.id = t.id) s ON true "
                         "GROUP BY GROUPING SETS ((a), ()), CUBE (b) HAVING count(*) > 1 "
                         "WINDOW w AS (ORDER BY a ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) "
                         "ORDER BY a DESC NULLS LAST OFFSET 1 FETCH FIRST 2 ROWS WITH TIES"),
            "");
  EXPECT_EQ(read_refusal("SELECT * FROM f() AS x(a int COLLATE \"C\", b text[])"), "");
}

TEST(SqlAnalysis, UnknownConstructsAreUnsupported) {
  for (const char* sql : {"SELECT xmlelement(name a)", "SELECT XMLPARSE(DOCUMENT '<a/>')",
                          "SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS b int)",
                          "SELECT xmlserialize(content '<a/>' AS text)"}) {
    EXPECT_EQ(read_refusal(sql), refusal::kUnsupportedNode) << sql;
  }
}

TEST(SqlAnalysis, WriteKinds) {
  struct Case {
    const char* sql;
    Kind kind;
    std::vector<QualifiedName> written;
  };
  const Case cases[] = {
      {"INSERT INTO s.t (a) VALUES (1) RETURNING *", Kind::kWrite, {q("s", "t")}},
      {"UPDATE t SET a = 1 FROM u WHERE t.id = u.id", Kind::kWrite, {q("t")}},
      {"DELETE FROM t USING u WHERE t.id = u.id", Kind::kWrite, {q("t")}},
      {"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", Kind::kWrite, {q("t")}},
      {"COPY t FROM STDIN", Kind::kWrite, {q("t")}},
      {"COPY t TO STDOUT", Kind::kUnknown, {}},
      {"COPY (SELECT f()) TO STDOUT", Kind::kUnknown, {}},
      {"TRUNCATE a, b.c", Kind::kWrite, {q("a"), q("b", "c")}},
      {"REFRESH MATERIALIZED VIEW mv", Kind::kWrite, {q("mv")}},
      {"CREATE TABLE t (a int)", Kind::kWrite, {}},
      {"ALTER TABLE t ADD COLUMN b int", Kind::kWrite, {}},
      {"DROP TABLE t", Kind::kWrite, {}},
      {"GRANT SELECT ON t TO bob", Kind::kWrite, {}},
      {"CREATE OR REPLACE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", Kind::kWrite, {}},
      {"VACUUM t", Kind::kWrite, {}},
      {"CALL p()", Kind::kWrite, {}},
      {"DO $$ BEGIN END $$", Kind::kWrite, {}},
      {"EXECUTE s(1)", Kind::kWrite, {}},
      {"EXPLAIN ANALYZE DELETE FROM t", Kind::kWrite, {q("t")}},
      {"EXPLAIN (ANALYZE false) SELECT 1", Kind::kWrite, {}},
      {"EXPLAIN DELETE FROM t", Kind::kHarmless, {}},
      {"SHOW search_path", Kind::kHarmless, {}},
      {"LISTEN c", Kind::kHarmless, {}},
      {"UNLISTEN *", Kind::kHarmless, {}},
      {"NOTIFY c, 'x'", Kind::kHarmless, {}},
      {"DEALLOCATE ALL", Kind::kHarmless, {}},
      {"CLOSE c", Kind::kHarmless, {}},
      {"FETCH 10 FROM c", Kind::kHarmless, {}},
      {"MOVE NEXT IN c", Kind::kHarmless, {}},
      {"LOCK TABLE t", Kind::kHarmless, {}},
      {"CHECKPOINT", Kind::kHarmless, {}},
      {"PREPARE p AS SELECT 1", Kind::kHarmless, {}},
      {"DECLARE c CURSOR FOR SELECT nextval('s')", Kind::kUnknown, {}},
      {"LOAD 'plpgsql'", Kind::kUnknown, {}},
      {"BEGIN", Kind::kTransaction, {}},
      {"START TRANSACTION ISOLATION LEVEL REPEATABLE READ", Kind::kTransaction, {}},
      {"COMMIT", Kind::kTransaction, {}},
      {"END", Kind::kTransaction, {}},
      {"ROLLBACK", Kind::kTransaction, {}},
      {"SAVEPOINT a", Kind::kTransaction, {}},
      {"RELEASE a", Kind::kTransaction, {}},
      {"ROLLBACK TO a", Kind::kTransaction, {}},
      {"PREPARE TRANSACTION 'x'", Kind::kTransaction, {}},
      {"ROLLBACK PREPARED 'x'", Kind::kTransaction, {}},
      {"COMMIT PREPARED 'x'", Kind::kWrite, {}},
      {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", Kind::kTransaction, {}},
      {"SET TRANSACTION SNAPSHOT '0001'", Kind::kTransaction, {}},
  };
  for (const Case& c : cases) {
    Analysis a = read(c.sql);
    EXPECT_EQ(a.kind, c.kind) << c.sql;
    EXPECT_EQ(a.refusal, refusal::kNotRead) << c.sql;
    EXPECT_EQ(a.written, c.written) << c.sql;
  }
}

TEST(SqlAnalysis, Settings) {
  const std::pair<const char*, const char*> cases[] = {
      {"SET search_path = a, b", "search_path"},
      {"SET LOCAL Search_Path TO a", "search_path"},
      {"SET SCHEMA 'x'", "search_path"},
      {"SET TIME ZONE 'UTC'", "timezone"},
      {"SET NAMES 'UTF8'", "client_encoding"},
      {"SET ROLE bob", "role"},
      {"RESET ROLE", "role"},
      {"SET SESSION AUTHORIZATION DEFAULT", "session_authorization"},
      {"RESET DateStyle", "datestyle"},
      {"SET extra_float_digits FROM CURRENT", "extra_float_digits"},
      {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "session characteristics"},
      {"RESET ALL", "all"},
      {"DISCARD ALL", "all"},
      {"DISCARD PLANS", "plans"},
      {"DISCARD SEQUENCES", "sequences"},
      {"DISCARD TEMP", "temp"},
  };
  for (const auto& [sql, setting] : cases) {
    Analysis a = read(sql);
    EXPECT_EQ(a.kind, Kind::kSetting) << sql;
    EXPECT_EQ(a.refusal, refusal::kNotRead) << sql;
    EXPECT_EQ(a.setting, setting) << sql;
  }
}

TEST(SqlAnalysis, EmptyTextIsHarmless) {
  for (const char* sql : {"", "   ", "-- only a comment", "/* a */ ;", ";;"}) {
    Analysis a = read(sql);
    EXPECT_EQ(a.kind, Kind::kHarmless) << sql;
    EXPECT_EQ(a.refusal, refusal::kNotRead) << sql;
  }
}

TEST(SqlAnalysis, NulByteIsAParseError) {
  Analysis a = read(std::string("SELECT 1\0; DROP TABLE t", 23));
  EXPECT_EQ(a.kind, Kind::kUnknown);
  EXPECT_EQ(a.refusal, refusal::kParseError);
}

TEST(SqlAnalysis, DeepTreesNeverCrash) {
  constexpr int kDepth = 10000;
  // Left-deep: the parser takes it, but its tree is too deep to read
  // (sql/parser.cpp bounds it, so that copying it cannot overflow a stack).
  std::string sum = "SELECT 1";
  for (int i = 0; i < kDepth; ++i)
    sum += "+1";
  Analysis a = read(sum);
  EXPECT_EQ(a.kind, Kind::kUnknown);
  EXPECT_EQ(a.refusal, refusal::kParseError);
  EXPECT_EQ(key_text(sum, true).size(), sum.size() + 2 * kDepth);
  // ... while one the tree bound lets through stops at the walker's own.
  std::string long_sum = "SELECT 1";
  for (int i = 0; i < 1200; ++i)
    long_sum += "+1";
  EXPECT_EQ(read(long_sum).refusal, refusal::kUnsupportedNode);
  // Nested: the parser itself refuses it.
  std::string nested = "SELECT " + std::string(kDepth, '(') + "1" + std::string(kDepth, ')');
  EXPECT_EQ(read(nested).refusal, refusal::kParseError);
  std::string subqueries;
  for (int i = 0; i < kDepth; ++i)
    subqueries += "SELECT * FROM (";
  EXPECT_EQ(read(subqueries + "SELECT 1" + std::string(kDepth, ')')).kind, Kind::kUnknown);
  // Deep but within bounds: read to the end.
  std::string moderate = "SELECT 1";
  for (int i = 0; i < 200; ++i)
    moderate += "+1";
  EXPECT_EQ(read_refusal(moderate), "");
}

}  // namespace
}  // namespace usher::sql
