#include <gtest/gtest.h>

#include "cache/catalog.h"
#include "cache_catalog_test_util.h"

namespace usher::cache {
namespace {

using namespace testing;  // NOLINT: the shared fixture and its helpers

TEST(CatalogTableId, JoinsSchemaAndNameWithNul) {
  EXPECT_EQ(table_id("public", "t"), std::string("public\0t", 8));
  EXPECT_NE(table_id("a", "bc"), table_id("ab", "c"));
}

TEST(CatalogQueries, FiveInTheOrderBuildTakes) {
  ASSERT_EQ(Catalog::queries().size(), 5u);
  EXPECT_NE(Catalog::queries()[0].find("relkind"), std::string_view::npos);
  EXPECT_NE(Catalog::queries()[1].find("pg_get_viewdef"), std::string_view::npos);
  EXPECT_NE(Catalog::queries()[2].find("pg_inherits"), std::string_view::npos);
  EXPECT_NE(Catalog::queries()[3].find("pg_proc"), std::string_view::npos);
  EXPECT_NE(Catalog::queries()[4].find("pg_operator"), std::string_view::npos);
}

TEST_F(CatalogTest, QualifiedTableIsItself) {
  auto r = resolve(read({{"public", "items"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, Ids{id("public", "items")});
  EXPECT_EQ(catalog_.relation_count(), 25u);
}

TEST_F(CatalogTest, UnqualifiedNameDependsOnEverySchemasTable) {
  auto r = resolve(read({{"", "orders"}, {"", "items"}, {"public", "orders"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, (Ids{id("public", "orders"), id("shop", "orders"), id("public", "items")}));
}

TEST_F(CatalogTest, UnknownRelationIsRefused) {
  EXPECT_EQ(refusal_of({{"", "nowhere"}}), refusal::kUnknownRelation);
  EXPECT_EQ(refusal_of({{"shop", "items"}}), refusal::kUnknownRelation);
}

TEST_F(CatalogTest, CatalogRelationsAreRefused) {
  EXPECT_EQ(refusal_of({{"pg_catalog", "pg_class"}}), refusal::kCatalogRelation);
  EXPECT_EQ(refusal_of({{"", "pg_class"}}), refusal::kCatalogRelation);
  EXPECT_EQ(refusal_of({{"information_schema", "tables"}}), refusal::kCatalogRelation);
  EXPECT_EQ(refusal_of({{"", "tables"}}), refusal::kCatalogRelation);
  EXPECT_EQ(refusal_of({{"pg_toast", "pg_toast_1234"}}), refusal::kCatalogRelation);
  // Refused by the schema alone, known or not.
  EXPECT_EQ(refusal_of({{"pg_catalog", "pg_nothing"}}), refusal::kCatalogRelation);
  EXPECT_EQ(refusal_of({{"pg_toast_temp_3", "x"}}), refusal::kCatalogRelation);
}

TEST_F(CatalogTest, TemporaryTablesAndTheNamesTheyShadow) {
  EXPECT_EQ(refusal_of({{"", "scratch"}}), refusal::kTemporary);
  EXPECT_EQ(refusal_of({{"pg_temp", "scratch"}}), refusal::kTemporary);
  EXPECT_EQ(refusal_of({{"pg_temp_3", "scratch"}}), refusal::kTemporary);
  EXPECT_EQ(refusal_of({{"pg_temp", "orders"}}), refusal::kTemporary);
  // Qualified with another schema, the name means that schema's table.
  auto r = resolve(read({{"public", "scratch"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, Ids{id("public", "scratch")});
}

TEST_F(CatalogTest, EachKindOfUncacheableRelation) {
  EXPECT_EQ(refusal_of({{"", "logs"}}), refusal::kUnlogged);
  EXPECT_EQ(refusal_of({{"", "secrets"}}), refusal::kRowSecurity);
  EXPECT_EQ(refusal_of({{"", "remote"}}), refusal::kForeignTable);
  EXPECT_EQ(refusal_of({{"", "summary"}}), refusal::kMaterializedView);
  EXPECT_EQ(refusal_of({{"", "ids"}}), refusal::kSequence);
  // One refused relation refuses the whole read.
  EXPECT_EQ(refusal_of({{"", "items"}, {"public", "logs"}}), refusal::kUnlogged);
}

TEST_F(CatalogTest, PartitionedTableDependsOnEveryDescendant) {
  auto r = resolve(read({{"", "events"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, (Ids{id("public", "events"), id("public", "events_2024"),
                           id("public", "events_2025"), id("public", "events_2025_q1")}));
  // A partition read directly is only itself.
  r = resolve(read({{"", "events_2025"}}));
  EXPECT_EQ(r.tables, (Ids{id("public", "events_2025"), id("public", "events_2025_q1")}));
  // Each table once, however many names reach it.
  r = resolve(read({{"", "events_2024"}, {"", "events"}}));
  EXPECT_EQ(r.tables.size(), 4u);
}

TEST_F(CatalogTest, DescendantsRefusalsReachTheParent) {
  EXPECT_EQ(refusal_of({{"", "mixed"}}), refusal::kForeignTable);
}

TEST_F(CatalogTest, InheritanceParentDependsOnChildren) {
  auto r = resolve(read({{"", "base"}}));
  EXPECT_EQ(r.tables, (Ids{id("public", "base"), id("public", "derived")}));
  r = resolve(read({{"", "derived"}}));
  EXPECT_EQ(r.tables, Ids{id("public", "derived")});
}

TEST_F(CatalogTest, FunctionsMustBeImmutableInEverySchema) {
  EXPECT_EQ(resolve(read({}, {{"", "lower"}})).refusal, "");
  EXPECT_EQ(resolve(read({}, {{"pg_catalog", "lower"}})).refusal, "");
  EXPECT_EQ(resolve(read({}, {{"", "now"}})).refusal, refusal::kNotImmutable);
  EXPECT_EQ(resolve(read({}, {{"", "nextval"}})).refusal, refusal::kNotImmutable);
  // public.mixed is immutable, shop.mixed is not: unqualified may mean either.
  EXPECT_EQ(resolve(read({}, {{"", "mixed"}})).refusal, refusal::kNotImmutable);
  EXPECT_EQ(resolve(read({}, {{"public", "mixed"}})).refusal, "");
  EXPECT_EQ(resolve(read({}, {{"shop", "mixed"}})).refusal, refusal::kNotImmutable);
  // Unknown: denied.
  EXPECT_EQ(resolve(read({}, {{"", "no_such_function"}})).refusal, refusal::kNotImmutable);
  EXPECT_EQ(resolve(read({}, {{"shop", "lower"}})).refusal, refusal::kNotImmutable);
}

TEST_F(CatalogTest, OperatorsStableOnlyInPgCatalogNeverVolatile) {
  auto op = [&](QualifiedName n) { return resolve(read({}, {}, {std::move(n)})).refusal; };
  EXPECT_EQ(op({"", "="}), "");
  EXPECT_EQ(op({"", "-"}), "");                                // stable, in pg_catalog
  EXPECT_EQ(op({"", "!!"}), refusal::kOperatorNotImmutable);   // volatile, even there
  EXPECT_EQ(op({"", "@@@"}), refusal::kOperatorNotImmutable);  // stable, elsewhere
  EXPECT_EQ(op({"", "==="}), "");
  EXPECT_EQ(op({"shop", "==="}), "");
  EXPECT_EQ(op({"shop", "="}), refusal::kOperatorNotImmutable);
  EXPECT_EQ(op({"", "<<>>"}), refusal::kOperatorNotImmutable);
}

TEST_F(CatalogTest, OnlyCacheableReadsAreResolved) {
  Analysis w = write({{"", "items"}});
  EXPECT_EQ(resolve(w).refusal, sql::refusal::kNotRead);
  Analysis locked = read({{"", "items"}});
  locked.refusal = sql::refusal::kLocking;
  EXPECT_EQ(resolve(locked).refusal, sql::refusal::kLocking);
  EXPECT_EQ(Catalog().resolve(read({{"", "items"}}), {}, {}).refusal, refusal::kUnknownRelation);
}

TEST_F(CatalogTest, IncludeAndExcludeListsMatchEveryBaseTable) {
  Analysis a = read({{"", "orders"}});
  EXPECT_EQ(resolve(a, {}, {"shop.orders"}).refusal, refusal::kExcluded);
  EXPECT_EQ(resolve(a, {}, {"orders"}).refusal, refusal::kExcluded);
  EXPECT_EQ(resolve(a, {}, {"shop.items", "public.ord"}).refusal, "");
  EXPECT_EQ(resolve(a, {"public.orders"}).refusal, refusal::kExcluded);
  EXPECT_EQ(resolve(a, {"public.orders", "shop.orders"}).refusal, "");
  EXPECT_EQ(resolve(a, {"orders"}).refusal, "");
  // A partition excluded refuses its parent.
  EXPECT_EQ(resolve(read({{"", "events"}}), {}, {"public.events_2025_q1"}).refusal,
            refusal::kExcluded);
  EXPECT_EQ(resolve(a, {"orders"}, {"shop.orders"}).refusal, refusal::kExcluded);
}

TEST_F(CatalogTest, WriteTargetsTheTableAndItsPartitionTree) {
  auto t = catalog_.write_targets(write({{"public", "items"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Ids{id("public", "items")});
  // A partition: its ancestors read it.
  t = catalog_.write_targets(write({{"", "events_2025_q1"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Ids{id("public", "events_2025_q1"), id("public", "events_2025"),
                     id("public", "events")}));
  // A parent: it reaches every descendant, but no sibling of its own.
  t = catalog_.write_targets(write({{"", "events_2025"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Ids{id("public", "events_2025"), id("public", "events"),
                     id("public", "events_2025_q1")}));
  // After a partition, its parent still reaches the other partitions.
  t = catalog_.write_targets(write({{"", "events_2024"}, {"", "events"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 4u);
  // Unqualified: every schema's table.
  t = catalog_.write_targets(write({{"", "orders"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Ids{id("public", "orders"), id("shop", "orders")}));
  t = catalog_.write_targets(write({{"", "base"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Ids{id("public", "base"), id("public", "derived")}));
}

TEST_F(CatalogTest, WritesThatMayChangeWhatTheTreeDoesNotShow) {
  EXPECT_FALSE(catalog_.write_targets(write({{"", "audited"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"public", "cascading"}})));
  // A trigger on the parent fires for its partitions' rows.
  EXPECT_FALSE(catalog_.write_targets(write({{"", "noisy_1"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"", "nowhere"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"shop", "items"}})));
  EXPECT_FALSE(catalog_.write_targets(write({})));   // DDL, CALL, DO
  EXPECT_FALSE(catalog_.write_targets(Analysis{}));  // kUnknown
  EXPECT_FALSE(catalog_.write_targets(write({{"", "items"}}, {}, {{"", "writer"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"", "items"}}, {}, {{"", "unknown_fn"}})));
  EXPECT_FALSE(Catalog().write_targets(write({{"", "items"}})));
  // pg_catalog's volatile functions and stable ones anywhere write no table.
  auto t = catalog_.write_targets(write({{"", "items"}}, {}, {{"", "nextval"}, {"", "mixed"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Ids{id("public", "items")});
  // A read that calls a writer is a write.
  EXPECT_FALSE(catalog_.write_targets(read({{"", "items"}}, {{"public", "writer"}})));
  t = catalog_.write_targets(read({{"", "items"}}, {{"", "lower"}}));
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->empty());
}

TEST_F(CatalogTest, WriteToTemporaryNames) {
  auto t = catalog_.write_targets(write({{"pg_temp", "scratch"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Ids{id("pg_temp_3", "scratch")});
  t = catalog_.write_targets(write({{"", "scratch"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Ids{id("pg_temp_3", "scratch"), id("public", "scratch")}));
  EXPECT_FALSE(catalog_.write_targets(write({{"pg_temp", "items"}})));
}

class CatalogBuildTest : public ::testing::Test {
 protected:
  std::string error_of(const std::vector<Rows>& results) {
    auto built = Catalog::build(results);
    EXPECT_FALSE(built.ok());
    return built.ok() ? std::string() : built.error().message;
  }
  std::vector<Rows> results_ = sample_results();
};

TEST_F(CatalogBuildTest, EmptyCatalogBuilds) {
  auto built = Catalog::build({{}, {}, {}, {}, {}});
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->relation_count(), 0u);
  EXPECT_EQ(built->resolve(read({{"", "t"}}), {}, {}).refusal, refusal::kUnknownRelation);
}

TEST_F(CatalogBuildTest, WrongNumberOfResults) {
  EXPECT_EQ(error_of({{}, {}, {}, {}}), "catalog: expected 5 query results, got 4");
  EXPECT_EQ(error_of({}), "catalog: expected 5 query results, got 0");
}

TEST_F(CatalogBuildTest, WrongNumberOfColumns) {
  results_[0][2].pop_back();
  EXPECT_EQ(error_of(results_), "catalog query 1, row 3: expected 7 columns, got 6");
  results_ = sample_results();
  results_[4].push_back({"pg_catalog", "="});
  EXPECT_EQ(error_of(results_), "catalog query 5, row 7: expected 4 columns, got 2");
  results_ = sample_results();
  results_[1].push_back({"1"});
  EXPECT_EQ(error_of(results_), "catalog query 2, row 1: expected 2 columns, got 1");
}

TEST_F(CatalogBuildTest, OidsMustBeWholeUnsignedNumbers) {
  for (std::string bad : {"", "x", "12x", "-1", " 1", "4294967296", "1e3"}) {
    results_ = sample_results();
    results_[0][0][0] = bad;
    EXPECT_EQ(error_of(results_), "catalog query 1, row 1: oid is not a number") << bad;
  }
  results_ = sample_results();
  results_[0][0][0] = "4294967295";
  EXPECT_TRUE(Catalog::build(results_).ok());
  results_[2].push_back({"21", "parent"});
  EXPECT_EQ(error_of(results_), "catalog query 3, row 8: oid is not a number");
  results_ = sample_results();
  results_[1].push_back({"", "SELECT 1"});
  EXPECT_EQ(error_of(results_), "catalog query 2, row 1: oid is not a number");
}

TEST_F(CatalogBuildTest, UnexpectedValues) {
  results_[0][0][3] = "i";
  EXPECT_EQ(error_of(results_), "catalog query 1, row 1: unexpected relkind");
  results_[0][0][3] = "rr";
  EXPECT_EQ(error_of(results_), "catalog query 1, row 1: unexpected relkind");
  results_ = sample_results();
  results_[0][0][4] = "x";
  EXPECT_EQ(error_of(results_), "catalog query 1, row 1: unexpected relpersistence");
  results_ = sample_results();
  results_[0][0][5] = "true";
  EXPECT_EQ(error_of(results_), "catalog query 1, row 1: expected 't' or 'f'");
  results_ = sample_results();
  results_[3][0][3] = "";
  EXPECT_EQ(error_of(results_), "catalog query 4, row 1: expected 't' or 'f'");
}

TEST_F(CatalogBuildTest, DuplicateRelations) {
  results_[0].push_back(relation(1, "public", "other"));
  EXPECT_EQ(error_of(results_), "catalog query 1, row 26: oid 1 twice");
  results_ = sample_results();
  results_[0].push_back(relation(100, "public", "orders"));
  EXPECT_EQ(error_of(results_), "catalog query 1, row 26: relation public.orders twice");
}

TEST_F(CatalogBuildTest, DuplicateRoutinesMergeTheStricterWay) {
  results_[3].push_back({"pg_catalog", "lower", "f", "t"});
  auto built = Catalog::build(results_);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->resolve(read({}, {{"", "lower"}}), {}, {}).refusal, refusal::kNotImmutable);
}

// A cycle through pg_inherits (which PostgreSQL never makes) ends; so does
// a long chain, without recursion.
TEST_F(CatalogBuildTest, HostileInheritanceTerminates) {
  results_[2].push_back(inherits(20, 23));
  auto built = Catalog::build(results_);
  ASSERT_TRUE(built.ok());
  auto r = built->resolve(read({{"", "events_2025"}}), {}, {});
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables.size(), 4u);
  EXPECT_TRUE(built->write_targets(write({{"", "events_2024"}})));

  constexpr int kChain = 100000;
  Rows relations;
  Rows chain;
  for (int i = 1; i <= kChain; ++i) {
    relation(i, "public", "t" + std::to_string(i)).swap(relations.emplace_back());
    if (i > 1) chain.push_back(inherits(i, i - 1));
  }
  built = Catalog::build({relations, {}, chain, {}, {}});
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->resolve(read({{"", "t1"}}), {}, {}).tables.size(), size_t(kChain));
  auto t = built->write_targets(write({{"", "t50000"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), size_t(kChain));
}

}  // namespace
}  // namespace usher::cache
