// Traffic counters for SHOW STATS. One cache line per worker so that workers
// never contend on a counter; readers sum the slots.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace usher::pool {

struct alignas(64) StatsSlot {
  std::atomic<uint64_t> xact_count{0};
  std::atomic<uint64_t> query_count{0};
  std::atomic<uint64_t> bytes_received{0};  // from clients
  std::atomic<uint64_t> bytes_sent{0};      // to clients
  std::atomic<uint64_t> xact_time_us{0};
  std::atomic<uint64_t> query_time_us{0};
  std::atomic<uint64_t> wait_time_us{0};
  std::atomic<uint64_t> server_assignments{0};
  // Prepared statements (transaction and statement mode).
  std::atomic<uint64_t> client_parse_count{0};   // client Parse or PREPARE of a new name
  std::atomic<uint64_t> server_parse_count{0};   // Parse or PREPARE sent to a server
  std::atomic<uint64_t> bind_count{0};           // Bind or EXECUTE of a named statement
  std::atomic<uint64_t> statement_evictions{0};  // closed on a server to stay in bounds
  std::atomic<uint64_t> statement_retries{0};    // re-prepared after 0A000 and run again
  std::atomic<uint64_t> client_login_count{0};   // clients that logged in (PgBouncer 1.26)
};

struct StatsTotals {
  uint64_t xact_count = 0, query_count = 0, bytes_received = 0, bytes_sent = 0;
  uint64_t xact_time_us = 0, query_time_us = 0, wait_time_us = 0, server_assignments = 0;
  uint64_t client_parse_count = 0, server_parse_count = 0, bind_count = 0;
  uint64_t statement_evictions = 0, statement_retries = 0;
  uint64_t client_login_count = 0;
};

// Per-second rates and per-event averages over the last stats_period, as
// PgBouncer's avg_* columns report them.
struct StatsAverages {
  uint64_t xact_count = 0, query_count = 0, bytes_received = 0, bytes_sent = 0;
  uint64_t xact_time_us = 0, query_time_us = 0, wait_time_us = 0, server_assignments = 0;
  uint64_t client_parse_count = 0, server_parse_count = 0, bind_count = 0;
  uint64_t client_login_count = 0;
};

inline StatsTotals& operator+=(StatsTotals& a, const StatsTotals& b) {
  a.xact_count += b.xact_count;
  a.query_count += b.query_count;
  a.bytes_received += b.bytes_received;
  a.bytes_sent += b.bytes_sent;
  a.xact_time_us += b.xact_time_us;
  a.query_time_us += b.query_time_us;
  a.wait_time_us += b.wait_time_us;
  a.server_assignments += b.server_assignments;
  a.client_parse_count += b.client_parse_count;
  a.server_parse_count += b.server_parse_count;
  a.bind_count += b.bind_count;
  a.statement_evictions += b.statement_evictions;
  a.statement_retries += b.statement_retries;
  a.client_login_count += b.client_login_count;
  return a;
}

// The averages over a period of `seconds` that went from `start` to `now`.
// A counter that went down (a pool removed by a reload, in a sum over
// pools) counts as no traffic.
inline StatsAverages average(const StatsTotals& now, const StatsTotals& start, double seconds) {
  auto delta = [](uint64_t cur, uint64_t prev) { return cur > prev ? cur - prev : 0; };
  auto rate = [&](uint64_t cur, uint64_t prev) {
    return static_cast<uint64_t>(static_cast<double>(delta(cur, prev)) / seconds);
  };
  auto per = [](uint64_t total, uint64_t count) { return count == 0 ? 0 : total / count; };
  StatsAverages a;
  a.xact_count = rate(now.xact_count, start.xact_count);
  a.query_count = rate(now.query_count, start.query_count);
  a.bytes_received = rate(now.bytes_received, start.bytes_received);
  a.bytes_sent = rate(now.bytes_sent, start.bytes_sent);
  a.server_assignments = rate(now.server_assignments, start.server_assignments);
  a.client_parse_count = rate(now.client_parse_count, start.client_parse_count);
  a.server_parse_count = rate(now.server_parse_count, start.server_parse_count);
  a.bind_count = rate(now.bind_count, start.bind_count);
  a.client_login_count = rate(now.client_login_count, start.client_login_count);
  a.xact_time_us =
      per(delta(now.xact_time_us, start.xact_time_us), delta(now.xact_count, start.xact_count));
  a.query_time_us =
      per(delta(now.query_time_us, start.query_time_us), delta(now.query_count, start.query_count));
  a.wait_time_us = per(delta(now.wait_time_us, start.wait_time_us),
                       delta(now.server_assignments, start.server_assignments));
  return a;
}

class PoolStats {
 public:
  explicit PoolStats(int workers) : slots_(new StatsSlot[workers]), workers_(workers) {}
  StatsSlot& slot(int worker) { return slots_[worker]; }
  StatsTotals totals() const {
    StatsTotals t;
    for (int i = 0; i < workers_; ++i) {
      const StatsSlot& s = slots_[i];
      t.xact_count += s.xact_count.load(std::memory_order_relaxed);
      t.query_count += s.query_count.load(std::memory_order_relaxed);
      t.bytes_received += s.bytes_received.load(std::memory_order_relaxed);
      t.bytes_sent += s.bytes_sent.load(std::memory_order_relaxed);
      t.xact_time_us += s.xact_time_us.load(std::memory_order_relaxed);
      t.query_time_us += s.query_time_us.load(std::memory_order_relaxed);
      t.wait_time_us += s.wait_time_us.load(std::memory_order_relaxed);
      t.server_assignments += s.server_assignments.load(std::memory_order_relaxed);
      t.client_parse_count += s.client_parse_count.load(std::memory_order_relaxed);
      t.server_parse_count += s.server_parse_count.load(std::memory_order_relaxed);
      t.bind_count += s.bind_count.load(std::memory_order_relaxed);
      t.statement_evictions += s.statement_evictions.load(std::memory_order_relaxed);
      t.statement_retries += s.statement_retries.load(std::memory_order_relaxed);
      t.client_login_count += s.client_login_count.load(std::memory_order_relaxed);
    }
    return t;
  }

  // Closes a stats period of `seconds`; called by the janitor only.
  // Returns the totals the period ended with.
  StatsTotals roll(double seconds) {
    StatsTotals now = totals();
    std::lock_guard lock(mu_);
    averages_ = average(now, period_start_, seconds);
    period_start_ = now;
    return now;
  }
  StatsAverages averages() const {
    std::lock_guard lock(mu_);
    return averages_;
  }

 private:
  mutable std::mutex mu_;
  StatsTotals period_start_;
  StatsAverages averages_;
  std::unique_ptr<StatsSlot[]> slots_;
  int workers_;
};

// Relaxed add on a worker-local slot: no other thread writes it.
inline void bump(std::atomic<uint64_t>& counter, uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace usher::pool
