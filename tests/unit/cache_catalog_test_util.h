// The catalog the cache_catalog tests share: a small database's query
// results written by hand, and analyses made without the parser.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cache/catalog.h"
#include "sql/analysis.h"

namespace usher::cache::testing {

using sql::Analysis;
using sql::QualifiedName;
using sql::StatementKind;
using Names = std::vector<QualifiedName>;
using Ids = std::vector<std::string>;

// One row of the relations query.
inline std::vector<std::string> relation(int oid, std::string schema, std::string name,
                                         std::string kind = "r", std::string persistence = "p",
                                         std::string row_security = "f", std::string hidden = "f") {
  return {std::to_string(oid),    std::move(schema),       std::move(name),  std::move(kind),
          std::move(persistence), std::move(row_security), std::move(hidden)};
}

inline std::vector<std::string> inherits(int child, int parent) {
  return {std::to_string(child), std::to_string(parent)};
}

// A small database: the same name in two schemas, a temporary table that
// shadows a permanent one, every kind of relation the cache refuses, a
// two-level partition tree, inheritance, and tables with hidden writes.
inline std::vector<Rows> sample_results() {
  Rows relations = {
      relation(1, "public", "orders"),
      relation(2, "public", "items"),
      relation(3, "shop", "orders"),
      relation(4, "pg_catalog", "pg_class"),
      relation(5, "information_schema", "tables", "v"),
      relation(6, "pg_temp_3", "scratch", "r", "t"),
      relation(7, "public", "scratch"),
      relation(8, "public", "logs", "r", "u"),
      relation(9, "public", "secrets", "r", "p", "t"),
      relation(10, "public", "remote", "f"),
      relation(11, "public", "summary", "m"),
      relation(12, "public", "ids", "S"),
      relation(13, "pg_toast", "pg_toast_1234"),
      relation(20, "public", "events", "p"),
      relation(21, "public", "events_2024"),
      relation(22, "public", "events_2025", "p"),
      relation(23, "public", "events_2025_q1"),
      relation(30, "public", "base"),
      relation(31, "public", "derived"),
      relation(40, "public", "audited", "r", "p", "f", "t"),
      relation(41, "public", "cascading", "r", "p", "f", "t"),
      relation(70, "public", "mixed", "p"),
      relation(71, "public", "mixed_remote", "f"),
      relation(80, "public", "noisy", "p", "p", "f", "t"),
      relation(81, "public", "noisy_1"),
  };
  Rows views = {};
  Rows inherit = {inherits(21, 20), inherits(22, 20), inherits(23, 22), inherits(31, 30),
                  inherits(71, 70), inherits(81, 80),
                  // An index's or a vanished relation's row: skipped.
                  inherits(999, 20)};
  Rows functions = {
      {"pg_catalog", "lower", "t", "f"},   {"pg_catalog", "now", "f", "f"},
      {"pg_catalog", "nextval", "f", "t"}, {"public", "twice", "t", "f"},
      {"public", "mixed", "t", "f"},       {"shop", "mixed", "f", "f"},
      {"public", "writer", "f", "t"},
  };
  Rows operators = {
      {"pg_catalog", "=", "t", "f"}, {"pg_catalog", "-", "f", "f"}, {"pg_catalog", "!!", "f", "t"},
      {"public", "@@@", "f", "f"},   {"public", "===", "t", "f"},   {"shop", "===", "t", "f"},
  };
  return {relations, views, inherit, functions, operators};
}

inline Catalog sample() {
  auto built = Catalog::build(sample_results());
  EXPECT_TRUE(built.ok()) << built.error().message;
  return *built;
}

inline Analysis read(Names relations, Names functions = {}, Names operators = {}) {
  return Analysis{.kind = StatementKind::kRead,
                  .relations = std::move(relations),
                  .functions = std::move(functions),
                  .operators = std::move(operators)};
}

inline Analysis write(Names written, Names relations = {}, Names functions = {}) {
  return Analysis{.kind = StatementKind::kWrite,
                  .relations = std::move(relations),
                  .functions = std::move(functions),
                  .written = std::move(written)};
}

inline std::string id(std::string_view schema, std::string_view name) {
  return table_id(schema, name);
}

class CatalogTest : public ::testing::Test {
 protected:
  Resolution resolve(const Analysis& a, const Ids& include = {}, const Ids& exclude = {}) {
    return catalog_.resolve(a, include, exclude);
  }
  std::string_view refusal_of(Names relations) {
    return resolve(read(std::move(relations))).refusal;
  }

  Catalog catalog_ = sample();
};

}  // namespace usher::cache::testing
