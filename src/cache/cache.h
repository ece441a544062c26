// The process's result cache: one store shared by every worker, the fills
// in flight (cache/flights.h), and a Domain per cached database
// (cache/domain.h). Owned by the runtime, which starts each domain's
// invalidation stream; sessions reach it through their context.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/domain.h"
#include "cache/flights.h"
#include "cache/store.h"

namespace usher::cache {

// What a client's tap needs of the configuration (shared by the clients of
// one configuration).
struct ClientSettings {
  size_t max_entry = 1 << 20;        // query_cache_max_entry
  std::chrono::milliseconds ttl{0};  // query_cache_ttl; 0: until invalidated
  std::vector<std::string> include;  // query_cache_tables
  std::vector<std::string> exclude;  // query_cache_exclude_tables
  bool operator==(const ClientSettings&) const = default;
};

// A client's way into the cache.
struct Access {
  std::shared_ptr<Domain> domain;
  Store* store = nullptr;
  Flights* flights = nullptr;
  std::shared_ptr<const ClientSettings> settings;
};

class Cache {
 public:
  explicit Cache(size_t max_bytes) : store_(max_bytes) {}

  Store& store() { return store_; }
  Flights& flights() { return flights_; }

  // The domain of `database`, or null.
  std::shared_ptr<Domain> find(const std::string& database) const;
  // Creates it; `created` tells whether it is new (its stream is then the
  // caller's to start).
  std::shared_ptr<Domain> get_or_add(const std::string& database, Invalidation mode, bool& created);
  std::vector<std::shared_ptr<Domain>> domains() const;

 private:
  Store store_;
  Flights flights_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Domain>> domains_;
  uint32_t next_id_ = 1;
};

}  // namespace usher::cache
