#include "sql/analysis_walk.h"

#include <array>
#include <optional>
#include <unordered_map>
#include <vector>

#include "sql/lexical.h"

namespace usher::sql::detail {

namespace json = boost::json;

void refuse(Analysis& out, std::string_view reason) {
  if (out.refusal.empty() || (out.refusal == refusal::kParameter && reason != out.refusal)) {
    out.refusal = reason;
  }
}

void NameLists::add(std::vector<QualifiedName>& list, std::unordered_set<std::string>& seen,
                    QualifiedName n) {
  // A schema name cannot hold a NUL byte, so the pair reads back one way.
  std::string key = n.schema;
  key.push_back('\0');
  key += n.name;
  if (seen.insert(std::move(key)).second) list.push_back(std::move(n));
}

std::string_view string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

bool bool_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

namespace {

// Nodes deeper than this are not read: a hostile `1+1+...` parses into a
// tree as deep as it is long, and the walk recurses. Real queries stay far
// below it.
constexpr int kMaxDepth = 1000;
// The same bound for the blind search of collect_written, in JSON levels
// (about three a node).
constexpr int kMaxJsonDepth = 3 * kMaxDepth;

// libpg_query writes a node as {"Type": {fields}}; its type names start
// with a capital, its field names never do.
const json::object* as_node(const json::value& v, std::string_view& type) {
  if (!v.is_object() || v.as_object().size() != 1) return nullptr;
  const auto& [key, inner] = *v.as_object().begin();
  if (key.empty() || key[0] < 'A' || key[0] > 'Z' || !inner.is_object()) return nullptr;
  type = key;
  return &inner.as_object();
}

// A name written as a list of String nodes ("schema", "name"): the last is
// the name and the one before it the schema (a catalog before that is
// dropped). Empty when the list holds anything else.
std::optional<QualifiedName> name_of(const json::value& list) {
  if (!list.is_array() || list.as_array().empty()) return std::nullopt;
  std::vector<std::string_view> parts;
  for (const json::value& item : list.as_array()) {
    std::string_view type;
    const json::object* s = as_node(item, type);
    if (s == nullptr || type != "String") return std::nullopt;
    parts.push_back(string_field(*s, "sval"));
  }
  QualifiedName n;
  n.name = parts.back();
  if (parts.size() > 1) n.schema = parts[parts.size() - 2];
  return n;
}

// Columns whose values change without the row's data changing.
constexpr std::array<std::string_view, 5> kSystemColumns = {"ctid", "xmin", "xmax", "cmin", "cmax"};
// Words the date and time input functions read as the clock at parse time:
// 'now'::timestamptz, date 'today'. Matched anywhere in a literal, in any
// case: a false match only costs a cache miss.
constexpr std::array<std::string_view, 5> kTimeWords = {"now", "today", "tomorrow", "yesterday",
                                                        "current"};
// Types whose input functions look names up in the catalog (and the
// search_path): their values change with DDL the tables do not see.
constexpr std::array<std::string_view, 11> kCatalogTypes = {
    "regclass",     "regproc",     "regtype",   "regnamespace",  "regrole",     "regoper",
    "regprocedure", "regoperator", "regconfig", "regdictionary", "regcollation"};
constexpr std::array<std::string_view, 6> kSubLinkTypes = {"EXISTS_SUBLINK", "ALL_SUBLINK",
                                                           "ANY_SUBLINK",    "ROWCOMPARE_SUBLINK",
                                                           "EXPR_SUBLINK",   "ARRAY_SUBLINK"};
constexpr std::array<std::string_view, 10> kOperatorKinds = {
    "AEXPR_OP",     "AEXPR_OP_ANY", "AEXPR_OP_ALL", "AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT",
    "AEXPR_NULLIF", "AEXPR_IN",     "AEXPR_LIKE",   "AEXPR_ILIKE",    "AEXPR_SIMILAR"};
bool is_catalog_type(std::string_view type) {
  if (!type.empty() && type.front() == '_') type.remove_prefix(1);  // its array type
  return is_one_of(type, kCatalogTypes);
}

QualifiedName unqualified(std::string_view name) {
  return {.schema = {}, .name = std::string(name)};
}

class ReadWalker {
 public:
  explicit ReadWalker(NameLists& lists) : lists_(lists), out_(lists.out()) {}

