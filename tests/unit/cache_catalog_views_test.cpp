#include <gtest/gtest.h>

#include "cache/catalog.h"
#include "cache_catalog_test_util.h"

namespace usher::cache {
namespace {

using namespace testing;  // NOLINT: the shared fixture and its helpers

// Views, with definitions as pg_get_viewdef writes them, read by
// sql::analyze().
class CatalogViewTest : public CatalogTest {
 protected:
  CatalogViewTest() {
    std::vector<Rows> results = sample_results();
    auto view = [&](int oid, std::string name, std::string definition) {
      results[0].push_back(relation(oid, "public", name, "v"));
      if (!definition.empty()) results[1].push_back({std::to_string(oid), definition});
    };
    view(50, "v_orders",
         " SELECT o.id,\n    lower('x'::text) AS lower\n   FROM (orders o\n"
         "     JOIN shop.orders s USING (id))\n  WHERE (o.id > 1);");
    view(51, "v_now", " SELECT now() AS now;");
    view(52, "v_nested", " SELECT v_orders.id\n   FROM v_orders;");
    view(53, "v_a", " SELECT * FROM v_b;");
    view(54, "v_b", " SELECT * FROM v_a;");
    view(55, "v_events", " SELECT events.at FROM events;");
    view(56, "v_lost", "");  // its definition did not come back
    view(57, "v_scratch", " SELECT scratch.x FROM scratch;");
    view(58, "v_logs", " SELECT logs.x FROM public.logs;");
    view(59, "v_writer", " SELECT items.id FROM items WHERE (writer() > 0);");
    view(60, "v_catalog", " SELECT pg_class.relname FROM pg_class;");
    view(61, "v_unparsable", " SELECT FROM WHERE;");
    // A chain: v_chain_k reads v_chain_(k-1); v_chain_0 reads items.
    for (int k = 0; k <= kChain; ++k) {
      view(100 + k, "v_chain_" + std::to_string(k),
           k == 0 ? std::string(" SELECT items.id FROM items;")
                  : " SELECT * FROM v_chain_" + std::to_string(k - 1) + ";");
    }
    // A definition for a table's oid is not a view's: skipped.
    results[1].push_back({"2", " SELECT now();"});
    results[4].push_back({"pg_catalog", ">", "f", "f"});
    auto built = Catalog::build(results);
    EXPECT_TRUE(built.ok()) << built.error().message;
    if (built.ok()) catalog_ = *built;
  }
  static constexpr int kChain = 20;
};

TEST_F(CatalogViewTest, ViewReadsWhatItsDefinitionReads) {
  auto r = resolve(read({{"", "v_orders"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, (Ids{id("public", "orders"), id("shop", "orders")}));
  r = resolve(read({{"public", "v_nested"}, {"", "items"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, (Ids{id("public", "orders"), id("shop", "orders"), id("public", "items")}));
  r = resolve(read({{"", "v_events"}}));
  EXPECT_EQ(r.tables.size(), 4u);
  // The table whose oid had a definition row is still a table.
  EXPECT_EQ(resolve(read({{"", "items"}})).tables, Ids{id("public", "items")});
}

TEST_F(CatalogViewTest, ViewWithAnythingUncacheableIsRefused) {
  EXPECT_EQ(refusal_of({{"", "v_now"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_logs"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_writer"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_catalog"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_unparsable"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_lost"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_a"}}), refusal::kViewDefinition);  // a cycle
}

TEST_F(CatalogViewTest, ViewDefinitionIgnoresTemporaryNamesakes) {
  auto r = resolve(read({{"", "v_scratch"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, Ids{id("public", "scratch")});
}

TEST_F(CatalogViewTest, NestingIsBounded) {
  auto r = resolve(read({{"", "v_chain_15"}}));
  EXPECT_EQ(r.refusal, "");
  EXPECT_EQ(r.tables, Ids{id("public", "items")});
  EXPECT_EQ(refusal_of({{"", "v_chain_16"}}), refusal::kViewDefinition);
  EXPECT_EQ(refusal_of({{"", "v_chain_20"}}), refusal::kViewDefinition);
}

TEST_F(CatalogViewTest, ListsApplyThroughViews) {
  EXPECT_EQ(resolve(read({{"", "v_orders"}}), {}, {"shop.orders"}).refusal, refusal::kExcluded);
  EXPECT_EQ(resolve(read({{"", "v_orders"}}), {"orders"}).refusal, "");
}

TEST_F(CatalogViewTest, WriteThroughViewTargetsItsBaseTables) {
  auto t = catalog_.write_targets(write({{"", "v_nested"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (Ids{id("public", "orders"), id("shop", "orders")}));
  t = catalog_.write_targets(write({{"", "v_events"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 4u);
  // Its definition may call a writer, or cannot be read.
  EXPECT_FALSE(catalog_.write_targets(write({{"", "v_writer"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"", "v_unparsable"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"", "v_lost"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"", "v_a"}})));
  EXPECT_FALSE(catalog_.write_targets(write({{"", "v_chain_20"}})));
  // No base table (not updatable, so the write fails): nothing changes.
  t = catalog_.write_targets(write({{"", "v_now"}}));
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->empty());
  // A write that reads a view whose definition calls a writer.
  EXPECT_FALSE(catalog_.write_targets(write({{"", "items"}}, {{"", "v_writer"}})));
  t = catalog_.write_targets(write({{"", "items"}}, {{"", "tables"}}));  // information_schema's
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Ids{id("public", "items")});
  t = catalog_.write_targets(write({{"", "items"}}, {{"", "v_orders"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, Ids{id("public", "items")});
}

}  // namespace
}  // namespace usher::cache
