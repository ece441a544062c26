// What a read depends on and what a write may change, from the catalog's
// tables (cache/catalog_impl.h).
#include <unordered_map>
#include <unordered_set>

#include "cache/catalog.h"
#include "cache/catalog_impl.h"

namespace usher::cache {
namespace {

using sql::QualifiedName;

// The schema PostgreSQL reads as "this session's temporary schema".
constexpr std::string_view kTempAlias = "pg_temp";

bool is_temporary(const Relation& r) {
  return r.persistence == persistence::kTemporary || is_temp_schema(r.schema);
}

// Why a relation, by what it is, cannot be cached; empty when it can.
std::string_view own_refusal(const Relation& r) {
  if (is_catalog_schema(r.schema)) return refusal::kCatalogRelation;
  if (is_temporary(r)) return refusal::kTemporary;
  if (r.persistence == persistence::kUnlogged) return refusal::kUnlogged;
  if (r.row_security) return refusal::kRowSecurity;
  switch (r.kind) {
    case relkind::kMaterializedView:
      return refusal::kMaterializedView;
    case relkind::kForeignTable:
      return refusal::kForeignTable;
    case relkind::kSequence:
      return refusal::kSequence;
    default:
      return {};
  }
}

// The relations a name in a read may mean. An unqualified name may mean
// one in any schema (Usher cannot be sure of the client's search_path), and
// the session's temporary schema comes first in every search_path, so a
// name that some temporary relation has is refused. In a view's
// definition names are bound already and a permanent view never reads a
// temporary relation (PostgreSQL makes such a view temporary itself), so
// there temporary candidates are just left out.
std::string_view read_candidates(const CatalogTables& t, const QualifiedName& n, bool in_view,
                                 std::vector<uint32_t>& out) {
  out.clear();
  if (!n.schema.empty()) {
    if (is_catalog_schema(n.schema)) return refusal::kCatalogRelation;
    if (is_temp_schema(n.schema)) return refusal::kTemporary;
    auto it = t.by_id.find(table_id(n.schema, n.name));
    if (it == t.by_id.end()) return refusal::kUnknownRelation;
    out.push_back(it->second);
    return {};
  }
  auto it = t.by_name.find(n.name);
  if (it == t.by_name.end()) return refusal::kUnknownRelation;
  for (uint32_t i : it->second) {
    if (is_temporary(t.relations[i])) {
      if (!in_view) return refusal::kTemporary;
      continue;
    }
    out.push_back(i);
  }
  return out.empty() ? refusal::kUnknownRelation : std::string_view();
}

// The relations a written name may mean: every one of that name when
// unqualified, every temporary one when qualified with pg_temp (whose
// session Usher does not know).
void write_candidates(const CatalogTables& t, const QualifiedName& n, std::vector<uint32_t>& out) {
  out.clear();
  if (!n.schema.empty() && n.schema != kTempAlias) {
    auto it = t.by_id.find(table_id(n.schema, n.name));
    if (it != t.by_id.end()) out.push_back(it->second);
    return;
  }
  auto it = t.by_name.find(n.name);
  if (it == t.by_name.end()) return;
  for (uint32_t i : it->second) {
    if (n.schema.empty() || is_temporary(t.relations[i])) out.push_back(i);
  }
}

// Whether `ok` holds for every overload a function or operator name may
// mean (in its schema, or in any when unqualified); false when the name is
// unknown: what the catalog does not know is denied.
template <typename Pred>
bool every_overload(const Routines& r, const QualifiedName& n, Pred ok) {
  if (!n.schema.empty()) {
    auto it = r.by_id.find(table_id(n.schema, n.name));
    return it != r.by_id.end() && ok(r.all[it->second]);
  }
  auto it = r.by_name.find(n.name);
  if (it == r.by_name.end()) return false;
  for (uint32_t i : it->second) {
    if (!ok(r.all[i])) return false;
  }
  return true;
}

bool function_allowed(const CatalogTables& t, const QualifiedName& n) {
  return every_overload(t.functions, n, [](const Routine& r) { return r.immutable; });
}

// pg_catalog's stable operators depend only on settings the cache key
// covers (TimeZone, default_text_search_config).
bool operator_allowed(const CatalogTables& t, const QualifiedName& n) {
  return every_overload(t.operators, n, [](const Routine& r) {
    return !r.is_volatile && (r.immutable || r.schema == kCatalogSchema);
  });
}

// Only a volatile function may write (PostgreSQL refuses data changes in
// stable and immutable ones). pg_catalog's volatile functions change
// sequences, settings, locks, large objects and the like, but no table a
// result can be cached from; those that run a query string (query_to_xml)
// run it read-only.
bool may_write(const CatalogTables& t, const QualifiedName& n) {
  return !every_overload(t.functions, n, [](const Routine& r) {
    return !r.is_volatile || r.schema == kCatalogSchema;
  });
}

bool readable_definition(const Relation& view) {
  return view.definition && view.definition->kind == sql::StatementKind::kRead &&
         view.definition->refusal.empty();
}

// The base tables a read depends on. Each relation is expanded once per
// read, so a hostile catalog (views reading views in a diamond, a cycle
// through pg_inherits) costs at most its size.
class Reader {
 public:
  explicit Reader(const CatalogTables& t) : t_(t) {}

