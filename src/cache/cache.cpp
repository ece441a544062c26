#include "cache/cache.h"

namespace usher::cache {

std::shared_ptr<Domain> Cache::find(const std::string& database) const {
  std::lock_guard lock(mu_);
  auto it = domains_.find(database);
  return it == domains_.end() ? nullptr : it->second;
}

std::shared_ptr<Domain> Cache::get_or_add(const std::string& database, Invalidation mode,
                                          bool& created) {
  std::lock_guard lock(mu_);
  auto& slot = domains_[database];
  created = slot == nullptr;
  if (created) slot = std::make_shared<Domain>(next_id_++, database, mode, store_);
  return slot;
}

std::vector<std::shared_ptr<Domain>> Cache::domains() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Domain>> out;
  for (auto& [name, d] : domains_)
    out.push_back(d);
  return out;
}

}  // namespace usher::cache
