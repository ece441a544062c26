#include "prepared/server_statements.h"

namespace usher::prepared {

bool ServerStatements::touch(uint64_t id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

std::optional<StatementPtr> ServerStatements::insert(StatementPtr s, size_t capacity) {
  if (index_.contains(s->id)) {
    touch(s->id);
    return std::nullopt;
  }
  restore(std::move(s));
  if (index_.size() <= capacity || index_.size() == 1) return std::nullopt;
  StatementPtr victim = std::move(lru_.back());
  lru_.pop_back();
  index_.erase(victim->id);
  return victim;
}

void ServerStatements::restore(StatementPtr s) {
  if (touch(s->id)) return;
  uint64_t id = s->id;
  lru_.push_front(std::move(s));
  index_[id] = lru_.begin();
}

void ServerStatements::erase(uint64_t id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void ServerStatements::clear() {
  lru_.clear();
  index_.clear();
}

}  // namespace usher::prepared
