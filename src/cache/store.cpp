#include "cache/store.h"

#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace usher::cache {
namespace {

// Generations, and why the table map stays bounded.
//
// Each database hands out generations from its own counter (`clock`), so a
// bumped table always gets a value larger than any it, or any other table
// of the database, ever read as. A table without a state in the map reads
// as the database's `floor`. Soundness needs one property: a table's
// reading never goes back to a value it had before an invalidation, i.e.
// it only grows, and grows at every invalidation. Then a ticket that saw a
// generation before an invalidation can never match again.
//
// The map would grow with every table the invalidation stream ever named
// (DROP/CREATE churn, daily partitions, staging tables with fresh names),
// whether anything cached reads it or not. So once the map reaches
// `prune_at` states, the states no entry depends on are dropped and the
// floor is raised to the largest generation dropped: a dropped table now
// reads as the floor, which is at least what it read before (it never goes
// back), and a table that had no state reads a larger floor (a ticket
// taken for it before is refused: spurious, but only once per pruning).
// `prune_at` then becomes twice what is left, so pruning costs O(1) per
// state added, amortised, and the map holds at most about twice the tables
// some entry reads (which the byte limit bounds) plus kMinPruneTables.
//
// A flush bumps the epoch (which refuses every older ticket anyway) and
// drops all states. flush_all() bumps a store-wide count that is part of
// every database's epoch, so a ticket of a database with no state yet is
// refused too. DbStates themselves are kept: database ids come from the
// configuration, not from clients.
constexpr size_t kMinPruneTables = 1024;

// A value or key built by appending can hold up to twice its size; beyond
// this much slack it is copied into a tight buffer, so that what we charge
// (its size) is what it occupies.
constexpr size_t kMaxSlackDivisor = 8;  // slack above size / 8

struct Entry;
using Lru = std::list<Entry>;  // front: most recently used

struct TableState {
  uint64_t generation = 0;
  std::unordered_set<Entry*> dependents;
};
using Tables = std::unordered_map<std::string, TableState>;

struct Entry {
  std::string key;
  std::shared_ptr<const std::string> value;
  // The states of the tables it reads, no duplicates. Map nodes do not move,
  // and a state is dropped only once nothing depends on it.
  std::vector<TableState*> tables;
  Clock::time_point expires;
  size_t charged = 0;
  uint32_t db = 0;
  Lru::iterator self;
  Entry* db_prev = nullptr;  // the database's entries, for flush()
  Entry* db_next = nullptr;
};

// What an entry costs besides the bytes of its key, value and table ids,
// from the node sizes of the containers above on 64-bit libstdc++ and
// glibc (x86-64: 336 bytes; each table read adds 216 + its id). glibc's
// malloc adds an 8-byte header and rounds up to 16: we count 16 a block.
constexpr size_t kMallocOverhead = 16;
constexpr size_t kPointer = sizeof(void*);
// A hash table's share of its bucket array: one pointer a bucket, and up
// to two buckets an element (the array doubles when it grows, and never
// shrinks when elements go).
constexpr size_t kBucket = 2 * kPointer;
// The list node: two links and the Entry.
constexpr size_t kListNode = 2 * kPointer + sizeof(Entry) + kMallocOverhead;
// make_shared's one block: vtable pointer, two 32-bit counts, the string.
constexpr size_t kValueBlock = 2 * kPointer + sizeof(std::string) + kMallocOverhead;
// The index node (next pointer, string_view, Entry*, cached hash: libstdc++
// caches a hash it does not know to be fast) and its bucket.
constexpr size_t kIndexNode = kPointer + sizeof(std::string_view) + sizeof(Entry*) +
                              sizeof(size_t) + kMallocOverhead + kBucket;
// The heap blocks of the key, the value and the tables vector.
constexpr size_t kEntryOverhead = kListNode + kValueBlock + kIndexNode + 3 * kMallocOverhead;

// Per table read: the pointer in the entry's vector; its node in the
// table's dependents set (next pointer and Entry*, no cached hash for a
// pointer) with its bucket; and the table's state as if no other entry
// shared it (map node: next pointer, key, TableState, cached hash; its
// bucket; the key's heap block, which holds the id). A shared state is
// counted once per reader: we would rather overcount than let the store
// pass its limit. Left uncounted: heap blocks rounded up to 16 bytes, the
// slack trim() lets pass, and idle table states (bounded, see above).
constexpr size_t kDependentNode = 2 * kPointer + kMallocOverhead + kBucket;
constexpr size_t kStateNode = kPointer + sizeof(std::string) + sizeof(TableState) + sizeof(size_t) +
                              kMallocOverhead + kBucket + kMallocOverhead;
constexpr size_t kTableRefOverhead = sizeof(TableState*) + kDependentNode + kStateNode;

size_t charge(const std::string& key, const std::string& value,
              const std::vector<const std::string*>& tables) {
  size_t bytes = kEntryOverhead + key.size() + value.size();
  for (const std::string* t : tables)
    bytes += kTableRefOverhead + t->size();
  return bytes;
}

void trim(std::string& s) {
  if (s.capacity() - s.size() > s.size() / kMaxSlackDivisor) s.shrink_to_fit();
}

// The ticket's table ids, each once.
std::vector<const std::string*> distinct_tables(const Store::Ticket& ticket) {
  std::vector<const std::string*> out;
  out.reserve(ticket.generations.size());
  for (const auto& g : ticket.generations)
    out.push_back(&g.first);
  auto less = [](const std::string* a, const std::string* b) { return *a < *b; };
  auto equal = [](const std::string* a, const std::string* b) { return *a == *b; };
  std::sort(out.begin(), out.end(), less);
  out.erase(std::unique(out.begin(), out.end(), equal), out.end());
  return out;
}

struct DbState {
  uint64_t flushes = 0;
  uint64_t clock = 0;  // the last generation handed out
  uint64_t floor = 0;  // the generation of a table with no state
  size_t prune_at = kMinPruneTables;
  Tables tables;
  Entry* head = nullptr;
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

struct KeyHash {
  Store::Hash hash;
  size_t operator()(std::string_view key) const { return hash(key); }
};

}  // namespace

struct Store::Impl {
  Impl(size_t max, Hash hash) : key_hash{std::move(hash)}, max_bytes(max), index(0, key_hash) {}