  bool writes() const { return writes_; }

  void select(const json::object& fields, int depth) { node("SelectStmt", fields, depth); }

 private:
  // Refuses a node or field the walker does not know. What it hides is
  // still searched for writes: a write must never pass for a read,
  // whatever wraps it.
  template <typename Json>
  void unsupported(const Json& v) {
    refuse(out_, refusal::kUnsupportedNode);
    size_t before = out_.written.size();
    collect_written(v, lists_);
    if (out_.written.size() != before) writes_ = true;
  }

  // A Node field: one node, a list of them, or {} (a null in a list).
  void value(const json::value& v, int depth) {
    if (v.is_array()) {
      for (const json::value& item : v.as_array()) {
        if (item.is_array()) {
          unsupported(item);
        } else {
          value(item, depth);
        }
      }
      return;
    }
    if (v.is_object() && v.as_object().empty()) return;
    std::string_view type;
    const json::object* fields = as_node(v, type);
    if (fields == nullptr) return unsupported(v);
    node(type, *fields, depth);
  }

  void node(std::string_view type, const json::object& fields, int depth) {
    if (depth > kMaxDepth) {
      refuse(out_, refusal::kUnsupportedNode);
      return;
    }
    const auto& specs = node_specs();
    auto spec = specs.find(type);
    if (spec == specs.end()) return unsupported(fields);
    size_t scopes = scopes_.size();  // the WITH names a SelectStmt brings stay for its fields
    if (!own(type, fields, depth)) return end_scopes(scopes);
    for (const auto& [key, v] : fields) {
      if (!v.is_object() && !v.is_array()) continue;
      const FieldSpec* field = nullptr;
      for (const FieldSpec& f : spec->second) {
        if (f.name == key) field = &f;
      }
      if (field == nullptr) {
        unsupported(v);
      } else if (field->embedded == kOwnField) {
        continue;
      } else if (field->embedded.empty()) {
        value(v, depth + 1);
      } else if (v.is_object()) {
        node(field->embedded, v.as_object(), depth + 1);
      } else {
        unsupported(v);
      }
    }
    end_scopes(scopes);
  }

