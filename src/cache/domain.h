// One database's side of the result cache: whether hits may be served now,
// the catalog to decide with, and how writes reach the store. The
// invalidation stream (cache/stream.h) feeds it as a StreamSink; sessions
// on any worker ask it and tell it of the writes they see commit.
//
// The freshness rule it keeps (docs/cache.md): once the commit of a write
// has been acknowledged to any client, no hit is served from before it.
// With `replication`, a session that sends a committing write also sends
// `SELECT pg_current_wal_insert_lsn()` right behind it; from then until
// that answer is in (commit_begin() .. commit_end()) no hit is served, and
// afterwards only once the stream has reported every commit up to that
// position (caught_up() >= barrier), by which time it has invalidated
// whatever the write changed, triggers, cascades and rules included. With
// `proxy`, the session invalidates what the parse tree says the write
// touched (or flushes the database) before the client hears the commit.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/catalog.h"
#include "cache/query_stats.h"
#include "cache/store.h"
#include "cache/stream.h"

namespace usher::cache {

enum class Invalidation : uint8_t { kReplication, kProxy };

// A commit is decoded (its WAL flushed) a moment before snapshots can see
// it: a miss that starts in between reads the old rows, and its fill
// passes the generation check. So every invalidation from the stream is
// done again this much later, which erases such a fill.
inline constexpr std::chrono::milliseconds kVisibilityGrace{50};

// Invalidations by source, for SHOW CACHE.
struct InvalidationCounts {
  std::atomic<uint64_t> stream_tables{0};    // commits the stream reported
  std::atomic<uint64_t> stream_catalog{0};   // catalog changes (DDL, GRANT...)
  std::atomic<uint64_t> stream_gaps{0};      // the stream (re)started
  std::atomic<uint64_t> proxy_tables{0};     // writes seen by Usher (proxy)
  std::atomic<uint64_t> unknown_commits{0};  // a commit with no known position: flushed
  std::atomic<uint64_t> console{0};          // CACHE FLUSH
};

// What its clients asked of it, for SHOW CACHE.
struct LookupCounts {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};       // cacheable, not there (or not servable now)
  std::atomic<uint64_t> uncacheable{0};  // refused (sql::refusal, catalog refusals)
  std::atomic<uint64_t> fills{0};        // results offered to the store
};

class Domain final : public StreamSink {
 public:
  Domain(uint32_t id, std::string database, Invalidation mode, Store& store);

  uint32_t id() const { return id_; }
  const std::string& database() const { return database_; }
  Invalidation mode() const { return mode_; }

  // The catalog to decide with; null while none is loaded (or after a
  // catalog change, until the new one is).
  std::shared_ptr<const Catalog> catalog() const;
  // Whether a hit may be served now (see the header comment).
  bool serving() const;
  // Whether a result may be stored now (its ticket guards the rest).
  bool filling() const;

  // replication: a committing write was sent, with the position query
  // behind it; commit_end() with its answer (nullopt: none came, and the
  // database is flushed instead).
  void commit_begin();
  void commit_end(std::optional<uint64_t> lsn);
  // A commit Usher saw but whose position it cannot know: flush.
  void commit_unknown();
  // proxy: a committed write to these tables (nullopt: unknown; flush).
  void tables_written(const std::optional<std::vector<std::string>>& tables);
  // A DDL statement committed through Usher: nothing is decided with the
  // catalog from now on, and the stream reloads it (through the reloader;
  // without a stream, its next start does). From any thread.
  void reload_catalog();
  // By whoever runs the stream (runtime/cache_service.cpp): what
  // reload_catalog() calls, under the domain's lock (so it must not call
  // back into the domain); empty before the stream goes.
  void set_catalog_reloader(std::function<void()> reload);
  // By whoever runs the stream: runs a function a little later
  // (kVisibilityGrace), on the stream's thread. See tables_changed().
  void set_deferrer(std::function<void(std::function<void()>)> defer);
  // CACHE FLUSH.
  size_t flush();
  size_t flush_table(const std::string& table);

  // StreamSink, from the stream's thread.
  void stream_started(uint64_t lsn) override;
  void stream_stopped(std::string why) override;
  void tables_changed(const std::vector<std::string>& tables, uint64_t end_lsn) override;
  void catalog_changed(uint64_t end_lsn) override;
  void catalog_loaded(std::shared_ptr<const Catalog> catalog) override;
  void caught_up(uint64_t lsn) override;

  // SHOW CACHE.
  struct State {
    std::string state;  // "live", "starting", "down: <why>", "catalog loading", "proxy"
    uint64_t applied_lsn = 0;
    uint64_t barrier_lsn = 0;
    bool catalog = false;
  };
  State state() const;
  const InvalidationCounts& counts() const { return counts_; }
  LookupCounts& lookups() { return lookups_; }
  // SHOW CACHE_QUERIES.
  QueryStats& queries() { return queries_; }
  const QueryStats& queries() const { return queries_; }
  const LookupCounts& lookups() const { return lookups_; }

 private:
  // Drops the catalog and every entry, then takes the stream as applied up
  // to `lsn`: what follows is decided afresh, with the next catalog loaded.
  void forget_all(uint64_t lsn);

  const uint32_t id_;
  const std::string database_;
  const Invalidation mode_;
  Store& store_;

  std::atomic<bool> live_{false};          // the stream runs (replication) / always (proxy)
  std::atomic<int> commits_in_flight_{0};  // commit_begin() without commit_end()
  std::atomic<uint64_t> applied_{0};       // caught_up()
  std::atomic<uint64_t> barrier_{0};       // the latest commit position through Usher
  mutable std::mutex mu_;                  // guards the members below
  std::shared_ptr<const Catalog> catalog_;
  std::string why_down_;
  std::function<void()> reload_catalog_;
  std::function<void(std::function<void()>)> defer_;
  InvalidationCounts counts_;
  LookupCounts lookups_;
  QueryStats queries_;
};

}  // namespace usher::cache
