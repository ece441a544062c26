#include "auth/login_throttle.h"

#include <gtest/gtest.h>

#include <string>

namespace usher::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = LoginThrottle::Clock;

const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);

TEST(LoginThrottle, NoDelayUntilFreeFailuresAreUsed) {
  LoginThrottle t;  // 5 free failures, 100 ms doubling, 3.2 s cap
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(t.delay("10.0.0.1", t0), milliseconds(0));
    EXPECT_FALSE(t.failed("10.0.0.1", t0));
  }
  EXPECT_EQ(t.delay("10.0.0.1", t0), milliseconds(0));
  EXPECT_TRUE(t.failed("10.0.0.1", t0));  // the fifth: throttling starts, log once
  EXPECT_EQ(t.delay("10.0.0.1", t0), milliseconds(100));
}

TEST(LoginThrottle, DelayDoublesUpToTheCapAndIsLoggedOnce) {
  LoginThrottle t;
  for (int i = 0; i < 5; ++i)
    (void)t.failed("a", t0);
  std::vector<milliseconds> delays;
  for (int i = 0; i < 8; ++i) {
    delays.push_back(t.delay("a", t0));
    EXPECT_FALSE(t.failed("a", t0));  // already throttled: no second log line
  }
  EXPECT_EQ(delays,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400),
                                       milliseconds(800), milliseconds(1600), milliseconds(3200),
                                       milliseconds(3200), milliseconds(3200)}));
}

TEST(LoginThrottle, AddressesAreIndependent) {
  LoginThrottle t;
  for (int i = 0; i < 6; ++i)
    (void)t.failed("attacker", t0);
  EXPECT_GT(t.delay("attacker", t0), milliseconds(0));
  EXPECT_EQ(t.delay("neighbour", t0), milliseconds(0));
}

TEST(LoginThrottle, ForgottenAWindowAfterTheLastFailure) {
  LoginThrottle t(LoginThrottle::Limits{.free_failures = 2, .window = seconds(60)});
  (void)t.failed("a", t0);
  EXPECT_TRUE(t.failed("a", t0 + seconds(50)));
  // The window runs from the last failure.
  EXPECT_GT(t.delay("a", t0 + seconds(100)), milliseconds(0));
  EXPECT_EQ(t.delay("a", t0 + seconds(111)), milliseconds(0));
  // Counting starts again, and a new episode is logged again.
  EXPECT_FALSE(t.failed("a", t0 + seconds(111)));
  EXPECT_TRUE(t.failed("a", t0 + seconds(112)));
}

TEST(LoginThrottle, BoundedForgettingTheOldestFailure) {
  LoginThrottle t(LoginThrottle::Limits{.free_failures = 1, .max_addresses = 3});
  (void)t.failed("a", t0);
  (void)t.failed("b", t0 + milliseconds(1));
  (void)t.failed("c", t0 + milliseconds(2));
  (void)t.failed("a", t0 + milliseconds(3));  // a is now the most recent
  (void)t.failed("d", t0 + milliseconds(4));  // evicts b
  EXPECT_EQ(t.size(), 3u);
  const auto now = t0 + milliseconds(5);
  EXPECT_GT(t.delay("a", now), milliseconds(0));
  EXPECT_EQ(t.delay("b", now), milliseconds(0));
  EXPECT_GT(t.delay("c", now), milliseconds(0));
  EXPECT_GT(t.delay("d", now), milliseconds(0));
}

TEST(LoginThrottle, ManyFailuresDoNotOverflow) {
  LoginThrottle t;
  for (int i = 0; i < 100'000; ++i)
    (void)t.failed("a", t0);
  EXPECT_EQ(t.delay("a", t0), milliseconds(3200));
}

}  // namespace
}  // namespace usher::auth
