#include "auth/login_throttle.h"

#include <algorithm>

namespace usher::auth {

LoginThrottle::Duration LoginThrottle::delay(std::string_view address,
                                             Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it == by_address_.end()) return Duration::zero();
  const Record& r = *it->second;
  if (expired(r, now) || r.failures < limits_.free_failures) return Duration::zero();
  // Doubling from first_delay; the shift is bounded so it cannot overflow.
  const int doublings = std::min(r.failures - limits_.free_failures, 30);
  const auto delay = limits_.first_delay * (int64_t{1} << doublings);
  return std::min<Duration>(delay, limits_.max_delay);
}

bool LoginThrottle::failed(std::string_view address, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it == by_address_.end()) {
    records_.push_front(Record{std::string(address), 0, now});
    by_address_.emplace(records_.front().address, records_.begin());
    // Bounded: forget the address whose last failure is the oldest.
    if (records_.size() > std::max<size_t>(limits_.max_addresses, 1)) {
      by_address_.erase(records_.back().address);
      records_.pop_back();
    }
  } else {
    records_.splice(records_.begin(), records_, it->second);
  }
  Record& r = records_.front();
  if (expired(r, now)) r.failures = 0;
  r.failures = std::min(r.failures + 1, limits_.free_failures + 1000);
  r.last_failure = now;
  return r.failures == limits_.free_failures;
}

size_t LoginThrottle::size() const {
  std::lock_guard lock(mu_);
  return records_.size();
}

}  // namespace usher::auth
