#include "prepared/statement.h"

#include <atomic>

namespace usher::prepared {

uint64_t next_statement_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

StatementPtr StatementRegistry::intern(Origin origin, std::string_view query,
                                       std::string_view param_types) {
  std::string key;
  key.reserve(1 + query.size() + 1 + param_types.size());
  key.push_back(static_cast<char>(origin));
  key.append(query);
  key.push_back('\0');  // a query never contains NUL, so the split is unambiguous
  key.append(param_types);

  std::lock_guard lock(mutex_);
  auto& slot = by_key_[key];
  if (auto live = slot.lock()) return live;
  auto s = std::make_shared<Statement>();
  s->id = next_statement_id();
  s->origin = origin;
  s->server_name = "usher_" + std::to_string(s->id);  // see is_server_name()
  s->query = query;
  s->param_types = param_types;
  slot = s;
  if (by_key_.size() >= sweep_at_) {
    std::erase_if(by_key_, [](const auto& kv) { return kv.second.expired(); });
    sweep_at_ = std::max<size_t>(64, by_key_.size() * 2);
  }
  return s;
}

size_t StatementRegistry::size() {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& [key, weak] : by_key_)
    n += weak.expired() ? 0 : 1;
  return n;
}

}  // namespace usher::prepared
