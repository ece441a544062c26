// The result cache's entries: whole keys mapped to the exact bytes a server
// sent for a query (RowDescription, DataRows, CommandComplete), shared by
// every worker, under a hard byte limit with LRU eviction. Invalidation
// bumps per-table generations (and a per-database epoch for a flush) and
// erases the entries that depend on them; a fill records the generations
// before its query runs and is refused at insert if any moved, so a result
// computed before a write never lands after its invalidation.
//
// Pure and thread-safe: one mutex (sharding comes with the performance
// work); no I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace usher::cache {

using Clock = std::chrono::steady_clock;

struct StoreStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // counted against the limit: keys, values and per-entry overhead
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t stores = 0;
  uint64_t evictions = 0;            // for room
  uint64_t expirations = 0;          // ttl
  uint64_t invalidated_entries = 0;  // erased by invalidate() or flush()
  uint64_t refused_stale_fills = 0;  // insert() after a generation moved
  uint64_t refused_too_large = 0;
};

class Store {
 public:
  using Hash = std::function<size_t(std::string_view)>;
  // `hash` is replaceable so that tests can force collisions; the full key
  // is always compared.
  explicit Store(size_t max_bytes, Hash hash = {});
  ~Store();

  // What a fill saw before its query ran.
  struct Ticket {
    uint32_t db = 0;
    uint64_t epoch = 0;
    std::vector<std::pair<std::string, uint64_t>> generations;  // table_id, generation
  };
  Ticket begin_fill(uint32_t db, const std::vector<std::string>& tables);

  // Stores `value` under `key` unless a generation or the epoch moved since
  // `ticket`, or it is larger than max_bytes on its own; evicts the
  // least recently used entries for room. `expires` = time_point::max():
  // until invalidated. Replaces an entry with the same key.
  bool insert(std::string key, std::string value, const Ticket& ticket, Clock::time_point expires);

  // The value of an entry that has not expired, or null (counted as a hit
  // or a miss). The value stays valid while the pointer is held, even if
  // the entry is erased meanwhile.
  std::shared_ptr<const std::string> find(std::string_view key, Clock::time_point now);

  // Bumps the generations of `tables` of `db` and erases the entries that
  // depend on any of them; returns how many were erased.
  size_t invalidate(uint32_t db, const std::vector<std::string>& tables);
  // Bumps `db`'s epoch and erases all of its entries.
  size_t flush(uint32_t db);
  size_t flush_all();

  void set_max_bytes(size_t max_bytes);
  size_t max_bytes() const;
  StoreStats stats() const;
  StoreStats db_stats(uint32_t db) const;  // entries and bytes of one database

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace usher::cache
