// What the result cache must know of a database that a parse tree does not
// show: which relations a name may mean and what they are (table, view,
// partitioned, temporary, unlogged, with row security...), which base
// tables a view or a partitioned table reads, which functions and
// operators are immutable, and which tables hide writes behind a write
// (triggers, rules, cascading foreign keys). Loaded by the invalidation
// stream (cache/stream.h) with a few catalog queries, rebuilt after every
// catalog change; immutable once built, shared by every worker.
//
// Pure: no I/O (the queries are run by the caller).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sql/analysis.h"

namespace usher::cache {

// A table as the cache names it: schema and name, unquoted, joined by a
// NUL (neither can contain one), as the invalidation stream reports it.
std::string table_id(std::string_view schema, std::string_view name);

// The text rows of one query's result (the queries never return NULLs).
using Rows = std::vector<std::vector<std::string>>;

// Why a read is refused on the catalog's account (besides sql::refusal).
namespace refusal {
inline constexpr std::string_view kUnknownRelation = "unknown relation";
inline constexpr std::string_view kCatalogRelation = "catalog relation";
inline constexpr std::string_view kTemporary = "temporary table";
inline constexpr std::string_view kUnlogged = "unlogged table";
inline constexpr std::string_view kRowSecurity = "row level security";
inline constexpr std::string_view kForeignTable = "foreign table";
inline constexpr std::string_view kMaterializedView = "materialized view";
inline constexpr std::string_view kSequence = "sequence";
inline constexpr std::string_view kNotImmutable = "function not immutable";
inline constexpr std::string_view kOperatorNotImmutable = "operator not immutable";
inline constexpr std::string_view kViewDefinition = "view reads something not cacheable";
inline constexpr std::string_view kExcluded = "table excluded";
}  // namespace refusal

struct Resolution {
  std::string_view refusal;         // empty: cacheable
  std::vector<std::string> tables;  // table_id()s the result depends on, deduplicated
};

class Catalog {
 public:
  // The queries to run, in order, each as one simple Query; build() takes
  // their rows in the same order.
  static const std::vector<std::string_view>& queries();
  // Fails on rows of the wrong shape.
  static Result<Catalog> build(const std::vector<Rows>& results);

  // For a kRead analysis: the base tables it reads (views expanded
  // recursively through their definitions, partitioned and inheritance
  // parents to all descendants), or why not. An unqualified name may mean
  // a relation of that name in any schema (Usher does not know the
  // client's search_path for sure): every candidate must be cacheable, and
  // the result depends on all of them. A name that some temporary table
  // has is refused unless qualified with another schema. Functions:
  // allowed when every overload of that name (in that schema, or in any
  // schema when unqualified) is immutable. Operators: allowed when no
  // overload is volatile and every overload outside pg_catalog is
  // immutable (pg_catalog's stable operators depend only on TimeZone and
  // default_text_search_config, which the cache key covers).
  // `include`/`exclude`: query_cache_tables / query_cache_exclude_tables
  // ("schema.name" or "name"; empty include: all).
  Resolution resolve(const sql::Analysis& read, const std::vector<std::string>& include,
                     const std::vector<std::string>& exclude) const;

  // For a write (query_cache_invalidation = proxy): the tables it may
  // change (targets, their partitions and parents, the base tables of an
  // updatable view), or nullopt when it may change tables the tree does
  // not show (triggers, rules, cascading foreign keys, functions, unknown
  // statements): then the whole database is flushed.
  std::optional<std::vector<std::string>> write_targets(const sql::Analysis& write) const;

  size_t relation_count() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace usher::cache
