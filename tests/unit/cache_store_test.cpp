#include "cache/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace usher::cache {
namespace {

using std::chrono::seconds;
using Tables = std::vector<std::string>;

constexpr auto kForever = Clock::time_point::max();
constexpr size_t kRoomy = size_t{1} << 30;
const Clock::time_point kStart{};          // tests pass `now` themselves
const std::string kTable("public\0t", 8);  // a table_id(): schema NUL name

bool put(Store& s, const std::string& key, const std::string& value, uint32_t db = 0,
         const Tables& tables = {kTable}, Clock::time_point expires = kForever) {
  return s.insert(key, value, s.begin_fill(db, tables), expires);
}

// What the store charges for one entry, as it reports it.
size_t charge_of(const std::string& key, const std::string& value,
                 const Tables& tables = {kTable}) {
  Store probe(kRoomy);
  EXPECT_TRUE(put(probe, key, value, 0, tables));
  return probe.stats().bytes;
}

std::string found(Store& s, std::string_view key, Clock::time_point now = kStart) {
  auto v = s.find(key, now);
  return v ? *v : std::string("<miss>");
}

TEST(CacheStore, HitsAndMisses) {
  Store s(kRoomy);
  EXPECT_EQ(found(s, "k"), "<miss>");
  EXPECT_TRUE(put(s, "k", "rows"));
  EXPECT_EQ(found(s, "k"), "rows");
  EXPECT_EQ(found(s, "k2"), "<miss>");
  StoreStats st = s.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(st.stores, 1u);
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.bytes, charge_of("k", "rows"));
}

TEST(CacheStore, ChargesKeyValueTablesAndOverhead) {
  const size_t base = charge_of("k", "v", {"a"});
  EXPECT_GT(base, 2u + 1u);  // the overhead is counted
  EXPECT_EQ(charge_of("kkkk", "v", {"a"}), base + 3);
  EXPECT_EQ(charge_of("k", std::string(1000, 'v'), {"a"}), base + 999);
  EXPECT_EQ(charge_of("k", "v", {"abcd"}), base + 3);
  EXPECT_GT(charge_of("k", "v", {"a", "b"}), base + 1);  // a table's own overhead
  // A table named twice is read once.
  EXPECT_EQ(charge_of("k", "v", {"a", "a"}), base);
}

TEST(CacheStore, ComparesWholeKeysWhenHashesCollide) {
  Store s(kRoomy, [](std::string_view) { return size_t{0}; });
  EXPECT_TRUE(put(s, "select 1", "one", 0, {"a"}));
  EXPECT_TRUE(put(s, "select 2", "two", 0, {"b"}));
  EXPECT_EQ(found(s, "select 1"), "one");
  EXPECT_EQ(found(s, "select 2"), "two");
  EXPECT_EQ(found(s, "select 3"), "<miss>");
  EXPECT_EQ(s.stats().entries, 2u);
  EXPECT_EQ(s.invalidate(0, {"a"}), 1u);
  EXPECT_EQ(found(s, "select 1"), "<miss>");
  EXPECT_EQ(found(s, "select 2"), "two");
}

TEST(CacheStore, EvictsLeastRecentlyUsedWithinTheLimit) {
  const std::string value(100, 'v');
  const size_t c = charge_of("k1", value);
  Store s(3 * c);
  EXPECT_TRUE(put(s, "k1", value));
  EXPECT_TRUE(put(s, "k2", value));
  EXPECT_TRUE(put(s, "k3", value));
  EXPECT_EQ(found(s, "k1"), value);  // k2 is now the oldest
  EXPECT_TRUE(put(s, "k4", value));
  EXPECT_EQ(s.stats().evictions, 1u);
  EXPECT_EQ(found(s, "k2"), "<miss>");
  EXPECT_EQ(found(s, "k1"), value);
  EXPECT_EQ(found(s, "k3"), value);
  EXPECT_EQ(found(s, "k4"), value);
  EXPECT_EQ(s.stats().bytes, 3 * c);
  // Bigger entries make room for themselves and never pass the limit.
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(put(s, "k" + std::to_string(10 + i), std::string(100 + 2 * i, 'w')));
    EXPECT_LE(s.stats().bytes, 3 * c);
  }
  EXPECT_EQ(found(s, "k59"), std::string(198, 'w'));
  EXPECT_EQ(found(s, "k58"), std::string(196, 'w'));
  EXPECT_EQ(s.stats().entries, 2u);  // 3c holds two that big, not three
}

