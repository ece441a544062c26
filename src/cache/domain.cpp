#include "cache/domain.h"

#include <spdlog/spdlog.h>

namespace usher::cache {

namespace {

void raise_to(std::atomic<uint64_t>& value, uint64_t to) {
  uint64_t now = value.load();
  while (now < to && !value.compare_exchange_weak(now, to)) {
  }
}

}  // namespace

Domain::Domain(uint32_t id, std::string database, Invalidation mode, Store& store)
    : id_(id), database_(std::move(database)), mode_(mode), store_(store) {
  // proxy: nothing to wait for but the catalog.
  live_ = mode_ == Invalidation::kProxy;
}

std::shared_ptr<const Catalog> Domain::catalog() const {
  std::lock_guard lock(mu_);
  return catalog_;
}

bool Domain::filling() const {
  if (!live_.load()) return false;
  std::lock_guard lock(mu_);
  return catalog_ != nullptr;
}

bool Domain::serving() const {
  // Order matters: a commit that ended (barrier raised, then in-flight
  // lowered) is seen by the barrier check.
  if (commits_in_flight_.load() > 0) return false;
  if (applied_.load() < barrier_.load()) return false;
  return filling();
}

void Domain::commit_begin() {
  commits_in_flight_.fetch_add(1);
}

void Domain::commit_end(std::optional<uint64_t> lsn) {
  if (lsn) {
    raise_to(barrier_, *lsn);
  } else {
    commit_unknown();
  }
  commits_in_flight_.fetch_sub(1);
}

void Domain::commit_unknown() {
  counts_.unknown_commits.fetch_add(1, std::memory_order_relaxed);
  store_.flush(id_);
}

void Domain::tables_written(const std::optional<std::vector<std::string>>& tables) {
  counts_.proxy_tables.fetch_add(1, std::memory_order_relaxed);
  if (tables) {
    store_.invalidate(id_, *tables);
  } else {
    store_.flush(id_);
  }
}

void Domain::reload_catalog() {
  std::lock_guard lock(mu_);
  catalog_.reset();
  if (reload_catalog_) reload_catalog_();
}

void Domain::set_catalog_reloader(std::function<void()> reload) {
  std::lock_guard lock(mu_);
  reload_catalog_ = std::move(reload);
}

size_t Domain::flush() {
  counts_.console.fetch_add(1, std::memory_order_relaxed);
  return store_.flush(id_);
}

size_t Domain::flush_table(const std::string& table) {
  counts_.console.fetch_add(1, std::memory_order_relaxed);
  return store_.invalidate(id_, {table});
}

void Domain::stream_started(uint64_t lsn) {
  // Whatever was cached may have missed changes while no stream ran.
  counts_.stream_gaps.fetch_add(1, std::memory_order_relaxed);
  // Nor is a catalog from before the gap decided with: DDL may have
  // happened meanwhile. The stream loads one next.
  forget_all(lsn);
  live_ = true;
  spdlog::info("query cache: invalidation stream for database {} started", database_);
}

void Domain::stream_stopped(std::string why) {
  // Hits stop at once: changes are no longer seen.
  live_ = false;
  store_.flush(id_);
  spdlog::warn("query cache: database {} not cached: {}", database_, why);
  std::lock_guard lock(mu_);
  why_down_ = std::move(why);
}

void Domain::tables_changed(const std::vector<std::string>& tables, uint64_t end_lsn) {
  counts_.stream_tables.fetch_add(1, std::memory_order_relaxed);
  store_.invalidate(id_, tables);
  raise_to(applied_, end_lsn);
  std::lock_guard lock(mu_);
  if (defer_) defer_([this, tables] { store_.invalidate(id_, tables); });
}

void Domain::set_deferrer(std::function<void(std::function<void()>)> defer) {
  std::lock_guard lock(mu_);
  defer_ = std::move(defer);
}

void Domain::catalog_changed(uint64_t end_lsn) {
  counts_.stream_catalog.fetch_add(1, std::memory_order_relaxed);
  // Nothing is decided with the old catalog from now on.
  forget_all(end_lsn);
}

void Domain::forget_all(uint64_t lsn) {
  {
    std::lock_guard lock(mu_);
    catalog_.reset();
  }
  store_.flush(id_);
  raise_to(applied_, lsn);
}

void Domain::catalog_loaded(std::shared_ptr<const Catalog> catalog) {
  // Fills decided with an older catalog carry an older epoch: refused.
  store_.flush(id_);
  std::lock_guard lock(mu_);
  catalog_ = std::move(catalog);
}

void Domain::caught_up(uint64_t lsn) {
  raise_to(applied_, lsn);
}

Domain::State Domain::state() const {
  State s;
  s.applied_lsn = applied_.load();
  s.barrier_lsn = barrier_.load();
  std::lock_guard lock(mu_);
  s.catalog = catalog_ != nullptr;
  if (!live_.load()) {
    s.state = why_down_.empty() ? "starting" : "down: " + why_down_;
  } else if (!catalog_) {
    s.state = "catalog loading";
  } else {
    s.state = mode_ == Invalidation::kProxy ? "proxy" : "live";
  }
  return s;
}

}  // namespace usher::cache
