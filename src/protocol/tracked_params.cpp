#include "protocol/tracked_params.h"

#include <strings.h>

#include <vector>

#include "protocol/extended.h"

namespace usher::protocol {

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

bool TrackedParams::standard_conforming_strings() const {
  const std::string& v = values_[kStandardConformingStrings];
  return !known_[kStandardConformingStrings] || strcasecmp(v.c_str(), "off") != 0;
}

std::string TrackedParams::replay_messages(const TrackedParams& server) const {
  // Nearly always they agree: decide that before building anything.
  bool differ = false;
  for (size_t i = 0; i < values_.size() && !differ; ++i)
    differ = known_[i] && (!server.known_[i] || server.values_[i] != values_[i]);
  if (!differ) return {};
  std::vector<std::string_view> params;
  std::string sql = "SELECT ";
  for (size_t i = 0; i < values_.size(); ++i) {
    if (!known_[i] || (server.known_[i] && server.values_[i] == values_[i])) continue;
    if (!params.empty()) sql += ", ";
    size_t n = params.size();
    sql += "set_config($" + std::to_string(n + 1) + ", $" + std::to_string(n + 2) + ", false)";
    params.push_back(kTrackedNames[i]);
    params.push_back(values_[i]);
  }
  if (params.empty()) return {};
  std::string out;
  // The unnamed statement: the server's own one is gone after this, which
  // ServerConnection::run() records.
  write_parse(out, "", sql, std::string_view("\0\0", 2));
  write_bind_text(out, "", "", params);
  write_execute(out, "", 0);
  write_sync(out);
  return out;
}

}  // namespace usher::protocol