TEST(CacheStore, RefusesWhatCannotFitAlone) {
  const size_t c = charge_of("k", "small");
  Store s(c);
  EXPECT_TRUE(put(s, "k", "small"));
  EXPECT_FALSE(put(s, "k", "bigger"));
  EXPECT_EQ(s.stats().refused_too_large, 1u);
  EXPECT_EQ(found(s, "k"), "small");  // the old entry stays
  Store tiny(c - 1);
  EXPECT_FALSE(put(tiny, "k", "small"));
  EXPECT_EQ(tiny.stats().entries, 0u);
  EXPECT_EQ(tiny.stats().bytes, 0u);
}

TEST(CacheStore, ExpiresAtItsTime) {
  Store s(kRoomy);
  EXPECT_TRUE(put(s, "k", "v", 0, {"t"}, kStart + seconds(10)));
  EXPECT_TRUE(put(s, "forever", "v", 0, {"t"}));
  EXPECT_EQ(found(s, "k", kStart + seconds(9)), "v");
  EXPECT_EQ(found(s, "k", kStart + seconds(10)), "<miss>");
  EXPECT_EQ(found(s, "forever", kStart + seconds(1000000)), "v");
  StoreStats st = s.stats();
  EXPECT_EQ(st.expirations, 1u);
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.bytes, charge_of("forever", "v", {"t"}));
  // Erased, not just hidden: an earlier `now` does not bring it back.
  EXPECT_EQ(found(s, "k", kStart), "<miss>");
}

TEST(CacheStore, InvalidateErasesExactlyTheDependents) {
  Store s(kRoomy);
  EXPECT_TRUE(put(s, "a", "1", 0, {"t1"}));
  EXPECT_TRUE(put(s, "b", "2", 0, {"t1", "t2"}));
  EXPECT_TRUE(put(s, "c", "3", 0, {"t3"}));
  EXPECT_TRUE(put(s, "d", "4", 1, {"t1"}));  // the same table in another database
  EXPECT_TRUE(put(s, "e", "5", 0, {"t4", "t4"}));
  EXPECT_EQ(s.invalidate(0, {"t1"}), 2u);
  EXPECT_EQ(found(s, "a"), "<miss>");
  EXPECT_EQ(found(s, "b"), "<miss>");
  EXPECT_EQ(found(s, "c"), "3");
  EXPECT_EQ(found(s, "d"), "4");
  EXPECT_EQ(s.invalidate(0, {"t2", "nothing"}), 0u);  // b is gone already
  EXPECT_EQ(s.invalidate(0, {"t4"}), 1u);
  EXPECT_EQ(s.stats().invalidated_entries, 3u);
  EXPECT_EQ(s.stats().entries, 2u);
  EXPECT_EQ(s.stats().bytes, charge_of("c", "3", {"t3"}) + charge_of("d", "4", {"t1"}));
}

TEST(CacheStore, RefusesFillsThatAWriteOvertook) {
  Store s(kRoomy);
  Store::Ticket t = s.begin_fill(0, {"t1"});
  EXPECT_EQ(s.invalidate(0, {"t1"}), 0u);
  EXPECT_FALSE(s.insert("k", "old", t, kForever));
  EXPECT_EQ(s.stats().refused_stale_fills, 1u);

  t = s.begin_fill(0, {"t1"});
  EXPECT_EQ(s.flush(0), 0u);
  EXPECT_FALSE(s.insert("k", "old", t, kForever));

  t = s.begin_fill(0, {"t1"});
  s.invalidate(0, {"t2"});  // another table
  s.invalidate(1, {"t1"});  // another database
  EXPECT_TRUE(s.insert("k", "new", t, kForever));
  EXPECT_EQ(found(s, "k"), "new");

  // A stale fill does not disturb what is there.
  t = s.begin_fill(0, {"t1", "t2"});
  s.invalidate(0, {"t2"});
  EXPECT_FALSE(s.insert("k", "stale", t, kForever));
  EXPECT_EQ(found(s, "k"), "new");

  // flush_all() reaches databases the store has never seen.
  t = s.begin_fill(7, {"t1"});
  Store::Ticket no_tables = s.begin_fill(8, {});
  s.flush_all();
  EXPECT_FALSE(s.insert("k", "old", t, kForever));
  EXPECT_FALSE(s.insert("k", "old", no_tables, kForever));
  EXPECT_EQ(s.stats().refused_stale_fills, 5u);
  EXPECT_EQ(s.stats().stores, 1u);
}

