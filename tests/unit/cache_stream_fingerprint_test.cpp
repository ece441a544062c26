#include "cache/stream_fingerprint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace usher::cache {
namespace {

// The rows a server would answer, every catalog with `count` rows and
// digest 1000 + its position.
Rows answer(int count = 5) {
  Rows rows;
  int i = 0;
  for (std::string_view name : fingerprint_catalogs()) {
    rows.push_back({std::string(name), std::to_string(count), std::to_string(1000 + i++)});
  }
  return rows;
}

Rows with_part(Rows rows, std::string_view catalog, std::string count, std::string digest) {
  for (auto& row : rows) {
    if (row[0] == catalog) row = {row[0], std::move(count), std::move(digest)};
  }
  return rows;
}

TEST(CacheStreamFingerprint, WatchesTheCatalogsTheCacheDecidesWith) {
  const auto& names = fingerprint_catalogs();
  for (std::string_view needed :
       {"pg_class", "pg_namespace", "pg_attribute", "pg_proc", "pg_rewrite", "pg_inherits",
        "pg_trigger", "pg_constraint", "pg_policy", "pg_type", "pg_operator", "pg_cast",
        "pg_auth_members", "pg_db_role_setting", "pg_roles"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), needed), names.end()) << needed;
  }
  EXPECT_EQ(names.size(), 15u);
}

TEST(CacheStreamFingerprint, QueryNamesEveryCatalogQualified) {
  const std::string& q = fingerprint_query();
  for (std::string_view name : fingerprint_catalogs()) {
    EXPECT_NE(q.find("FROM pg_catalog." + std::string(name)), std::string::npos) << name;
    EXPECT_NE(q.find("'" + std::string(name) + "'"), std::string::npos) << name;
  }
  // pg_authid is for superusers only: the poll must work for any role.
  EXPECT_EQ(q.find("pg_authid"), std::string::npos);
  EXPECT_EQ(q.find(';'), std::string::npos);
}

TEST(CacheStreamFingerprint, RowsInAnyOrderGiveTheSameFingerprint) {
  Rows rows = answer();
  auto a = parse_fingerprint(rows);
  std::reverse(rows.begin(), rows.end());
  auto b = parse_fingerprint(rows);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->parts[0], "5 1000");
  EXPECT_TRUE(changed_catalogs(*a, *b).empty());
}

TEST(CacheStreamFingerprint, ACountOrDigestThatMovedIsAChange) {
  auto before = parse_fingerprint(answer());
  auto dropped = parse_fingerprint(with_part(answer(), "pg_class", "4", "1000"));
  auto updated = parse_fingerprint(with_part(answer(), "pg_rewrite", "5", "-17"));
  ASSERT_TRUE(before.ok() && dropped.ok() && updated.ok());
  EXPECT_NE(*before, *dropped);
  EXPECT_EQ(changed_catalogs(*before, *dropped), std::vector<std::string_view>{"pg_class"});
  EXPECT_NE(*before, *updated);
  EXPECT_EQ(changed_catalogs(*before, *updated), std::vector<std::string_view>{"pg_rewrite"});
}

TEST(CacheStreamFingerprint, NegativeAndHugeSumsParse) {
  // hashtextextended() sums are signed numerics of 20 digits and more.
  auto fp = parse_fingerprint(with_part(answer(), "pg_roles", "13", "-23404151050535459125"));
  ASSERT_TRUE(fp.ok()) << fp.error().message;
}

TEST(CacheStreamFingerprint, MalformedAnswersAreRefused) {
  EXPECT_FALSE(parse_fingerprint({}).ok());
  Rows missing = answer();
  missing.pop_back();
  EXPECT_FALSE(parse_fingerprint(missing).ok());
  Rows extra = answer();
  extra.push_back(extra.front());
  EXPECT_FALSE(parse_fingerprint(extra).ok());
  Rows twice = answer();
  twice.back() = twice.front();  // right count, one catalog twice, one absent
  EXPECT_FALSE(parse_fingerprint(twice).ok());
  Rows unknown = answer();
  unknown[0][0] = "pg_statistic";
  EXPECT_FALSE(parse_fingerprint(unknown).ok());
  Rows narrow = answer();
  narrow[0].pop_back();
  EXPECT_FALSE(parse_fingerprint(narrow).ok());
  for (const std::string& bad :
       std::vector<std::string>{"", "-", "1.5", "12a", "1 2", std::string(41, '9')}) {
    EXPECT_FALSE(parse_fingerprint(with_part(answer(), "pg_type", bad, "1")).ok()) << bad;
    EXPECT_FALSE(parse_fingerprint(with_part(answer(), "pg_type", "1", bad)).ok()) << bad;
  }
}

TEST(CacheStreamFingerprint, ShapesThatDifferChangeEverything) {
  auto fp = parse_fingerprint(answer());
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(changed_catalogs(CatalogFingerprint{}, *fp).size(), fingerprint_catalogs().size());
}

}  // namespace
}  // namespace usher::cache
