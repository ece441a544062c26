#include "session/tracked_params.h"

#include <strings.h>

namespace usher::session {

int TrackedParams::index_of(std::string_view name) {
  for (size_t i = 0; i < kTrackedNames.size(); ++i) {
    if (name.size() == kTrackedNames[i].size() &&
        strncasecmp(name.data(), kTrackedNames[i].data(), name.size()) == 0) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

bool TrackedParams::set(std::string_view name, std::string_view value) {
  int i = index_of(name);
  if (i < 0) return false;
  values_[i].assign(value);
  known_[i] = true;
  return true;
}

std::string TrackedParams::sync_sql(const TrackedParams& server) const {
  std::string sql;
  for (size_t i = 0; i < values_.size(); ++i) {
    if (!known_[i] || (server.known_[i] && server.values_[i] == values_[i])) continue;
    sql += "SET ";
    sql += kTrackedNames[i];
    sql += " = '";
    for (char c : values_[i]) {
      if (c == '\'') sql += '\'';
      sql += c;
    }
    sql += "';";
  }
  return sql;
}

}  // namespace usher::session