// The table map is pruned as the stream names new tables; that must never
// let an overtaken fill in, nor lose the index of a table something reads.
TEST(CacheStore, StaysSoundWhileTableChurnIsPruned) {
  Store s(kRoomy);
  constexpr int kChurn = 5000;
  Store::Ticket overtaken = s.begin_fill(0, {"t"});
  s.invalidate(0, {"t"});
  EXPECT_TRUE(put(s, "keep", "v", 0, {"kept"}));
  for (int i = 0; i < kChurn; ++i)
    s.invalidate(0, {"churn" + std::to_string(i)});
  EXPECT_FALSE(s.insert("k", "old", overtaken, kForever));

  Store::Ticket fresh = s.begin_fill(0, {"t"});
  EXPECT_TRUE(s.insert("k", "new", fresh, kForever));
  for (int i = 0; i < kChurn; ++i)
    s.invalidate(0, {"more" + std::to_string(i)});
  EXPECT_EQ(s.invalidate(0, {"t"}), 1u);
  EXPECT_EQ(s.invalidate(0, {"kept"}), 1u);
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(CacheStore, ReplacingAKeyKeepsTheCountsRight) {
  Store s(kRoomy);
  EXPECT_TRUE(put(s, "k", std::string(10, 'a'), 0, {"t1"}));
  const uint64_t before = s.stats().bytes;
  EXPECT_TRUE(put(s, "k", std::string(30, 'b'), 0, {"t2"}));
  StoreStats st = s.stats();
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.bytes, before + 20);
  EXPECT_EQ(st.stores, 2u);
  EXPECT_EQ(s.db_stats(0).bytes, before + 20);
  EXPECT_EQ(found(s, "k"), std::string(30, 'b'));
  // The replaced entry's tables no longer lead to it.
  EXPECT_EQ(s.invalidate(0, {"t1"}), 0u);
  EXPECT_EQ(s.invalidate(0, {"t2"}), 1u);
  EXPECT_EQ(s.stats().bytes, 0u);
}

TEST(CacheStore, AValueOutlivesItsEntry) {
  Store s(kRoomy);
  EXPECT_TRUE(put(s, "a", "alpha", 0, {"t"}));
  EXPECT_TRUE(put(s, "b", "beta", 1, {"t"}));
  auto a = s.find("a", kStart);
  auto b = s.find("b", kStart);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(s.invalidate(0, {"t"}), 1u);
  EXPECT_EQ(s.flush_all(), 1u);
  EXPECT_EQ(*a, "alpha");
  EXPECT_EQ(*b, "beta");
}

TEST(CacheStore, ShrinkingTheLimitEvicts) {
  const std::string value(50, 'v');
  const size_t c = charge_of("k1", value);
  Store s(10 * c);
  for (int i = 1; i <= 4; ++i)
    EXPECT_TRUE(put(s, "k" + std::to_string(i), value));
  EXPECT_EQ(found(s, "k1"), value);  // k2 and k3 are the oldest
  s.set_max_bytes(2 * c);
  EXPECT_EQ(s.max_bytes(), 2 * c);
  StoreStats st = s.stats();
  EXPECT_EQ(st.entries, 2u);
  EXPECT_EQ(st.evictions, 2u);
  EXPECT_EQ(st.bytes, 2 * c);
  EXPECT_EQ(found(s, "k1"), value);
  EXPECT_EQ(found(s, "k4"), value);
  s.set_max_bytes(0);
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_FALSE(put(s, "k1", value));
}

TEST(CacheStore, CountsPerDatabase) {
  Store s(kRoomy);
  EXPECT_TRUE(put(s, "a", "1", 0));
  EXPECT_TRUE(put(s, "b", "22", 0));
  EXPECT_TRUE(put(s, "c", "333", 1));
  EXPECT_EQ(s.db_stats(0).entries, 2u);
  EXPECT_EQ(s.db_stats(0).bytes, charge_of("a", "1") + charge_of("b", "22"));
  EXPECT_EQ(s.db_stats(1).entries, 1u);
  EXPECT_EQ(s.db_stats(1).bytes, charge_of("c", "333"));
  EXPECT_EQ(s.db_stats(2).entries, 0u);
  EXPECT_EQ(s.db_stats(2).bytes, 0u);
  EXPECT_EQ(s.flush(0), 2u);
  EXPECT_EQ(s.db_stats(0).entries, 0u);
  EXPECT_EQ(s.db_stats(0).bytes, 0u);
  EXPECT_EQ(found(s, "c"), "333");
  EXPECT_EQ(s.stats().entries, 1u);
  EXPECT_EQ(s.stats().bytes, charge_of("c", "333"));
  EXPECT_EQ(s.stats().invalidated_entries, 2u);
  // The database caches again after its flush.
  EXPECT_TRUE(put(s, "a", "1", 0));
  EXPECT_EQ(found(s, "a"), "1");
}

