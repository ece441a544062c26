#include "cache/decoding.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usher::cache {
namespace {

using namespace std::string_literals;

// schema NUL name, as catalog.h's table_id() spells a table.
std::string id(std::string_view schema, std::string_view name) {
  return std::string(schema) + '\0' + std::string(name);
}

using Ids = std::vector<std::string>;

// Feeds every line; returns the commits, failing the test on an error.
std::vector<DecodedCommit> run(TransactionDecoder& d, const std::vector<std::string>& lines) {
  std::vector<DecodedCommit> commits;
  for (const auto& line : lines) {
    auto r = d.feed(line);
    EXPECT_TRUE(r.ok()) << line << ": " << (r.ok() ? "" : r.error().message);
    if (r.ok() && *r) commits.push_back(std::move(**r));
  }
  return commits;
}

// ---- decode_line ------------------------------------------------------------

TEST(CacheDecoding, BeginAndCommitWithOrWithoutXid) {
  EXPECT_EQ(decode_line("BEGIN").kind, LineKind::kBegin);
  EXPECT_EQ(decode_line("BEGIN 742").kind, LineKind::kBegin);
  EXPECT_EQ(decode_line("COMMIT").kind, LineKind::kCommit);
  EXPECT_EQ(decode_line("COMMIT 742").kind, LineKind::kCommit);
  EXPECT_EQ(decode_line("COMMIT 742 (at 2024-01-01 00:00:00+00)").kind, LineKind::kCommit);
}

TEST(CacheDecoding, LookalikesAreUnknown) {
  for (std::string_view line :
       {"BEGINNING", "BEGIN ", "BEGIN x", "COMMITTED", "COMMIT PREPARED 'g'",
        "PREPARE TRANSACTION 'g'", "begin", "", "table", "table ", "tables public.t: INSERT: x"}) {
    EXPECT_EQ(decode_line(line).kind, LineKind::kUnknown) << line;
  }
}

TEST(CacheDecoding, TableLineEachAction) {
  for (std::string_view action : {"INSERT", "UPDATE", "DELETE", "TRUNCATE"}) {
    std::string line = "table public.orders: " + std::string(action) + ": id[integer]:1";
    DecodedLine d = decode_line(line);
    ASSERT_EQ(d.kind, LineKind::kTable) << line;
    EXPECT_EQ(d.tables, Ids{id("public", "orders")});
    EXPECT_EQ(d.names, "public.orders");
  }
}

TEST(CacheDecoding, TableLineActionMustBeKnownAndEndInColon) {
  EXPECT_EQ(decode_line("table public.t: MERGE: x").kind, LineKind::kUnknown);
  EXPECT_EQ(decode_line("table public.t: INSERTS: x").kind, LineKind::kUnknown);
  EXPECT_EQ(decode_line("table public.t: INSERT").kind, LineKind::kUnknown);
  EXPECT_EQ(decode_line("table public.t:INSERT: x").kind, LineKind::kUnknown);
  EXPECT_EQ(decode_line("table public.t INSERT: x").kind, LineKind::kUnknown);
  EXPECT_EQ(decode_line("table public.t: DELETE: (no-tuple-data)").kind, LineKind::kTable);
}

TEST(CacheDecoding, QuotedNames) {
  DecodedLine d = decode_line(R"(table "My Schema"."Order ""Items""": INSERT: x)");
  ASSERT_EQ(d.kind, LineKind::kTable);
  EXPECT_EQ(d.tables, Ids{id("My Schema", "Order \"Items\"")});
  // Quoted parts may hold what ends a plain one.
  d = decode_line(R"(table "a.b"."c: d, e": UPDATE: x)");
  ASSERT_EQ(d.kind, LineKind::kTable);
  EXPECT_EQ(d.tables, Ids{id("a.b", "c: d, e")});
  d = decode_line(R"(table public."select": INSERT: x)");
  ASSERT_EQ(d.kind, LineKind::kTable);
  EXPECT_EQ(d.tables, Ids{id("public", "select")});
  d = decode_line("table \"\xc3\xa9t\xc3\xa9\".t1: INSERT: x");
  ASSERT_EQ(d.kind, LineKind::kTable);
  EXPECT_EQ(d.tables, Ids{id("\xc3\xa9t\xc3\xa9", "t1")});
}

TEST(CacheDecoding, MalformedNamesAreUnknown) {
  for (std::string_view line : {
           R"(table "unclosed.t: INSERT: x)",
           R"(table "".t: INSERT: x)",    // an empty name
           R"(table public: INSERT: x)",  // unqualified
           R"(table .t: INSERT: x)",
           R"(table public.: INSERT: x)",
           R"(table a.b.c: INSERT: x)",
           R"(table a"b.c: INSERT: x)",
           R"(table public.t, : TRUNCATE: (no-flags))",
       }) {
    EXPECT_EQ(decode_line(line).kind, LineKind::kUnknown) << line;
  }
  // A NUL inside a name would make its id ambiguous.
  EXPECT_EQ(decode_line("table \"a\0b\".t: INSERT: x"s).kind, LineKind::kUnknown);
  EXPECT_EQ(decode_line("table a\0b.t: INSERT: x"s).kind, LineKind::kUnknown);
}

TEST(CacheDecoding, TruncateOfSeveralTables) {
  DecodedLine d = decode_line(R"(table public.a, "S".b, public.c: TRUNCATE: restart_seqs cascade)");
  ASSERT_EQ(d.kind, LineKind::kTable);
  EXPECT_EQ(d.tables, (Ids{id("public", "a"), id("S", "b"), id("public", "c")}));
}

TEST(CacheDecoding, LineCutAnywhereInTheNamesIsUnknown) {
  const std::string line = R"(table public.alpha, "Be""ta".gamma: TRUNCATE: (no-flags))";
  const size_t names_end = line.find(": TRUNCATE:") + std::string(": TRUNCATE:").size();
  for (size_t n = 0; n < names_end; ++n) {
    std::string cut = line.substr(0, n);
    EXPECT_NE(decode_line(cut).kind, LineKind::kTable) << cut;
  }
  EXPECT_EQ(decode_line(line.substr(0, names_end)).kind, LineKind::kTable);
}

TEST(CacheDecoding, Message) {
  EXPECT_EQ(decode_line("message: transactional: 1 prefix: p, sz: 1 content:x").kind,
            LineKind::kMessage);
}

// ---- TransactionDecoder -------------------------------------------------------

TEST(CacheDecoding, TransactionCollectsDistinctSortedTables) {
  TransactionDecoder d;
  auto commits = run(d, {"BEGIN", "table public.b: INSERT: x", "table public.a: UPDATE: x",
                         "table public.b: DELETE: x", "table public.a: INSERT: y", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_FALSE(commits[0].catalog_change);
  EXPECT_EQ(commits[0].tables, (Ids{id("public", "a"), id("public", "b")}));
  EXPECT_FALSE(d.in_transaction());
}

TEST(CacheDecoding, EmptyTransactionIsCatalogChange) {
  TransactionDecoder d;
  auto commits = run(d, {"BEGIN 10", "COMMIT 10"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_TRUE(commits[0].catalog_change);
  EXPECT_TRUE(commits[0].tables.empty());
}

TEST(CacheDecoding, MessageOnlyTransactionIsCatalogChange) {
  // A transactional message says nothing about tables; the transaction may
  // still have run DDL, which test_decoding does not show.
  TransactionDecoder d;
  auto commits = run(d, {"BEGIN", "message: transactional: 1 prefix: p, sz: 0 content:", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_TRUE(commits[0].catalog_change);
}

TEST(CacheDecoding, NonTransactionalMessageOutsideIsIgnored) {
  TransactionDecoder d;
  auto r = d.feed("message: transactional: 0 prefix: p, sz: 1 content:x");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_FALSE(d.in_transaction());
}

TEST(CacheDecoding, UnknownLineInsideFlushes) {
  TransactionDecoder d;
  auto commits = run(d, {"BEGIN", "table public.a: INSERT: x", "something new",
                         "table public.b: INSERT: x", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_TRUE(commits[0].catalog_change);
  EXPECT_TRUE(commits[0].tables.empty());
  // The next transaction starts clean.
  commits = run(d, {"BEGIN", "table public.c: INSERT: x", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_FALSE(commits[0].catalog_change);
  EXPECT_EQ(commits[0].tables, Ids{id("public", "c")});
}

TEST(CacheDecoding, CutTableLineInsideFlushes) {
  TransactionDecoder d;
  auto commits = run(d, {"BEGIN", "table public.a, public.b", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_TRUE(commits[0].catalog_change);
}

TEST(CacheDecoding, OutOfOrderLinesAreErrors) {
  {
    TransactionDecoder d;
    ASSERT_TRUE(d.feed("BEGIN").ok());
    auto r = d.feed("BEGIN");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
  for (std::string_view line : {"COMMIT", "table public.t: INSERT: x", "gibberish"}) {
    TransactionDecoder d;
    auto r = d.feed(line);
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
}

TEST(CacheDecoding, SameTableFastPathStillChecksTheLine) {
  TransactionDecoder d;
  // After public.t, a line naming public.tt or public.t plus another table
  // must not be taken for public.t alone.
  auto commits =
      run(d, {"BEGIN", "table public.t: INSERT: x", "table public.tt: INSERT: x",
              "table public.t: INSERT: x", "table public.t, public.u: TRUNCATE: x", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].tables, (Ids{id("public", "t"), id("public", "tt"), id("public", "u")}));
  // A malformed action after a known name is not a row of that table.
  commits = run(d, {"BEGIN", "table public.t: INSERT: x", "table public.t: BOGUS: x", "COMMIT"});
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_TRUE(commits[0].catalog_change);
}

TEST(CacheDecoding, ManyRowsOfOneTable) {
  TransactionDecoder d;
  ASSERT_TRUE(d.feed("BEGIN").ok());
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(d.feed("table public.big: INSERT: id[integer]:" + std::to_string(i)).ok());
  }
  auto r = d.feed("COMMIT");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->tables, Ids{id("public", "big")});
}

TEST(CacheDecoding, TooManyTablesBecomesCatalogChange) {
  TransactionDecoder d;
  ASSERT_TRUE(d.feed("BEGIN").ok());
  for (size_t i = 0; i < kMaxTablesPerTransaction; ++i) {
    ASSERT_TRUE(d.feed("table s.t" + std::to_string(i) + ": INSERT: x").ok());
  }
  // At the cap, tables seen before still fit.
  ASSERT_TRUE(d.feed("table s.t0: INSERT: x").ok());
  ASSERT_TRUE(d.feed("table s.t5: DELETE: x").ok());
  auto r = d.feed("COMMIT");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_FALSE((*r)->catalog_change);
  EXPECT_EQ((*r)->tables.size(), kMaxTablesPerTransaction);

  ASSERT_TRUE(d.feed("BEGIN").ok());
  for (size_t i = 0; i <= kMaxTablesPerTransaction; ++i) {
    ASSERT_TRUE(d.feed("table s.t" + std::to_string(i) + ": INSERT: x").ok());
  }
  r = d.feed("COMMIT");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE((*r)->catalog_change);
  EXPECT_TRUE((*r)->tables.empty());
}

}  // namespace
}  // namespace usher::cache