  using Index = std::unordered_map<std::string_view, Entry*, KeyHash>;

  const KeyHash key_hash;  // never changes: read without the lock
  mutable std::mutex mu;
  size_t max_bytes;
  Lru lru;
  Index index;  // keys point into their entries
  std::unordered_map<uint32_t, DbState> dbs;
  uint64_t flush_alls = 0;
  StoreStats stats;

  uint64_t epoch(uint32_t db) const {
    auto it = dbs.find(db);
    return flush_alls + (it == dbs.end() ? 0 : it->second.flushes);
  }

  static uint64_t generation(const DbState* d, const std::string& table) {
    if (d == nullptr) return 0;
    auto it = d->tables.find(table);
    return it == d->tables.end() ? d->floor : it->second.generation;
  }

  bool fresh(const Ticket& ticket) const {
    if (ticket.epoch != epoch(ticket.db)) return false;
    auto it = dbs.find(ticket.db);
    const DbState* d = it == dbs.end() ? nullptr : &it->second;
    return std::all_of(ticket.generations.begin(), ticket.generations.end(),
                       [&](const auto& g) { return g.second == generation(d, g.first); });
  }

  void erase(Entry& e) {
    for (TableState* t : e.tables)
      t->dependents.erase(&e);
    DbState& d = dbs.find(e.db)->second;  // made by the insert of `e`
    if (e.db_prev != nullptr) {
      e.db_prev->db_next = e.db_next;
    } else {
      d.head = e.db_next;
    }
    if (e.db_next != nullptr) e.db_next->db_prev = e.db_prev;
    d.entries -= 1;
    d.bytes -= e.charged;
    stats.entries -= 1;
    stats.bytes -= e.charged;
    index.erase(std::string_view(e.key));
    lru.erase(e.self);
  }

  void evict_to(size_t limit) {
    while (stats.bytes > limit && !lru.empty()) {
      erase(lru.back());
      stats.evictions += 1;
    }
  }

  static void prune(DbState& d) {
    if (d.tables.size() < d.prune_at) return;
    for (auto it = d.tables.begin(); it != d.tables.end();) {
      if (it->second.dependents.empty()) {
        d.floor = std::max(d.floor, it->second.generation);
        it = d.tables.erase(it);
      } else {
        ++it;
      }
    }
    d.prune_at = std::max(kMinPruneTables, 2 * d.tables.size());
  }

  // After its entries are gone: what a fresh epoch needs no more.
  static void reset_tables(DbState& d) {
    d.tables = Tables();
    d.floor = d.clock;
    d.prune_at = kMinPruneTables;
  }

