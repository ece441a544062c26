#include "cache/flights.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace usher::cache {
namespace {

TEST(Flights, FirstMissLeadsLaterOnesJoin) {
  Flights flights;
  FlightLease lead;
  EXPECT_EQ(flights.join_or_lead("k", lead), nullptr);
  ASSERT_TRUE(lead);
  EXPECT_EQ(lead.key(), "k");

  FlightLease other;
  auto flight = flights.join_or_lead("k", other);
  ASSERT_NE(flight, nullptr);
  EXPECT_FALSE(other);
  // Another key is another flight.
  FlightLease second;
  EXPECT_EQ(flights.join_or_lead("k2", second), nullptr);
  EXPECT_TRUE(second);
  EXPECT_EQ(flights.size(), 2u);
}

TEST(Flights, DroppingTheLeaseWakesEveryWaiterAndFreesTheKey) {
  Flights flights;
  FlightLease lead;
  flights.join_or_lead("k", lead);
  FlightLease none;
  auto flight = flights.join_or_lead("k", none);
  int woken = 0;
  ASSERT_TRUE(flight->on_landed([&] { ++woken; }));
  ASSERT_TRUE(flight->on_landed([&] { ++woken; }));
  EXPECT_EQ(woken, 0);
  lead.drop();
  EXPECT_EQ(woken, 2);
  EXPECT_FALSE(lead);
  EXPECT_EQ(flights.size(), 0u);
  // Landed: a late waiter is woken at once, and the key can be led again.
  ASSERT_TRUE(flight->on_landed([&] { ++woken; }));
  EXPECT_EQ(woken, 3);
  FlightLease again;
  EXPECT_EQ(flights.join_or_lead("k", again), nullptr);
  EXPECT_TRUE(again);
}

TEST(Flights, ALeaseLandsWhenDestroyedOrMovedOver) {
  Flights flights;
  int woken = 0;
  {
    FlightLease lead;
    flights.join_or_lead("k", lead);
    FlightLease none;
    flights.join_or_lead("k", none)->on_landed([&] { ++woken; });
    FlightLease moved = std::move(lead);
    EXPECT_FALSE(lead);
    EXPECT_EQ(woken, 0);
  }
  EXPECT_EQ(woken, 1);

  FlightLease a, b;
  flights.join_or_lead("a", a);
  flights.join_or_lead("b", b);
  FlightLease none;
  flights.join_or_lead("a", none)->on_landed([&] { ++woken; });
  a = std::move(b);  // a's flight lands; b's now belongs to a
  EXPECT_EQ(woken, 2);
  EXPECT_EQ(flights.size(), 1u);
  EXPECT_EQ(a.key(), "b");
}

TEST(Flights, AnOldFlightLandingLeavesANewOneOfTheSameKey) {
  Flights flights;
  FlightLease first;
  flights.join_or_lead("k", first);
  FlightLease none;
  auto old_flight = flights.join_or_lead("k", none);
  first.drop();
  FlightLease second;
  EXPECT_EQ(flights.join_or_lead("k", second), nullptr);
  old_flight->land();  // landed twice: harmless, and the new flight stays
  EXPECT_EQ(flights.size(), 1u);
  EXPECT_NE(flights.join_or_lead("k", none), nullptr);
}

TEST(Flights, WaitersPerFlightAreBounded) {
  Flights flights;
  FlightLease lead;
  flights.join_or_lead("k", lead);
  FlightLease none;
  auto flight = flights.join_or_lead("k", none);
  for (size_t i = 0; i < Flight::kMaxWaiters; ++i)
    ASSERT_TRUE(flight->on_landed([] {}));
  EXPECT_FALSE(flight->on_landed([] {}));
}

TEST(Flights, ConcurrentMissesHaveOneLeaderAndEveryWaiterWakes) {
  Flights flights;
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  std::atomic<int> leaders{0}, woken{0}, waiting{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        FlightLease lease;
        auto flight = flights.join_or_lead(std::to_string(r % 7), lease);
        if (lease) {
          leaders.fetch_add(1);
        } else if (flight->on_landed([&] { woken.fetch_add(1); })) {
          waiting.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_GT(leaders.load(), 0);
  EXPECT_EQ(woken.load(), waiting.load());
  EXPECT_EQ(flights.size(), 0u);
}

}  // namespace
}  // namespace usher::cache
