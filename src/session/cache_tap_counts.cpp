// The cache tap's accounting (session/cache_tap.h): every read a client
// sends is counted once, under its statement shape, as a hit, a miss or a
// refusal with its reason (SHOW CACHE, SHOW CACHE_QUERIES), and a miss's
// answer that is not kept says why.
#include "session/cache_tap.h"

#include "protocol/messages.h"

namespace usher::session {

namespace {

// A batch's cacheable reads waiting for answer(); past this, the rest of a
// long pipeline is counted as refused at once.
constexpr size_t kMaxBatchReads = 64;

void bump(std::atomic<uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::string_view CacheTap::why_no_hit(bool idle, char tx_status) const {
  if (tx_status != protocol::kTransactionIdle) return cache::refusal::kInTransaction;
  if (!idle) return cache::refusal::kRequestsOwed;
  if (!client_may_hit()) return cache::refusal::kSettingsUnknown;
  if (!domain_->serving()) return cache::refusal::kNotServing;
  return {};
}

void CacheTap::executed(const cache::StatementInfo& info, char protocol) {
  if (!info.refusal.empty()) {
    if (info.kind == sql::StatementKind::kRead) bump(domain_->lookups().uncacheable);
    if (info.stats) info.stats->refuse(info.refusal);
    return;
  }
  if (info.kind != sql::StatementKind::kRead || !info.stats) return;
  if (batch_reads_.size() >= kMaxBatchReads) {
    refuse(*info.stats, cache::refusal::kPipelined);
    return;
  }
  batch_reads_.push_back(BatchRead{info.stats, protocol});
}

void CacheTap::refuse(cache::QueryRecord& stats, std::string_view why) {
  bump(domain_->lookups().uncacheable);
  stats.refuse(why);
}

void CacheTap::count_unanswered() {
  for (size_t i = 0; i < batch_reads_.size(); ++i) {
    cache::QueryRecord& stats = *batch_reads_[i].stats;
    if (i == 0 && first_missed_) {
      bump(domain_->lookups().misses);
      stats.miss();
      continue;
    }
    std::string_view why = why_unanswered_;
    if (why.empty()) {
      why = batch_reads_[i].protocol == 'Q' ? cache::refusal::kPipelined
            : batch_row_limit_              ? cache::refusal::kRowLimit
                                            : cache::refusal::kNotOneExecution;
    }
    refuse(stats, why);
  }
  batch_reads_.clear();
  first_missed_ = false;
  why_unanswered_ = {};
  batch_row_limit_ = false;
}

void CacheTap::answered_read() {
  bump(domain_->lookups().hits);
  if (batch_reads_.empty()) return;
  batch_reads_.front().stats->hit();
  batch_reads_.erase(batch_reads_.begin());
}

void CacheTap::drop_capture(std::string_view why) {
  if (capture_->stats) capture_->stats->not_stored(why);
  capture_.reset();
}

}  // namespace usher::session
