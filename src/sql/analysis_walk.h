// The parse-tree walks under sql/analysis.h: the default-deny reading of a
// SELECT, and the search for the targets of data-modifying statements.
// Internal to sql/analysis.cpp (and its tests, through analyze()).
//
// Pure: no I/O.
#pragma once

#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sql/analysis.h"

namespace usher::sql::detail {

// The statements that write table data, by parse-tree node type.
inline constexpr std::array<std::string_view, 4> kDataModifying = {"InsertStmt", "UpdateStmt",
                                                                   "DeleteStmt", "MergeStmt"};

template <size_t N>
bool is_one_of(std::string_view s, const std::array<std::string_view, N>& set) {
  for (std::string_view e : set)
    if (s == e) return true;
  return false;
}

// A node's field read as a string or a bool: empty or false when it is
// absent or of another type (a hostile tree cannot make these throw).
std::string_view string_field(const boost::json::object& o, std::string_view key);
bool bool_field(const boost::json::object& o, std::string_view key);

// Sets `out.refusal` unless one is set already: the first reason found is
// the one counted. kParameter gives way to any other reason, since a
// caller that binds parameters itself may look past it and must still see
// the rest.
void refuse(Analysis& out, std::string_view reason);

// The lists of an Analysis, each kept free of duplicates in linear time
// (a hostile query may name thousands of tables).
class NameLists {
 public:
  explicit NameLists(Analysis& out) : out_(out) {}
  void relation(QualifiedName n) { add(out_.relations, relations_, std::move(n)); }
  void function(QualifiedName n) { add(out_.functions, functions_, std::move(n)); }
  void op(QualifiedName n) { add(out_.operators, operators_, std::move(n)); }
  void written(QualifiedName n) { add(out_.written, written_, std::move(n)); }
  Analysis& out() { return out_; }

 private:
  static void add(std::vector<QualifiedName>& list, std::unordered_set<std::string>& seen,
                  QualifiedName n);
  Analysis& out_;
  std::unordered_set<std::string> relations_, functions_, operators_, written_;
};

// How a node's field holding objects or arrays is read; fields holding
// plain values are never looked at. A field the table does not list makes
// the node unsupported.
struct FieldSpec {
  std::string_view name;
  // The type of the struct libpg_query writes inline (without the
  // {"Type": ...} wrapper) for this field; empty for a Node or a list of
  // them; "-" for a field the node's own code reads.
  std::string_view embedded;
};
inline constexpr std::string_view kOwnField = "-";

// The node types a cacheable read may contain, by type name, each with its
// structured fields (sql/analysis_nodes.cpp).
using NodeSpecs = std::unordered_map<std::string_view, std::vector<FieldSpec>>;
const NodeSpecs& node_specs();

// Walks one SelectStmt's fields (the object under "SelectStmt"): collects
// what it reads, calls and compares with, and refuses whatever it does not
// know. Returns true when the statement writes (SELECT INTO, a
// data-modifying CTE); its targets are then in `written`.
bool walk_select(const boost::json::object& select, NameLists& lists);

// Adds the target of every INSERT, UPDATE, DELETE and MERGE anywhere in
// `tree` to `written`, looking at no other node. False when the tree was
// too deep to search to the end.
bool collect_written(const boost::json::value& tree, NameLists& lists);
bool collect_written(const boost::json::object& tree, NameLists& lists);

// The relation a RangeVar's fields name (catalog name dropped: the server
// accepts only the current database's).
QualifiedName relation_of(const boost::json::object& range_var);

}  // namespace usher::sql::detail
