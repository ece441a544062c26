// What one server connection has prepared, under Usher's names, bounded by
// max_prepared_statements and evicted least recently used first. The relay
// updates it as it sends Parse and Close, before the server answers; if the
// server then refuses (an error, or a message skipped after an error), the
// relay undoes the change (see response_tracker.h).
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>

#include "prepared/statement.h"

namespace usher::prepared {

class ServerStatements {
 public:
  // True if `id` is prepared here; marks it most recently used.
  bool touch(uint64_t id);
  // Records `s` as prepared (most recently used). Returns the statement to
  // Close first when that takes the count over `capacity`.
  std::optional<StatementPtr> insert(StatementPtr s, size_t capacity);
  // Records `s` without evicting anything (taking back a Close that did not
  // happen); the next insert() restores the bound.
  void restore(StatementPtr s);
  bool contains(uint64_t id) const { return index_.contains(id); }
  void erase(uint64_t id);
  void clear();
  size_t size() const { return index_.size(); }

 private:
  std::list<StatementPtr> lru_;  // front: most recently used
  std::unordered_map<uint64_t, std::list<StatementPtr>::iterator> index_;
};

}  // namespace usher::prepared
