// The catalog queries and the tables built from their rows.
#include <charconv>
#include <utility>

#include "cache/catalog.h"
#include "cache/catalog_impl.h"

namespace usher::cache {
namespace {

// Every relation that a FROM clause can name. hidden_writes: a write to it
// may change what its statement does not show: a user trigger (foreign
// keys' own triggers are internal, and only check), a rule other than a
// view's _RETURN, or a foreign key referencing it whose action on DELETE or
// UPDATE changes the referencing rows (anything but NO ACTION, RESTRICT).
// pg_catalog's and information_schema's relations are loaded too: an
// unqualified name that one of them has must be refused.
constexpr std::string_view kRelationsQuery =
    "SELECT c.oid::text, n.nspname::text, c.relname::text, c.relkind::text, "
    "c.relpersistence::text, CASE WHEN c.relrowsecurity THEN 't' ELSE 'f' END, "
    "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
    "WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) "
    "OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r "
    "WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN') "
    "OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.contype = 'f' "
    "AND k.confrelid = c.oid AND (k.confdeltype NOT IN ('a', 'r') "
    "OR k.confupdtype NOT IN ('a', 'r'))) THEN 't' ELSE 'f' END "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')";

// The system's views are refused by their schema, so their definitions
// (a hundred or so, each parsed at every build) are left out.
constexpr std::string_view kViewsQuery =
    "SELECT c.oid::text, coalesce(pg_catalog.pg_get_viewdef(c.oid), '') "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

// Partitioned indexes inherit too; only relations count.
constexpr std::string_view kInheritsQuery =
    "SELECT i.inhrelid::text, i.inhparent::text FROM pg_catalog.pg_inherits i "
    "JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')";

// Per schema and name: whether every overload is immutable, and whether
// any is volatile (may write, for write_targets()).
constexpr std::string_view kFunctionsQuery =
    "SELECT n.nspname::text, p.proname::text, "
    "CASE WHEN bool_and(p.provolatile = 'i') THEN 't' ELSE 'f' END, "
    "CASE WHEN bool_or(p.provolatile = 'v') THEN 't' ELSE 'f' END "
    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "GROUP BY n.nspname, p.proname";

// An operator is as volatile as the function behind it; shell operators
// (no function yet) cannot be used and are left out by the join.
constexpr std::string_view kOperatorsQuery =
    "SELECT n.nspname::text, o.oprname::text, "
    "CASE WHEN bool_and(p.provolatile = 'i') THEN 't' ELSE 'f' END, "
    "CASE WHEN bool_or(p.provolatile = 'v') THEN 't' ELSE 'f' END "
    "FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace "
    "JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode GROUP BY n.nspname, o.oprname";

enum Query : size_t { kRelations, kViews, kInherits, kFunctions, kOperators, kQueryCount };

constexpr size_t kRelationColumns = 7;
constexpr size_t kViewColumns = 2;
constexpr size_t kInheritsColumns = 2;
constexpr size_t kRoutineColumns = 4;

constexpr std::string_view kTrue = "t";
constexpr std::string_view kFalse = "f";

Error malformed(size_t query, size_t row, std::string what) {
  return make_error("", "catalog query " + std::to_string(query + 1) + ", row " +
                            std::to_string(row + 1) + ": " + std::move(what));
}

std::optional<uint32_t> parse_oid(std::string_view text) {
  uint32_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  if (text == kTrue) return true;
  if (text == kFalse) return false;
  return std::nullopt;
}

bool is_relkind(std::string_view k) {
  if (k.size() != 1) return false;
  switch (k[0]) {
    case relkind::kTable:
    case relkind::kPartitioned:
    case relkind::kView:
    case relkind::kMaterializedView:
    case relkind::kForeignTable:
    case relkind::kSequence:
      return true;
    default:
      return false;
  }
}

bool is_persistence(std::string_view p) {
  return p.size() == 1 && (p[0] == persistence::kPermanent || p[0] == persistence::kUnlogged ||
                           p[0] == persistence::kTemporary);
}

Status check_columns(const Rows& rows, size_t query, size_t columns) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != columns) {
      return malformed(query, i,
                       "expected " + std::to_string(columns) + " columns, got " +
                           std::to_string(rows[i].size()));
    }
  }
  return ok_status();
}

Status add_relations(const Rows& rows, CatalogTables& impl) {
  impl.relations.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    auto oid = parse_oid(row[0]);
    if (!oid) return malformed(kRelations, i, "oid is not a number");
    if (!is_relkind(row[3])) return malformed(kRelations, i, "unexpected relkind");
    if (!is_persistence(row[4])) return malformed(kRelations, i, "unexpected relpersistence");
    auto row_security = parse_bool(row[5]);
    auto hidden_writes = parse_bool(row[6]);
    if (!row_security || !hidden_writes) return malformed(kRelations, i, "expected 't' or 'f'");
    const auto index = static_cast<uint32_t>(impl.relations.size());
    std::string id = table_id(row[1], row[2]);
    if (!impl.by_oid.emplace(*oid, index).second) {
      return malformed(kRelations, i, "oid " + row[0] + " twice");
    }
    if (!impl.by_id.emplace(id, index).second) {
      return malformed(kRelations, i, "relation " + row[1] + "." + row[2] + " twice");
    }
    impl.by_name[row[2]].push_back(index);
    impl.relations.push_back(Relation{.oid = *oid,
                                      .schema = row[1],
                                      .name = row[2],
                                      .id = std::move(id),
                                      .kind = row[3][0],
                                      .persistence = row[4][0],
                                      .row_security = *row_security,
                                      .hidden_writes = *hidden_writes});
  }
  return ok_status();
}

