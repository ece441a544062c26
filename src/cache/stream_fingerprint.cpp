#include "cache/stream_fingerprint.h"

#include <algorithm>
#include <array>

#include "protocol/sqlstate.h"

namespace usher::cache {
namespace {

// Where a catalog's rows come from, and what of each row is summed.
struct Watched {
  std::string_view name;
  std::string_view from;
  std::string_view digest;
};

// The xid as a number: there is no cast from xid to an integer but
// through text. The sum of int8 is a numeric, so it cannot overflow.
constexpr std::string_view kXmin = "xmin::text::int8";

// What the catalog (cache/catalog.h) reads, and what decides who may read
// what: ACLs live in pg_class, pg_attribute (column grants), pg_namespace
// and pg_proc; role membership in pg_auth_members; per role and database
// settings (search_path) in pg_db_role_setting. pg_attribute is the
// biggest by far, but DROP COLUMN and RENAME COLUMN change it alone.
constexpr std::array<Watched, 15> kWatched = {{
    {"pg_class", "pg_catalog.pg_class", kXmin},
    {"pg_namespace", "pg_catalog.pg_namespace", kXmin},
    {"pg_attribute", "pg_catalog.pg_attribute", kXmin},
    {"pg_proc", "pg_catalog.pg_proc", kXmin},
    {"pg_rewrite", "pg_catalog.pg_rewrite", kXmin},
    {"pg_inherits", "pg_catalog.pg_inherits", kXmin},
    {"pg_trigger", "pg_catalog.pg_trigger", kXmin},
    {"pg_constraint", "pg_catalog.pg_constraint", kXmin},
    {"pg_policy", "pg_catalog.pg_policy", kXmin},
    {"pg_type", "pg_catalog.pg_type", kXmin},
    {"pg_operator", "pg_catalog.pg_operator", kXmin},
    {"pg_cast", "pg_catalog.pg_cast", kXmin},
    {"pg_auth_members", "pg_catalog.pg_auth_members", kXmin},
    {"pg_db_role_setting", "pg_catalog.pg_db_role_setting", kXmin},
    // pg_authid is superusers' only; its view shows what matters to reads
    // (rolsuper, rolbypassrls, rolinherit, rolconfig...).
    {"pg_roles", "pg_catalog.pg_roles r", "pg_catalog.hashtextextended(r::text, 0)"},
}};

// Far more than any count or sum of these catalogs takes.
constexpr size_t kMaxNumberLength = 40;

bool is_integer(std::string_view s) {
  if (s.starts_with('-')) s.remove_prefix(1);
  return !s.empty() && s.size() <= kMaxNumberLength &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Error bad_rows(std::string why) {
  return make_error(protocol::sqlstate::protocol_violation,
                    "the catalog fingerprint query answered " + std::move(why));
}

}  // namespace

const std::vector<std::string_view>& fingerprint_catalogs() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const Watched& w : kWatched)
      out.push_back(w.name);
    return out;
  }();
  return names;
}

const std::string& fingerprint_query() {
  static const std::string query = [] {
    std::string q;
    for (const Watched& w : kWatched) {
      if (!q.empty()) q += " UNION ALL ";
      q += "SELECT '";
      q += w.name;
      q += "', pg_catalog.count(*), COALESCE(pg_catalog.sum(";
      q += w.digest;
      q += "), 0) FROM ";
      q += w.from;
    }
    return q;
  }();
  return query;
}

Result<CatalogFingerprint> parse_fingerprint(const Rows& rows) {
  const auto& names = fingerprint_catalogs();
  if (rows.size() != names.size()) {
    return bad_rows(std::to_string(rows.size()) + " rows, not " + std::to_string(names.size()));
  }
  CatalogFingerprint fp;
  fp.parts.resize(names.size());
  for (const auto& row : rows) {
    if (row.size() != 3) return bad_rows("a row of " + std::to_string(row.size()) + " columns");
    auto it = std::find(names.begin(), names.end(), row[0]);
    if (it == names.end()) return bad_rows("an unknown catalog");
    std::string& part = fp.parts[it - names.begin()];
    if (!part.empty()) return bad_rows("a catalog twice");
    if (!is_integer(row[1]) || !is_integer(row[2])) return bad_rows("a value not an integer");
    part = row[1] + " " + row[2];
  }
  return fp;
}

std::vector<std::string_view> changed_catalogs(const CatalogFingerprint& before,
                                               const CatalogFingerprint& after) {
  const auto& names = fingerprint_catalogs();
  const bool comparable = before.parts.size() == names.size() && after.parts.size() == names.size();
  std::vector<std::string_view> out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!comparable || before.parts[i] != after.parts[i]) out.push_back(names[i]);
  }
  return out;
}

}  // namespace usher::cache
