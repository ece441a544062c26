#include "prepared/statement.h"

#include <algorithm>
#include <atomic>

namespace usher::prepared {

uint64_t next_statement_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

StatementPtr StatementRegistry::intern(Origin origin, std::string_view reading,
                                       std::string_view query, std::string_view param_types) {
  // Equality is every field in full; the hash only finds candidates.
  auto h = [](std::string_view s) { return std::hash<std::string_view>{}(s); };
  uint64_t hash = h(query) ^ (h(param_types) * 31) ^ (h(reading) * 131) ^ uint64_t(origin);
  auto same = [&](const Statement& s) {
    return s.origin == origin && s.query == query && s.param_types == param_types &&
           s.reading == reading;
  };
  std::lock_guard lock(mutex_);
  auto [first, last] = by_hash_.equal_range(hash);
  auto expired = by_hash_.end();
  for (auto it = first; it != last; ++it) {
    if (auto live = it->second.lock()) {
      if (same(*live)) return live;
    } else {
      expired = it;
    }
  }
  auto s = std::make_shared<Statement>();
  s->id = next_statement_id();
  s->origin = origin;
  s->server_name = "usher_" + std::to_string(s->id);  // see is_server_name()
  s->query = query;
  s->param_types = param_types;
  s->reading = reading;
  if (expired != by_hash_.end()) {
    expired->second = s;
  } else {
    by_hash_.emplace(hash, s);
  }
  if (by_hash_.size() >= sweep_at_) {
    std::erase_if(by_hash_, [](const auto& kv) { return kv.second.expired(); });
    sweep_at_ = std::max<size_t>(64, by_hash_.size() * 2);
  }
  return s;
}

size_t StatementRegistry::size() {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [key, weak] : by_hash_)
    n += weak.expired() ? 0 : 1;
  return n;
}

}  // namespace usher::prepared
