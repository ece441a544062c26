// Traffic counters for SHOW STATS. Each worker has a slot of its own, on
// cache lines of its own, so that workers never contend on a counter;
// readers sum the slots.
//
// Every counter has one row in kCounters: its name, how SHOW STATS averages
// it and the names the console shows it under. Readers (the console,
// log_stats, metrics) loop over the table or index values by Counter;
// writers bump a named member of their worker's StatsSlot.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "pool/latency.h"

namespace usher::pool {

// In PgBouncer's column order (SHOW STATS), then Usher's own; the last one
// also gives kCounterCount.
enum class Counter : uint8_t {
  kServerAssignments,
  kXactCount,
  kQueryCount,
  kBytesReceived,
  kBytesSent,
  kXactTime,
  kQueryTime,
  kWaitTime,
  kClientParseCount,
  kServerParseCount,
  kBindCount,
  kClientLoginCount,
  kStatementEvictions,
  kStatementRetries,
};
inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::kStatementRetries) + 1;

// One worker's counters. Written by that worker only, with bump(): the
// named members are what the hot path touches, a plain relaxed load and
// store; operator[] reaches the same members through kCounters (with a
// constant Counter it compiles to the member itself). A new counter is a
// member here, a Counter and a row in kCounters.
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
  // The same times as xact_time_us, query_time_us and wait_time_us, one
  // by one into buckets (latency.h), for the metrics endpoint.
  LatencyHistogram query_latency;
  LatencyHistogram xact_latency;
  LatencyHistogram wait_latency;

  std::atomic<uint64_t>& operator[](Counter c);
  const std::atomic<uint64_t>& operator[](Counter c) const;
};

// How SHOW STATS's avg_* columns (and log_stats) average a counter over a
// stats_period.
enum class Average : uint8_t {
  kRate,      // per second
  kPerEvent,  // a time: its growth divided by the growth of CounterSpec::per
};

// The names the console shows a counter under, which PgBouncer varies from
// one command to the next (its issue #1247). All empty for a counter the
// SHOW STATS family leaves out.
struct ConsoleNames {
  std::string_view stats;      // SHOW STATS: total_<stats>
  std::string_view stats_avg;  // SHOW STATS: avg_<stats_avg>
  std::string_view averages;   // SHOW STATS_AVERAGES
  std::string_view totals;     // SHOW TOTALS: total_<totals> and avg_<totals>
};

struct CounterSpec {
  Counter id;
  std::atomic<uint64_t> StatsSlot::*slot;
  // PgBouncer's name (SHOW STATS_TOTALS's column); for Usher's own, SHOW
  // PREPARED_STATEMENTS's.
  std::string_view name;
  Average average;
  Counter per;  // kPerEvent: the count the time is divided by
  ConsoleNames console;
  bool in_show_stats() const { return !console.stats.empty(); }
};

namespace detail {

constexpr CounterSpec rate(Counter id, std::atomic<uint64_t> StatsSlot::*slot,
                           std::string_view name, ConsoleNames console) {
  return {id, slot, name, Average::kRate, id, console};
}
// A counter the console shows under its own name everywhere.
constexpr CounterSpec rate(Counter id, std::atomic<uint64_t> StatsSlot::*slot,
                           std::string_view name) {
  return rate(id, slot, name, {name, name, name, name});
}
constexpr CounterSpec time_per(Counter id, std::atomic<uint64_t> StatsSlot::*slot,
                               std::string_view name, Counter per) {
  return {id, slot, name, Average::kPerEvent, per, {name, name, name, name}};
}

}  // namespace detail

