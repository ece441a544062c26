// Ids for the `id` column of SHOW CLIENTS / SHOW SERVERS and for
// KILL_CLIENT. Clients and servers draw from one counter, as PgBouncer 1.24
// does, so an id names exactly one socket over the life of the process.
#pragma once

#include <atomic>
#include <cstdint>

namespace usher {

inline uint64_t next_socket_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace usher