// A definition for an oid that is not a view: the queries ran apart and a
// view was dropped (or made) between them. The next catalog change
// rebuilds the catalog; meanwhile the view simply has no definition.
Status add_views(const Rows& rows, CatalogTables& impl) {
  for (size_t i = 0; i < rows.size(); ++i) {
    auto oid = parse_oid(rows[i][0]);
    if (!oid) return malformed(kViews, i, "oid is not a number");
    auto it = impl.by_oid.find(*oid);
    if (it == impl.by_oid.end()) continue;
    Relation& view = impl.relations[it->second];
    if (view.kind != relkind::kView || rows[i][1].empty()) continue;
    // pg_get_viewdef writes literals for standard_conforming_strings = on,
    // the server's default; where it is off, an E'' literal says so itself.
    view.definition = sql::analyze(rows[i][1], true);
  }
  return ok_status();
}

// Rows naming a relation the first query did not return are skipped, as
// for views.
Status add_inherits(const Rows& rows, CatalogTables& impl) {
  for (size_t i = 0; i < rows.size(); ++i) {
    auto child = parse_oid(rows[i][0]);
    auto parent = parse_oid(rows[i][1]);
    if (!child || !parent) return malformed(kInherits, i, "oid is not a number");
    auto c = impl.by_oid.find(*child);
    auto p = impl.by_oid.find(*parent);
    if (c == impl.by_oid.end() || p == impl.by_oid.end()) continue;
    impl.relations[c->second].parents.push_back(p->second);
    impl.relations[p->second].children.push_back(c->second);
  }
  return ok_status();
}

// The same schema and name twice (the query groups by them, so only a
// hand-made result does that) merges both, the stricter way.
Status add_routines(const Rows& rows, size_t query, Routines& out) {
  out.all.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    auto immutable = parse_bool(row[2]);
    auto is_volatile = parse_bool(row[3]);
    if (!immutable || !is_volatile) return malformed(query, i, "expected 't' or 'f'");
    const auto index = static_cast<uint32_t>(out.all.size());
    auto [it, added] = out.by_id.emplace(table_id(row[0], row[1]), index);
    if (!added) {
      Routine& known = out.all[it->second];
      known.immutable = known.immutable && *immutable;
      known.is_volatile = known.is_volatile || *is_volatile;
      continue;
    }
    out.by_name[row[1]].push_back(index);
    out.all.push_back(
        Routine{.schema = row[0], .immutable = *immutable, .is_volatile = *is_volatile});
  }
  return ok_status();
}

}  // namespace

std::string table_id(std::string_view schema, std::string_view name) {
  std::string id;
  id.reserve(schema.size() + 1 + name.size());
  id.append(schema);
  id.push_back('\0');
  id.append(name);
  return id;
}

bool is_catalog_schema(std::string_view schema) {
  return schema == kCatalogSchema || schema == "information_schema" ||
         schema.starts_with("pg_toast");
}

bool is_temp_schema(std::string_view schema) {
  return schema.starts_with("pg_temp");
}

const std::vector<std::string_view>& Catalog::queries() {
  static const std::vector<std::string_view> all = {kRelationsQuery, kViewsQuery, kInheritsQuery,
                                                    kFunctionsQuery, kOperatorsQuery};
  return all;
}

Result<Catalog> Catalog::build(const std::vector<Rows>& results) {
  if (results.size() != kQueryCount) {
    return make_error("", "catalog: expected " + std::to_string(size_t(kQueryCount)) +
                              " query results, got " + std::to_string(results.size()));
  }
  constexpr size_t kColumns[kQueryCount] = {kRelationColumns, kViewColumns, kInheritsColumns,
                                            kRoutineColumns, kRoutineColumns};
  for (size_t q = 0; q < kQueryCount; ++q) {
    if (Status s = check_columns(results[q], q, kColumns[q]); !s) return s.take_error();
  }
  auto impl = std::make_shared<Impl>();
  if (Status s = add_relations(results[kRelations], *impl); !s) return s.take_error();
  if (Status s = add_views(results[kViews], *impl); !s) return s.take_error();
  if (Status s = add_inherits(results[kInherits], *impl); !s) return s.take_error();
  if (Status s = add_routines(results[kFunctions], kFunctions, impl->functions); !s) {
    return s.take_error();
  }
  if (Status s = add_routines(results[kOperators], kOperators, impl->operators); !s) {
    return s.take_error();
  }
  Catalog catalog;
  catalog.impl_ = std::move(impl);
  return catalog;
}

size_t Catalog::relation_count() const {
  return impl_ ? impl_->relations.size() : 0;
}

}  // namespace usher::cache