  void link(Entry& e, DbState& d, const std::vector<const std::string*>& names) {
    e.tables.reserve(names.size());
    for (const std::string* name : names) {
      auto [it, added] = d.tables.try_emplace(*name);
      if (added) it->second.generation = d.floor;  // what it read as without a state
      it->second.dependents.insert(&e);
      e.tables.push_back(&it->second);
    }
    e.db_next = d.head;
    if (d.head != nullptr) d.head->db_prev = &e;
    d.head = &e;
    d.entries += 1;
    d.bytes += e.charged;
    stats.entries += 1;
    stats.bytes += e.charged;
  }
};

Store::Store(size_t max_bytes, Hash hash)
    : impl_(std::make_unique<Impl>(max_bytes, hash ? std::move(hash) : Hash([](std::string_view k) {
                                     return std::hash<std::string_view>{}(k);
                                   }))) {}

Store::~Store() = default;

Store::Ticket Store::begin_fill(uint32_t db, const std::vector<std::string>& tables) {
  Ticket ticket{.db = db};
  ticket.generations.reserve(tables.size());
  std::lock_guard lock(impl_->mu);
  ticket.epoch = impl_->epoch(db);
  auto it = impl_->dbs.find(db);
  const DbState* d = it == impl_->dbs.end() ? nullptr : &it->second;
  for (const std::string& t : tables)
    ticket.generations.emplace_back(t, Impl::generation(d, t));
  return ticket;
}

bool Store::insert(std::string key, std::string value, const Ticket& ticket,
                   Clock::time_point expires) {
  // Everything that allocates or copies happens before the lock.
  trim(key);
  trim(value);
  std::vector<const std::string*> names = distinct_tables(ticket);
  const size_t charged = charge(key, value, names);
  Lru node;
  Entry& e = node.emplace_back();
  e.key = std::move(key);
  e.value = std::make_shared<const std::string>(std::move(value));
  e.expires = expires;
  e.charged = charged;
  e.db = ticket.db;

  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  if (!s.fresh(ticket)) {
    s.stats.refused_stale_fills += 1;
    return false;
  }
  if (charged > s.max_bytes) {
    s.stats.refused_too_large += 1;
    return false;
  }
  if (auto it = s.index.find(e.key); it != s.index.end()) s.erase(*it->second);
  s.evict_to(s.max_bytes - charged);
  s.lru.splice(s.lru.begin(), node);
  e.self = s.lru.begin();
  s.index.emplace(std::string_view(e.key), &e);
  DbState& d = s.dbs[ticket.db];
  s.link(e, d, names);
  s.stats.stores += 1;
  Impl::prune(d);
  return true;
}

std::shared_ptr<const std::string> Store::find(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  auto it = s.index.find(key);
  if (it == s.index.end()) {
    s.stats.misses += 1;
    return nullptr;
  }
  Entry& e = *it->second;
  if (e.expires <= now) {
    s.erase(e);
    s.stats.expirations += 1;
    s.stats.misses += 1;
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, e.self);
  s.stats.hits += 1;
  return e.value;
}

size_t Store::invalidate(uint32_t db, const std::vector<std::string>& tables) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  DbState& d = s.dbs[db];
  size_t erased = 0;
  for (const std::string& t : tables) {
    TableState& state = d.tables[t];
    state.generation = ++d.clock;
    std::unordered_set<Entry*> dependents;
    dependents.swap(state.dependents);
    for (Entry* e : dependents)
      s.erase(*e);
    erased += dependents.size();
  }
  s.stats.invalidated_entries += erased;
  Impl::prune(d);
  return erased;
}

size_t Store::flush(uint32_t db) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  DbState& d = s.dbs[db];
  d.flushes += 1;
  size_t erased = 0;
  while (d.head != nullptr) {
    s.erase(*d.head);
    erased += 1;
  }
  Impl::reset_tables(d);
  s.stats.invalidated_entries += erased;
  return erased;
}

size_t Store::flush_all() {
  // Declared before the lock, so freed after it is released: a full cache
  // is many megabytes, and other workers need not wait for free().
  Lru doomed;
  Impl::Index doomed_index(0, impl_->key_hash);
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  s.flush_alls += 1;
  for (auto& [id, d] : s.dbs) {
    d.head = nullptr;
    d.entries = 0;
    d.bytes = 0;
    Impl::reset_tables(d);
  }
  doomed.swap(s.lru);
  doomed_index.swap(s.index);
  const size_t erased = s.stats.entries;
  s.stats.invalidated_entries += erased;
  s.stats.entries = 0;
  s.stats.bytes = 0;
  return erased;
}

void Store::set_max_bytes(size_t max_bytes) {
  std::lock_guard lock(impl_->mu);
  impl_->max_bytes = max_bytes;
  impl_->evict_to(max_bytes);
}

size_t Store::max_bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->max_bytes;
}

StoreStats Store::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

StoreStats Store::db_stats(uint32_t db) const {
  std::lock_guard lock(impl_->mu);
  StoreStats out;
  auto it = impl_->dbs.find(db);
  if (it == impl_->dbs.end()) return out;
  out.entries = it->second.entries;
  out.bytes = it->second.bytes;
  return out;
}

}  // namespace usher::cache
