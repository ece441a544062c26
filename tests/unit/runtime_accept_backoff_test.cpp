#include "runtime/accept_backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace usher::runtime {
namespace {

using std::chrono::milliseconds;

TEST(AcceptBackoff, DoublesFrom100msTo1sLoggingEachStep) {
  AcceptBackoff b;
  std::vector<milliseconds> delays;
  int logged = 0;
  for (int i = 0; i < 7; ++i) {
    auto step = b.failed();
    delays.push_back(step.delay);
    logged += step.log;
    EXPECT_EQ(step.failures, i + 1);
  }
  EXPECT_EQ(delays, (std::vector<milliseconds>{
                        milliseconds(100), milliseconds(200), milliseconds(400), milliseconds(800),
                        milliseconds(1000), milliseconds(1000), milliseconds(1000)}));
  EXPECT_EQ(logged, 5);  // one line per step, none for the repeats at 1 s
}

TEST(AcceptBackoff, AtTheCapLogsOnceEveryRepeatLogEvery) {
  AcceptBackoff b;
  int logged = 0;
  const int failures = 5 + 3 * AcceptBackoff::kRepeatLogEvery;
  for (int i = 0; i < failures; ++i)
    logged += b.failed().log;
  EXPECT_EQ(logged, 5 + 3);
}

TEST(AcceptBackoff, SuccessStartsOver) {
  AcceptBackoff b;
  for (int i = 0; i < 10; ++i)
    (void)b.failed();
  b.succeeded();
  auto step = b.failed();
  EXPECT_EQ(step.delay, milliseconds(100));
  EXPECT_TRUE(step.log);
  EXPECT_EQ(step.failures, 1);
}

}  // namespace
}  // namespace usher::runtime