  // What a node means beyond its children; false when its children must
  // not be walked.
  bool own(std::string_view type, const json::object& f, int depth) {
    if (type == "SelectStmt") return select_own(f, depth);
    if (type == "RangeVar") {
      QualifiedName n = relation_of(f);
      if (!n.schema.empty() || string_field(f, "catalogname") != "" || !is_cte(n.name)) {
        lists_.relation(std::move(n));
      }
    } else if (type == "FuncCall") {
      if (const json::value* name = f.if_contains("funcname"); name && name_of(*name)) {
        lists_.function(*name_of(*name));
      } else {
        unsupported(f);
        return false;
      }
    } else if (type == "A_Expr") {
      return a_expr(f);
    } else if (type == "A_Const") {
      const json::value* s = f.if_contains("sval");
      std::string_view text = s && s->is_object() ? string_field(s->as_object(), "sval") : "";
      for (std::string_view word : kTimeWords) {
        if (contains_word(text, word)) refuse(out_, refusal::kTimeLiteral);
      }
    } else if (type == "TypeCast") {
      const json::value* t = f.if_contains("typeName");
      const json::value* names =
          t && t->is_object() ? t->as_object().if_contains("names") : nullptr;
      std::optional<QualifiedName> n = names ? name_of(*names) : std::nullopt;
      if (n && is_catalog_type(n->name)) refuse(out_, refusal::kCatalogCast);
    } else if (type == "ColumnRef") {
      const json::value* fields = f.if_contains("fields");
      if (fields && fields->is_array() && !fields->as_array().empty()) {
        std::string_view t;
        const json::object* last = as_node(fields->as_array().back(), t);
        if (last && t == "String" && is_one_of(string_field(*last, "sval"), kSystemColumns)) {
          refuse(out_, refusal::kSystemColumn);
        }
      }
    } else if (type == "ParamRef") {
      refuse(out_, refusal::kParameter);
    } else if (type == "SQLValueFunction") {
      refuse(out_, refusal::kSqlValueFunction);
    } else if (type == "SubLink") {
      if (!is_one_of(string_field(f, "subLinkType"), kSubLinkTypes)) {
        unsupported(f);
        return false;
      }
      if (const json::value* op = f.if_contains("operName"); op && name_of(*op)) {
        lists_.op(*name_of(*op));
      } else if (string_field(f, "subLinkType") == "ANY_SUBLINK") {
        lists_.op(unqualified("="));  // x IN (SELECT ...)
      }
    } else if (type == "CaseExpr") {
      if (f.contains("arg")) lists_.op(unqualified("="));  // CASE x WHEN 1 ...
    } else if (type == "JoinExpr") {
      if (bool_field(f, "isNatural") || f.contains("usingClause")) lists_.op(unqualified("="));
    } else if (type == "SortBy") {
      if (const json::value* op = f.if_contains("useOp"); op && name_of(*op)) {
        lists_.op(*name_of(*op));
      }
    } else if (type == "RangeTableSample") {
      if (!f.contains("repeatable")) refuse(out_, refusal::kTableSample);
    } else if (type == "CommonTableExpr") {
      cte_query(f, depth);
    }
    return true;
  }

  bool a_expr(const json::object& f) {
    std::string_view kind = string_field(f, "kind");
    if (kind == "AEXPR_BETWEEN" || kind == "AEXPR_BETWEEN_SYM") {
      // The server rewrites these into the comparisons they stand for.
      lists_.op(unqualified(">="));
      lists_.op(unqualified("<="));
    } else if (kind == "AEXPR_NOT_BETWEEN" || kind == "AEXPR_NOT_BETWEEN_SYM") {
      lists_.op(unqualified("<"));
      lists_.op(unqualified(">"));
    } else if (is_one_of(kind, kOperatorKinds)) {
      const json::value* name = f.if_contains("name");
      std::optional<QualifiedName> n = name ? name_of(*name) : std::nullopt;
      if (!n) {
        unsupported(f);
        return false;
      }
      lists_.op(std::move(*n));
    } else {
      unsupported(f);
      return false;
    }
    return true;
  }

  bool select_own(const json::object& f, int depth) {
    if (const json::value* into = f.if_contains("intoClause")) {
      refuse(out_, refusal::kSelectInto);
      writes_ = true;
      const json::value* rel = into->is_object() ? into->as_object().if_contains("rel") : nullptr;
      if (rel != nullptr && rel->is_object()) lists_.written(relation_of(rel->as_object()));
    }
    // The rows FOR UPDATE names are in FROM already; nothing under it is read.
    if (f.contains("lockingClause")) refuse(out_, refusal::kLocking);
    const json::value* with = f.if_contains("withClause");
    if (with == nullptr) return true;
    if (!with->is_object()) {
      unsupported(*with);
      return true;
    }
    // The names stay in scope for the rest of this statement, set
    // operations included: node() walks the other fields after this, and
    // closes the scope after them.
    with_clause(with->as_object(), depth + 1);
    return true;
  }