  std::string_view read(const sql::Analysis& a, bool in_view, int depth) {
    std::vector<uint32_t> found;
    for (const QualifiedName& name : a.relations) {
      if (auto r = read_candidates(t_, name, in_view, found); !r.empty()) return r;
      for (uint32_t i : found) {
        if (auto r = relation(i, depth); !r.empty()) return r;
      }
    }
    for (const QualifiedName& f : a.functions) {
      if (!function_allowed(t_, f)) return refusal::kNotImmutable;
    }
    for (const QualifiedName& op : a.operators) {
      if (!operator_allowed(t_, op)) return refusal::kOperatorNotImmutable;
    }
    return {};
  }

  const std::vector<uint32_t>& tables() const { return tables_; }

 private:
  enum class State : uint8_t { kOpen, kDone };

  std::string_view relation(uint32_t index, int depth) {
    if (auto it = state_.find(index); it != state_.end()) {
      // Open: a view that reads itself, through others or not.
      return it->second == State::kDone ? std::string_view() : refusal::kViewDefinition;
    }
    state_.emplace(index, State::kOpen);
    const Relation& rel = t_.relations[index];
    std::string_view r = own_refusal(rel);
    if (r.empty()) r = rel.kind == relkind::kView ? view(rel, depth) : family(index);
    state_[index] = State::kDone;
    return r;
  }

  // Whatever makes a view's definition uncacheable makes the view so.
  std::string_view view(const Relation& rel, int depth) {
    if (depth >= kMaxViewDepth || !readable_definition(rel)) return refusal::kViewDefinition;
    return read(*rel.definition, true, depth + 1).empty() ? std::string_view()
                                                          : refusal::kViewDefinition;
  }

  // A table and its descendants (partitions, inheritance children), which
  // a read of the table reads too; breadth first, so that no chain of
  // pg_inherits rows can exhaust the stack.
  std::string_view family(uint32_t index) {
    tables_.push_back(index);
    std::vector<uint32_t> queue{index};
    for (size_t next = 0; next < queue.size(); ++next) {
      for (uint32_t c : t_.relations[queue[next]].children) {
        if (!state_.emplace(c, State::kDone).second) continue;
        const Relation& child = t_.relations[c];
        if (auto r = own_refusal(child); !r.empty()) return r;
        // No view inherits in PostgreSQL; rows that say so are not trusted.
        if (child.kind == relkind::kView) return refusal::kViewDefinition;
        tables_.push_back(c);
        queue.push_back(c);
      }
    }
    return {};
  }

  const CatalogTables& t_;
  std::unordered_map<uint32_t, State> state_;
  std::vector<uint32_t> tables_;
};

// Whether `entry` ("schema.name" or "name") names the table.
bool names_table(std::string_view entry, const Relation& rel) {
  if (entry == rel.name) return true;
  return entry.size() == rel.schema.size() + 1 + rel.name.size() && entry.starts_with(rel.schema) &&
         entry[rel.schema.size()] == '.' && entry.ends_with(rel.name);
}

bool listed(const std::vector<std::string>& list, const Relation& rel) {
  for (const std::string& entry : list) {
    if (names_table(entry, rel)) return true;
  }
  return false;
}

// The tables a write may change. Each method returns false when it may
// change something the tree does not show.
class Writer {
 public:
  explicit Writer(const CatalogTables& t) : t_(t) {}

