// How a listener waits after a failed accept(). EMFILE, ENFILE, ENOBUFS and
// ENOMEM do not go away by retrying at once: the pending connection stays in
// the backlog, so an accept re-armed at once fails again at once, spinning a
// core and writing a log line per failure. Instead the listener waits 100 ms,
// doubling to 1 s while the errors last, and logs once per step (100, 200,
// 400, 800 ms, 1 s), then once every kRepeatLogEvery failures at 1 s (about
// a minute). The first successful accept resets it. Pure: no clock, no I/O.
#pragma once

#include <algorithm>
#include <chrono>

namespace usher::runtime {

class AcceptBackoff {
 public:
  using Duration = std::chrono::milliseconds;
  static constexpr Duration kFirstDelay{100};
  static constexpr Duration kMaxDelay{1000};
  static constexpr int kRepeatLogEvery = 60;

  struct Step {
    Duration delay;  // wait this long before accepting again
    bool log;        // whether to log this failure
    int failures;    // failures in a row, this one included
  };

  // After a failed accept.
  Step failed() {
    ++failures_;
    if (delay_ < kMaxDelay) {
      delay_ = delay_ == Duration::zero() ? kFirstDelay : std::min(delay_ * 2, kMaxDelay);
      at_max_ = 0;
      return {delay_, true, failures_};
    }
    ++at_max_;
    return {delay_, at_max_ % kRepeatLogEvery == 0, failures_};
  }

  // After a successful accept: the next failure starts again at kFirstDelay.
  void succeeded() {
    delay_ = Duration::zero();
    failures_ = 0;
    at_max_ = 0;
  }

 private:
  Duration delay_{0};
  int failures_ = 0;
  int at_max_ = 0;  // failures since the delay reached kMaxDelay
};

}  // namespace usher::runtime