  // WITH: each name shadows a table for the statement it heads and for the
  // later CTEs (RECURSIVE: for every CTE, its own included).
  void with_clause(const json::object& with, int depth) {
    const json::value* ctes = with.if_contains("ctes");
    for (const auto& [key, v] : with) {
      if ((v.is_object() || v.is_array()) && key != "ctes") unsupported(v);
    }
    if (ctes == nullptr || !ctes->is_array()) return;
    bool recursive = bool_field(with, "recursive");
    std::vector<std::string> names;
    for (const json::value& cte : ctes->as_array()) {
      std::string_view type;
      const json::object* fields = as_node(cte, type);
      names.emplace_back(fields && type == "CommonTableExpr" ? string_field(*fields, "ctename")
                                                             : "");
    }
    if (recursive) {
      for (const std::string& n : names)
        enter(n);
    }
    for (size_t i = 0; i < names.size(); ++i) {
      value(ctes->as_array()[i], depth);
      if (!recursive) enter(names[i]);
    }
    scopes_.push_back(std::move(names));
  }

  void cte_query(const json::object& f, int depth) {
    const json::value* query = f.if_contains("ctequery");
    std::string_view type;
    const json::object* fields = query ? as_node(*query, type) : nullptr;
    if (fields == nullptr) {
      if (query != nullptr) unsupported(*query);
      return;
    }
    if (type == "SelectStmt") {
      node(type, *fields, depth + 1);
    } else if (is_one_of(type, kDataModifying)) {
      refuse(out_, refusal::kModifyingCte);
      writes_ = true;
      if (!collect_written(*query, lists_)) refuse(out_, refusal::kUnsupportedNode);
    } else {
      unsupported(*query);
    }
  }

  void enter(const std::string& name) { ++ctes_[name]; }

  // Closes the WITH scopes opened since there were `mark` of them.
  void end_scopes(size_t mark) {
    while (scopes_.size() > mark) {
      for (const std::string& n : scopes_.back()) {
        auto it = ctes_.find(n);
        if (it != ctes_.end() && --it->second == 0) ctes_.erase(it);
      }
      scopes_.pop_back();
    }
  }

 private:
  bool is_cte(const std::string& name) const { return ctes_.contains(name); }

  NameLists& lists_;
  Analysis& out_;
  bool writes_ = false;
  // Names of the CTEs in scope, each with how many open WITHs define it.
  std::unordered_map<std::string, int> ctes_;
  std::vector<std::vector<std::string>> scopes_;
};

}  // namespace

QualifiedName relation_of(const json::object& range_var) {
  return {.schema = std::string(string_field(range_var, "schemaname")),
          .name = std::string(string_field(range_var, "relname"))};
}

bool walk_select(const json::object& select, NameLists& lists) {
  ReadWalker walker(lists);
  walker.select(select, 0);
  return walker.writes();
}

namespace {

bool search_written(const json::value& v, NameLists& lists, int depth);

bool search_written(const json::object& o, NameLists& lists, int depth) {
  if (depth > kMaxJsonDepth) return false;
  if (o.size() == 1) {
    const auto& [type, inner] = *o.begin();
    if (inner.is_object() && is_one_of(std::string_view(type), kDataModifying)) {
      const json::value* rel = inner.as_object().if_contains("relation");
      if (rel != nullptr && rel->is_object()) lists.written(relation_of(rel->as_object()));
    }
  }
  bool complete = true;
  for (const auto& [key, child] : o)
    complete = search_written(child, lists, depth + 1) && complete;
  return complete;
}

bool search_written(const json::value& v, NameLists& lists, int depth) {
  if (depth > kMaxJsonDepth) return false;
  if (v.is_object()) return search_written(v.as_object(), lists, depth);
  if (!v.is_array()) return true;
  bool complete = true;
  for (const json::value& item : v.as_array())
    complete = search_written(item, lists, depth + 1) && complete;
  return complete;
}

}  // namespace

bool collect_written(const json::value& tree, NameLists& lists) {
  return search_written(tree, lists, 0);
}

bool collect_written(const json::object& tree, NameLists& lists) {
  return search_written(tree, lists, 0);
}

}  // namespace usher::sql::detail
