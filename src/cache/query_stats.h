// What the cache made of each statement shape, for SHOW CACHE_QUERIES and
// CACHE EXPLAIN: per database and fingerprint (sql::fingerprint() of the
// text with its constants replaced), how often it was answered from the
// cache, went to the server on a miss, or was refused, and why.
//
// Only reads are counted (and statements the parser cannot read): writes,
// transaction control and SET are not what anyone asks the cache about.
//
// A record is found once per new statement text (when the per-worker memo
// decides it) and kept in its StatementInfo, so counting is a relaxed
// atomic add on the data path, with no lookup. Bounded: at most
// kMaxStatements records per database; a new shape then pushes out the one
// with the fewest calls (statements still pointing at it count on, unseen).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace usher::cache {

// Reasons decided at run time, besides those of the statement itself
// (sql::refusal, cache::refusal in catalog.h and statements.h).
namespace refusal {
inline constexpr std::string_view kInTransaction = "in a transaction";
inline constexpr std::string_view kRequestsOwed = "behind unanswered requests";
inline constexpr std::string_view kSettingsUnknown = "session settings unknown";
inline constexpr std::string_view kNotServing = "database not serving hits";
inline constexpr std::string_view kPipelined = "not alone in its batch";
inline constexpr std::string_view kNotOneExecution = "not one Execute per Sync";
inline constexpr std::string_view kRowLimit = "Execute with a row limit";
inline constexpr std::string_view kNamedParse = "named Parse in the batch";
inline constexpr std::string_view kServerHeld = "Parse while a server is held";
inline constexpr std::string_view kTooManyNames = "too many statements to follow";
}  // namespace refusal

// Why a miss's answer was not stored.
namespace unstored {
inline constexpr std::string_view kTooLarge = "answer over query_cache_max_entry";
inline constexpr std::string_view kOtherMessage = "answer had a notice, error or setting";
inline constexpr std::string_view kStaleFill = "written while it ran";
inline constexpr std::string_view kNotFilling = "database not filling";
inline constexpr std::string_view kEndedInTransaction = "ended inside a transaction";
}  // namespace unstored

class QueryRecord {
 public:
  QueryRecord(uint64_t fingerprint, std::string text)
      : fingerprint_(fingerprint), text_(std::move(text)) {}

  uint64_t fingerprint() const { return fingerprint_; }
  const std::string& text() const { return text_; }  // cut to QueryStats::kMaxText

  void hit() { hits_.fetch_add(1, std::memory_order_relaxed); }
  void miss() { misses_.fetch_add(1, std::memory_order_relaxed); }
  void stored() { stored_.fetch_add(1, std::memory_order_relaxed); }
  // `why` must be one of the named constants (static storage): it is kept.
  void refuse(std::string_view why);
  void not_stored(std::string_view why);

  struct Counts {
    uint64_t hits = 0, misses = 0, refused = 0, stored = 0;
    uint64_t calls() const { return hits + misses + refused; }
    // Refusals and reasons for not storing, most frequent first.
    std::vector<std::pair<std::string_view, uint64_t>> reasons;
  };
  Counts counts() const;
  uint64_t calls() const;

 private:
  void count_reason(std::string_view why);

  const uint64_t fingerprint_;
  const std::string text_;
  std::atomic<uint64_t> hits_{0}, misses_{0}, refused_{0}, stored_{0};
  mutable std::mutex mu_;  // guards reasons_: taken only where a reason is counted
  std::vector<std::pair<std::string_view, uint64_t>> reasons_;
};

class QueryStats {
 public:
  static constexpr size_t kMaxStatements = 1000;
  static constexpr size_t kMaxText = 1024;

  // The record of a normalized text (sql::statement_texts()), made if new.
  std::shared_ptr<QueryRecord> record(std::string_view normalized);
  // The record of a fingerprint, or null.
  std::shared_ptr<const QueryRecord> find(uint64_t fingerprint) const;
  std::vector<std::shared_ptr<const QueryRecord>> records() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<QueryRecord>> records_;
};

}  // namespace usher::cache
