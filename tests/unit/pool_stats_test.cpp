#include "pool/pool_stats.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace usher::pool {
namespace {

TEST(PoolStats, IndexReachesTheNamedMember) {
  StatsSlot s;
  bump(s.xact_count, 3);
  bump(s.wait_time_us, 7);
  bump(s[Counter::kStatementRetries], 2);
  EXPECT_EQ(s[Counter::kXactCount].load(), 3u);
  EXPECT_EQ(s[Counter::kWaitTime].load(), 7u);
  EXPECT_EQ(s.statement_retries.load(), 2u);
  // Every row names a member of its own.
  std::set<const void*> members;
  for (const CounterSpec& c : kCounters)
    members.insert(&(s.*c.slot));
  EXPECT_EQ(members.size(), kCounterCount);
}

TEST(PoolStats, TotalsSumEveryWorkersSlot) {
  PoolStats stats(3);
  bump(stats.slot(0).bytes_sent, 10);
  bump(stats.slot(2).bytes_sent, 5);
  bump(stats.slot(1).client_login_count, 1);
  StatsTotals t = stats.totals();
  EXPECT_EQ(t[Counter::kBytesSent], 15u);
  EXPECT_EQ(t[Counter::kClientLoginCount], 1u);
  EXPECT_EQ(t[Counter::kXactCount], 0u);
  StatsTotals sum = t;
  sum += t;
  EXPECT_EQ(sum[Counter::kBytesSent], 30u);
}

TEST(PoolStats, AveragesAreRatesAndTimesPerEvent) {
  StatsTotals start, now;
  start[Counter::kXactCount] = 10;
  now[Counter::kXactCount] = 30;  // 20 in 10 s
  now[Counter::kXactTime] = 1000;
  now[Counter::kQueryTime] = 500;  // but no query: no average
  now[Counter::kServerAssignments] = 4;
  now[Counter::kWaitTime] = 100;
  start[Counter::kBytesReceived] = 50;  // went down: no traffic
  StatsAverages a = average(now, start, 10.0);
  EXPECT_EQ(a[Counter::kXactCount], 2u);
  EXPECT_EQ(a[Counter::kXactTime], 50u);
  EXPECT_EQ(a[Counter::kQueryTime], 0u);
  EXPECT_EQ(a[Counter::kWaitTime], 25u);
  EXPECT_EQ(a[Counter::kBytesReceived], 0u);
}

TEST(PoolStats, ShowStatsNamesInPgBouncersOrder) {
  std::string names;
  for (const CounterSpec& c : kCounters) {
    if (c.in_show_stats()) names.append(c.console.stats).append(" ");
  }
  EXPECT_EQ(names,
            "server_assignment_count xact_count query_count received sent xact_time query_time "
            "wait_time client_parse_count server_parse_count bind_count client_login_count ");
  EXPECT_FALSE(counter_spec(Counter::kStatementEvictions).in_show_stats());
}

}  // namespace
}  // namespace usher::pool
