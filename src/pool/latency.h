// Latency histograms for the metrics endpoint: query, transaction and
// client wait times per worker slot (pool_stats.h), server connect times
// per pool. Prometheus wants histograms, not averages, so that percentiles
// can be computed over any window and summed over pools and instances.
//
// A value falls in the first bucket whose bound it does not exceed (the
// `le` of Prometheus); bounds are fixed so that every pool and every Usher
// exports the same `le` labels and sums stay meaningful. The hot path pays
// a few compares and two relaxed stores.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace usher::pool {

// Upper bounds, microseconds: 100 µs to 10 s, about 2.5x apart (a pooled
// query on a LAN is a few hundred µs; a wait for a server is 0 or long).
inline constexpr std::array<uint64_t, 15> kLatencyBoundsUs{
    100,    250,     500,     1'000,   2'500,     5'000,     10'000,    25'000,
    50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000};
// Plus one for values above the last bound (+Inf).
inline constexpr size_t kLatencyBuckets = kLatencyBoundsUs.size() + 1;

inline size_t latency_bucket(uint64_t us) {
  return static_cast<size_t>(
      std::lower_bound(kLatencyBoundsUs.begin(), kLatencyBoundsUs.end(), us) -
      kLatencyBoundsUs.begin());
}

// Counts per bucket (not cumulative) and the sum, read by others with
// relaxed loads: a reader may see a count without its sum for a moment,
// which Prometheus' rate() over minutes does not notice.
struct LatencyHistogram {
  std::array<std::atomic<uint64_t>, kLatencyBuckets> counts{};
  std::atomic<uint64_t> sum_us{0};

  // By the one thread that owns the histogram (a worker's slot).
  void record(uint64_t us) {
    auto& c = counts[latency_bucket(us)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_us.store(sum_us.load(std::memory_order_relaxed) + us, std::memory_order_relaxed);
  }
  // By any thread (a pool's connect times).
  void record_shared(uint64_t us) {
    counts[latency_bucket(us)].fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(us, std::memory_order_relaxed);
  }
};

// A histogram's values at one moment, summed over slots or pools.
struct LatencySnapshot {
  std::array<uint64_t, kLatencyBuckets> counts{};
  uint64_t sum_us = 0;

  void add(const LatencyHistogram& h) {
    for (size_t i = 0; i < kLatencyBuckets; ++i)
      counts[i] += h.counts[i].load(std::memory_order_relaxed);
    sum_us += h.sum_us.load(std::memory_order_relaxed);
  }
  void add(const LatencySnapshot& s) {
    for (size_t i = 0; i < kLatencyBuckets; ++i)
      counts[i] += s.counts[i];
    sum_us += s.sum_us;
  }
};

// The histograms a pool keeps, for readers that pick one.
enum class Latency : uint8_t { kQuery, kXact, kWait, kConnect };

}  // namespace usher::pool