// Indexed by Counter (checked below). Times are in microseconds.
inline constexpr CounterSpec kCounters[] = {
    detail::rate(Counter::kServerAssignments, &StatsSlot::server_assignments,
                 "server_assignment_count"),
    detail::rate(Counter::kXactCount, &StatsSlot::xact_count, "xact_count"),
    detail::rate(Counter::kQueryCount, &StatsSlot::query_count, "query_count"),
    detail::rate(Counter::kBytesReceived, &StatsSlot::bytes_received, "bytes_received",
                 {.stats = "received",
                  .stats_avg = "recv",
                  .averages = "bytes_received",
                  .totals = "client_bytes"}),
    detail::rate(
        Counter::kBytesSent, &StatsSlot::bytes_sent, "bytes_sent",
        {.stats = "sent", .stats_avg = "sent", .averages = "bytes_sent", .totals = "server_bytes"}),
    detail::time_per(Counter::kXactTime, &StatsSlot::xact_time_us, "xact_time",
                     Counter::kXactCount),
    detail::time_per(Counter::kQueryTime, &StatsSlot::query_time_us, "query_time",
                     Counter::kQueryCount),
    detail::time_per(Counter::kWaitTime, &StatsSlot::wait_time_us, "wait_time",
                     Counter::kServerAssignments),
    detail::rate(Counter::kClientParseCount, &StatsSlot::client_parse_count, "client_parse_count",
                 {.stats = "client_parse_count",
                  .stats_avg = "client_parse_count",
                  .averages = "avg_client_parse_count",
                  .totals = "ps_client_parse_count"}),
    detail::rate(Counter::kServerParseCount, &StatsSlot::server_parse_count, "server_parse_count",
                 {.stats = "server_parse_count",
                  .stats_avg = "server_parse_count",
                  .averages = "avg_server_parse_count",
                  .totals = "ps_server_parse_count"}),
    detail::rate(Counter::kBindCount, &StatsSlot::bind_count, "bind_count",
                 {.stats = "bind_count",
                  .stats_avg = "bind_count",
                  .averages = "avg_bind_count",
                  .totals = "ps_bind_count"}),
    detail::rate(Counter::kClientLoginCount, &StatsSlot::client_login_count, "client_login_count"),
    // Usher's own, in SHOW PREPARED_STATEMENTS only.
    detail::rate(Counter::kStatementEvictions, &StatsSlot::statement_evictions, "evictions", {}),
    detail::rate(Counter::kStatementRetries, &StatsSlot::statement_retries, "retries", {}),
};

constexpr const CounterSpec& counter_spec(Counter c) {
  return kCounters[static_cast<size_t>(c)];
}

namespace detail {
constexpr bool table_in_order() {
  for (size_t i = 0; i < kCounterCount; ++i)
    if (static_cast<size_t>(kCounters[i].id) != i) return false;
  return true;
}
}  // namespace detail
static_assert(std::size(kCounters) == kCounterCount && detail::table_in_order(),
              "kCounters has one row per Counter, in Counter's order");

inline std::atomic<uint64_t>& StatsSlot::operator[](Counter c) {
  return this->*counter_spec(c).slot;
}
inline const std::atomic<uint64_t>& StatsSlot::operator[](Counter c) const {
  return this->*counter_spec(c).slot;
}

// One value per counter, indexed by Counter.
class CounterValues {
 public:
  uint64_t& operator[](Counter c) { return values_[static_cast<size_t>(c)]; }
  uint64_t operator[](Counter c) const { return values_[static_cast<size_t>(c)]; }

 private:
  std::array<uint64_t, kCounterCount> values_{};
};

// The counters' values since the pool was made.
struct StatsTotals : CounterValues {};

// Per-second rates and per-event averages over the last stats_period, as
// PgBouncer's avg_* columns report them.
struct StatsAverages : CounterValues {};

inline StatsTotals& operator+=(StatsTotals& a, const StatsTotals& b) {
  for (const CounterSpec& c : kCounters)
    a[c.id] += b[c.id];
  return a;
}

// The averages over a period of `seconds` that went from `start` to `now`.
// A counter that went down (a pool removed by a reload, in a sum over
// pools) counts as no traffic.
inline StatsAverages average(const StatsTotals& now, const StatsTotals& start, double seconds) {
  auto delta = [&](Counter c) { return now[c] > start[c] ? now[c] - start[c] : 0; };
  StatsAverages a;
  for (const CounterSpec& c : kCounters) {
    if (c.average == Average::kRate) {
      a[c.id] = static_cast<uint64_t>(static_cast<double>(delta(c.id)) / seconds);
    } else {
      uint64_t events = delta(c.per);
      a[c.id] = events == 0 ? 0 : delta(c.id) / events;
    }
  }
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
      for (const CounterSpec& c : kCounters)
        t[c.id] += (s.*c.slot).load(std::memory_order_relaxed);
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

  // Server connects (and their logins), by whichever worker opened them.
  LatencyHistogram& connect_latency() { return connect_latency_; }
  LatencySnapshot latency(Latency which) const {
    LatencySnapshot out;
    if (which == Latency::kConnect) {
      out.add(connect_latency_);
      return out;
    }
    for (int i = 0; i < workers_; ++i) {
      const StatsSlot& s = slots_[i];
      out.add(which == Latency::kQuery  ? s.query_latency
              : which == Latency::kXact ? s.xact_latency
                                        : s.wait_latency);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  StatsTotals period_start_;
  StatsAverages averages_;
  std::unique_ptr<StatsSlot[]> slots_;
  int workers_;
  LatencyHistogram connect_latency_;
};

// Relaxed add on a worker-local slot: no other thread writes it.
inline void bump(std::atomic<uint64_t>& counter, uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace usher::pool
