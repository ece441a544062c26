// The catalog's tables as built (cache/catalog_build.cpp) and read
// (cache/catalog_resolve.cpp). Private to those two files.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/catalog.h"
#include "sql/analysis.h"

namespace usher::cache {

// pg_class.relkind and relpersistence, as the relations query returns them.
namespace relkind {
inline constexpr char kTable = 'r';
inline constexpr char kPartitioned = 'p';
inline constexpr char kView = 'v';
inline constexpr char kMaterializedView = 'm';
inline constexpr char kForeignTable = 'f';
inline constexpr char kSequence = 'S';
}  // namespace relkind
namespace persistence {
inline constexpr char kPermanent = 'p';
inline constexpr char kUnlogged = 'u';
inline constexpr char kTemporary = 't';
}  // namespace persistence

inline constexpr std::string_view kCatalogSchema = "pg_catalog";

// How deep views may nest (a view reading a view...) before the cache gives
// up on one: PostgreSQL has no limit, but a real schema seldom nests more
// than a few, and a bound keeps a hostile catalog from exhausting the stack.
inline constexpr int kMaxViewDepth = 16;

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using NameMap = std::unordered_map<std::string, T, NameHash, std::equal_to<>>;

struct Relation {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  std::string id;  // table_id(schema, name)
  char kind = relkind::kTable;
  char persistence = persistence::kPermanent;
  bool row_security = false;
  bool hidden_writes = false;      // triggers, rules, cascading foreign keys
  std::vector<uint32_t> parents;   // indices into CatalogTables::relations (pg_inherits)
  std::vector<uint32_t> children;  // the same, the other way
  // A view's definition as sql::analyze() read it; none when the
  // definitions query did not return one (then the view is not cacheable).
  std::optional<sql::Analysis> definition;
};

// One schema's functions (or operators) of one name, all overloads together.
struct Routine {
  std::string schema;
  bool immutable = false;    // every overload
  bool is_volatile = false;  // some overload
};

struct Routines {
  std::vector<Routine> all;
  NameMap<std::vector<uint32_t>> by_name;  // indices into `all`
  NameMap<uint32_t> by_id;                 // table_id(schema, name) -> index
};

// The tables, under a name of their own so that helpers outside Catalog
// may take them (Catalog::Impl is private).
struct CatalogTables {
  std::vector<Relation> relations;
  std::unordered_map<uint32_t, uint32_t> by_oid;  // -> index into relations
  NameMap<std::vector<uint32_t>> by_name;
  NameMap<uint32_t> by_id;
  Routines functions;
  Routines operators;
};

struct Catalog::Impl : CatalogTables {};

// Schemas whose relations are the server's own (catalogs, TOAST): never
// cached, their changes are not in the invalidation stream.
bool is_catalog_schema(std::string_view schema);
// pg_temp (the alias for the session's own) and pg_temp_N.
bool is_temp_schema(std::string_view schema);

}  // namespace usher::cache