TEST(CacheStore, FlushAllEmptiesEveryDatabase) {
  Store s(kRoomy);
  EXPECT_TRUE(put(s, "a", "1", 0));
  EXPECT_TRUE(put(s, "b", "2", 1));
  EXPECT_TRUE(put(s, "c", "3", 2, {}));
  EXPECT_EQ(s.flush_all(), 3u);
  StoreStats st = s.stats();
  EXPECT_EQ(st.entries, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.invalidated_entries, 3u);
  for (uint32_t db = 0; db < 3; ++db)
    EXPECT_EQ(s.db_stats(db).entries, 0u);
  EXPECT_EQ(found(s, "a"), "<miss>");
  EXPECT_EQ(found(s, "c"), "<miss>");
  EXPECT_TRUE(put(s, "a", "again", 0));
  EXPECT_EQ(found(s, "a"), "again");
  // The table's state was rebuilt for the new entry.
  EXPECT_EQ(s.invalidate(0, {kTable}), 1u);
  EXPECT_EQ(found(s, "a"), "<miss>");
}

// Four threads mixing every operation on few keys and tables, under a
// limit that keeps evicting, with a weak hash so that keys collide; then
// the books must balance and every entry must be reachable from its tables.
TEST(CacheStore, StaysConsistentUnderConcurrentUse) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 4000;
  constexpr int kKeys = 64;
  constexpr int kTables = 6;
  constexpr uint32_t kDatabases = 2;
  constexpr size_t kBuckets = 8;
  constexpr size_t kPendingFills = 3;
  const size_t limit = 20 * charge_of("key00", std::string(64, 'x'), {"t0", "t1"});
  Store s(limit, [](std::string_view k) { return std::hash<std::string_view>{}(k) % kBuckets; });
  std::atomic<uint64_t> finds{0}, inserts{0}, wrong_values{0};

  std::latch start(kThreads);
  auto work = [&](int seed) {
    std::mt19937 rng(seed);
    std::deque<std::pair<std::string, Store::Ticket>> pending;
    start.arrive_and_wait();
    auto pick = [&](int n) { return static_cast<int>(rng() % n); };
    for (int i = 0; i < kIterations; ++i) {
      const uint32_t db = pick(kDatabases);
      const std::string key = std::to_string(db) + "/key" + std::to_string(pick(kKeys));
      const std::string table = "t" + std::to_string(pick(kTables));
      const int op = pick(100);
      if (op < 50) {
        finds += 1;
        auto v = s.find(key, kStart);
        if (v && v->compare(0, key.size() + 1, key + "=") != 0) wrong_values += 1;
      } else if (op < 85) {
        // A fill ends a few operations after it began (its query runs), so
        // that writes overtake some of them.
        pending.push_back({key, s.begin_fill(db, {table, "t" + std::to_string(pick(kTables))})});
        if (pending.size() > kPendingFills) {
          inserts += 1;
          auto& [k, ticket] = pending.front();
          s.insert(k, k + "=" + std::string(pick(128), 'x'), ticket, kForever);
          pending.pop_front();
        }
      } else if (op < 97) {
        s.invalidate(db, {table});
      } else if (op < 99) {
        s.flush(db);
      } else {
        s.set_max_bytes(pick(2) == 0 ? limit : limit / 2);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back(work, i + 1);
  for (auto& t : threads)
    t.join();

  StoreStats st = s.stats();
  EXPECT_EQ(wrong_values.load(), 0u);
  EXPECT_EQ(st.hits + st.misses, finds.load());
  EXPECT_EQ(st.stores + st.refused_stale_fills + st.refused_too_large, inserts.load());
  EXPECT_LE(st.bytes, s.max_bytes());
  uint64_t entries = 0, bytes = 0;
  for (uint32_t db = 0; db < kDatabases; ++db) {
    entries += s.db_stats(db).entries;
    bytes += s.db_stats(db).bytes;
  }
  EXPECT_EQ(st.entries, entries);
  EXPECT_EQ(st.bytes, bytes);
  // Every entry reads some table: invalidating them all must leave nothing,
  // and the bytes must come back to exactly zero.
  Tables all;
  for (int t = 0; t < kTables; ++t)
    all.push_back("t" + std::to_string(t));
  size_t erased = 0;
  for (uint32_t db = 0; db < kDatabases; ++db)
    erased += s.invalidate(db, all);
  EXPECT_EQ(erased, st.entries);
  EXPECT_EQ(s.stats().entries, 0u);
  EXPECT_EQ(s.stats().bytes, 0u);
  for (int k = 0; k < kKeys; ++k)
    EXPECT_EQ(found(s, "0/key" + std::to_string(k)), "<miss>");
}

}  // namespace
}  // namespace usher::cache