  // Functions it calls, directly or through the views it reads (a view's
  // columns and conditions run with it). The system's views (whose
  // definitions are not loaded) call only pg_catalog's functions.
  bool calls_no_writer(const sql::Analysis& a, int depth) {
    for (const QualifiedName& f : a.functions) {
      if (may_write(t_, f)) return false;
    }
    std::vector<uint32_t> found;
    for (const QualifiedName& name : a.relations) {
      write_candidates(t_, name, found);
      for (uint32_t i : found) {
        const Relation& rel = t_.relations[i];
        if (rel.kind != relkind::kView || is_catalog_schema(rel.schema)) continue;
        if (!views_read_.insert(i).second) continue;
        if (depth >= kMaxViewDepth || !readable_definition(rel)) return false;
        if (!calls_no_writer(*rel.definition, depth + 1)) return false;
      }
    }
    return true;
  }

  bool target(const QualifiedName& name, int depth) {
    std::vector<uint32_t> found;
    write_candidates(t_, name, found);
    if (found.empty()) return false;
    for (uint32_t i : found) {
      if (open_views_.contains(i)) return false;  // a view that reads itself
      if (!walk(i, depth, &Relation::parents, seen_up_)) return false;
      if (!walk(i, depth, &Relation::children, seen_down_)) return false;
    }
    return true;
  }

  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    out.reserve(targets_.size());
    for (uint32_t i : targets_)
      out.push_back(t_.relations[i].id);
    return out;
  }

 private:
  // A written table's ancestors (what they read includes it) or its
  // descendants (a write to a parent reaches them). `seen` marks where the
  // walk in that direction was done already.
  bool walk(uint32_t index, int depth, std::vector<uint32_t> Relation::*next,
            std::unordered_set<uint32_t>& seen) {
    if (!seen.insert(index).second) return true;
    std::vector<uint32_t> queue{index};
    for (size_t at = 0; at < queue.size(); ++at) {
      if (!visit(queue[at], depth)) return false;
      for (uint32_t n : t_.relations[queue[at]].*next) {
        if (seen.insert(n).second) queue.push_back(n);
      }
    }
    return true;
  }

  bool visit(uint32_t index, int depth) {
    if (!visited_.insert(index).second) return true;
    const Relation& rel = t_.relations[index];
    if (rel.hidden_writes) return false;
    if (rel.kind != relkind::kView) {
      targets_.push_back(index);
      return true;
    }
    // An updatable view writes its base table, evaluating its conditions.
    if (depth >= kMaxViewDepth || !readable_definition(rel)) return false;
    if (!calls_no_writer(*rel.definition, depth + 1)) return false;
    open_views_.insert(index);
    for (const QualifiedName& name : rel.definition->relations) {
      if (!target(name, depth + 1)) return false;
    }
    open_views_.erase(index);
    return true;
  }

  const CatalogTables& t_;
  std::unordered_set<uint32_t> seen_up_;
  std::unordered_set<uint32_t> seen_down_;
  std::unordered_set<uint32_t> visited_;
  std::unordered_set<uint32_t> views_read_;
  std::unordered_set<uint32_t> open_views_;  // being expanded, for cycles
  std::vector<uint32_t> targets_;
};

}  // namespace

Resolution Catalog::resolve(const sql::Analysis& read, const std::vector<std::string>& include,
                            const std::vector<std::string>& exclude) const {
  if (read.kind != sql::StatementKind::kRead) return {.refusal = sql::refusal::kNotRead};
  if (!read.refusal.empty()) return {.refusal = read.refusal};
  if (!impl_) return {.refusal = refusal::kUnknownRelation};
  Reader reader(*impl_);
  if (auto r = reader.read(read, false, 0); !r.empty()) return {.refusal = r};
  Resolution out;
  out.tables.reserve(reader.tables().size());
  for (uint32_t i : reader.tables()) {
    const Relation& rel = impl_->relations[i];
    if (listed(exclude, rel) || (!include.empty() && !listed(include, rel))) {
      return {.refusal = refusal::kExcluded};
    }
    out.tables.push_back(rel.id);
  }
  return out;
}

std::optional<std::vector<std::string>> Catalog::write_targets(const sql::Analysis& write) const {
  if (!impl_ || write.kind == sql::StatementKind::kUnknown) return std::nullopt;
  // DDL, CALL, DO, EXECUTE...: nothing the tree names says what changes.
  if (write.kind == sql::StatementKind::kWrite && write.written.empty()) return std::nullopt;
  Writer writer(*impl_);
  if (!writer.calls_no_writer(write, 0)) return std::nullopt;
  for (const QualifiedName& name : write.written) {
    if (!writer.target(name, 0)) return std::nullopt;
  }
  return writer.ids();
}

}  // namespace usher::cache
