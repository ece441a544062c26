#include "cache/query_stats.h"

#include <algorithm>

#include "sql/analysis.h"

namespace usher::cache {

namespace {

// Cuts `text` to at most `max` bytes without splitting a UTF-8 character.
std::string_view cut(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80)
    --n;
  return text.substr(0, n);
}

}  // namespace

void QueryRecord::refuse(std::string_view why) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  count_reason(why);
}

void QueryRecord::not_stored(std::string_view why) {
  count_reason(why);
}

void QueryRecord::count_reason(std::string_view why) {
  std::lock_guard lock(mu_);
  for (auto& [name, n] : reasons_) {
    if (name == why) {
      ++n;
      return;
    }
  }
  reasons_.emplace_back(why, 1);
}

QueryRecord::Counts QueryRecord::counts() const {
  Counts c;
  c.hits = hits_.load(std::memory_order_relaxed);
  c.misses = misses_.load(std::memory_order_relaxed);
  c.refused = refused_.load(std::memory_order_relaxed);
  c.stored = stored_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    c.reasons = reasons_;
  }
  std::stable_sort(c.reasons.begin(), c.reasons.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return c;
}

uint64_t QueryRecord::calls() const {
  return hits_.load(std::memory_order_relaxed) + misses_.load(std::memory_order_relaxed) +
         refused_.load(std::memory_order_relaxed);
}

std::shared_ptr<QueryRecord> QueryStats::record(std::string_view normalized) {
  const uint64_t fp = sql::fingerprint(normalized);
  std::lock_guard lock(mu_);
  auto it = records_.find(fp);
  if (it != records_.end()) return it->second;
  if (records_.size() >= kMaxStatements) {
    // Only when a new shape comes to a full table, which costs a parse
    // already: the scan is small beside it.
    auto fewest = std::min_element(
        records_.begin(), records_.end(),
        [](const auto& a, const auto& b) { return a.second->calls() < b.second->calls(); });
    records_.erase(fewest);
  }
  auto rec = std::make_shared<QueryRecord>(fp, std::string(cut(normalized, kMaxText)));
  records_.emplace(fp, rec);
  return rec;
}

std::shared_ptr<const QueryRecord> QueryStats::find(uint64_t fingerprint) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(fingerprint);
  return it == records_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const QueryRecord>> QueryStats::records() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const QueryRecord>> out;
  out.reserve(records_.size());
  for (const auto& [fp, rec] : records_)
    out.push_back(rec);
  return out;
}

}  // namespace usher::cache
