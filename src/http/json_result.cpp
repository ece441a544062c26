#include "http/json_result.h"

#include <charconv>

#include "common/log_escape.h"

namespace usher::http {
namespace {

// A value as its column's type says: integers and numerics as numbers
// (a text that does not read as one stays a string: never lose it).
boost::json::value typed(const std::string& text, int32_t type) {
  const char* end = text.data() + text.size();
  if (type == admin::kInt4 || type == admin::kInt8) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec == std::errc() && p == end) return v;
  } else if (type == admin::kNumeric) {
    // Counts are numerics on the console (PgBouncer's types) but integers
    // to a JSON reader: Go's and Rust's refuse 3.3E1 for an integer field,
    // and a double loses counts past 2^53.
    int64_t i = 0;
    auto [ip, iec] = std::from_chars(text.data(), end, i);
    if (iec == std::errc() && ip == end) return i;
    uint64_t u = 0;
    auto [up, uec] = std::from_chars(text.data(), end, u);
    if (uec == std::errc() && up == end) return u;
    double v = 0;
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec == std::errc() && p == end) return v;
  }
  // JSON is UTF-8: a name from a client may not be.
  return boost::json::string(to_well_formed_utf8(text));
}

}  // namespace

boost::json::array to_json(const admin::ResultSet& rs) {
  boost::json::array out;
  out.reserve(rs.size());
  const auto& cols = rs.columns();
  for (const auto& row : rs.rows()) {
    boost::json::object o;
    for (size_t i = 0; i < cols.size() && i < row.size(); ++i) {
      o[cols[i].name] = row[i] ? typed(*row[i], cols[i].type_oid) : boost::json::value(nullptr);
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace usher::http
