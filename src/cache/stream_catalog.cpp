// The stream's catalog connection: the catalog loaded in one snapshot with
// its fingerprint, then polled, and loaded again after every change seen
// (by the replication stream, by the poll, or through reload_catalog()),
// one load at a time.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cache/server_query.h"
#include "cache/stream_impl.h"
#include "protocol/sqlstate.h"

namespace usher::cache {
namespace {

using asio::as_tuple;
using asio::use_awaitable;

// A catalog's rows, all queries together, may take this much memory...
constexpr size_t kMaxCatalogBytes = size_t{256} << 20;
// ...and one of its rows this much (a long view definition).
constexpr uint32_t kMaxCatalogRow = 64 << 20;
// The fingerprint is a few short rows.
constexpr size_t kMaxFingerprintBytes = 64 << 10;
// A catalog load that takes longer is given up (and tried again)...
constexpr std::chrono::seconds kCatalogTimeout{60};
// ...and so is a poll, though it takes milliseconds: a server that does
// not answer it is taken for lost.
constexpr std::chrono::seconds kPollTimeout{30};
// A poll more often than this would keep a server core busy.
constexpr std::chrono::milliseconds kMinCatalogPoll{100};
// A commit reaches the replication stream once its WAL is flushed, a
// moment before it is visible to new snapshots (PostgreSQL ends the
// transaction in the process array afterwards), and on a busy server a
// catalog reload can be quicker than that moment. So, after a catalog
// change the stream reported, the fingerprint is checked until it moves,
// with waits doubling from the first; it may never move (ANALYZE, or DDL
// on what the cache does not watch), so at most this many times.
constexpr std::chrono::milliseconds kFirstVisibilityWait{2};
constexpr int kVisibilityChecks = 7;  // about 130 ms in all

// The catalog is read in one snapshot, so that its queries and the
// fingerprint agree.
constexpr std::string_view kCatalogSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
constexpr std::string_view kCatalogSnapshotEnd = "COMMIT";
// A parallel plan would start worker processes for every poll: not worth
// it for a few thousand rows.
constexpr std::string_view kSerialPlans = "SET max_parallel_workers_per_gather = 0";

Error timed_out(std::string_view what, std::chrono::seconds limit) {
  return make_error(
      protocol::sqlstate::query_canceled,
      std::string(what) + " took longer than " + std::to_string(limit.count()) + " seconds");
}

Error ended() {
  return make_error("", "ended");
}

}  // namespace

void Stream::Impl::schedule_reload(Attempt& a, SeenBy seen_by) {
  ++a.changes;
  // The poll saw the change in its own snapshot, and a caller's DDL was
  // acknowledged, so visible: only the stream's may not be visible yet.
  if (seen_by == SeenBy::kStream) a.streamed_change = true;
  // Wakes the keeper if it waits for the next poll; if it is loading, it
  // sees the count move when the load is done, and loads again.
  a.catalog_timer.cancel();
}

asio::awaitable<Status> Stream::Impl::open_catalog_connection(std::shared_ptr<Attempt> a) {
  if (a->catalog && a->catalog->socket().is_open()) co_return ok_status();
  auto conn = co_await connect(settings.target);
  if (gone(*a)) co_return ok_status();
  if (!conn) co_return stream_failed("could not connect for the catalog", conn.error());
  a->catalog = std::move(*conn);
  size_t budget = kMaxFingerprintBytes;
  auto set = co_await query_rows(*a->catalog, kSerialPlans, budget, kMaxServerMessage);
  if (gone(*a)) co_return ok_status();
  if (!set) co_return stream_failed("could not set up the catalog connection", set.error());
  co_return ok_status();
}

void Stream::Impl::close_catalog_connection(Attempt& a) {
  if (!a.catalog) return;
  say_goodbye(*a.catalog);
  a.catalog->close();
  a.catalog.reset();
}

asio::awaitable<void> Stream::Impl::keep_catalog_aside(std::shared_ptr<Attempt> a) {
  Status st = co_await keep_catalog(a);
  if (gone(*a) || st) co_return;
  // Without a catalog the cache serves nothing: start over, which loads it
  // again, and say why.
  a->failure = st.error().message;
  end(*a);
}

asio::awaitable<Status> Stream::Impl::keep_catalog(std::shared_ptr<Attempt> a) {
  const bool polling = settings.catalog_poll.count() > 0;
  const auto interval = std::max(settings.catalog_poll, kMinCatalogPoll);
  while (!gone(*a)) {
    if (a->loaded != a->changes) {
      if (a->streamed_change) {
        Status visible = co_await await_visible(a);
        if (gone(*a)) co_return ok_status();
        if (!visible) co_return stream_failed("could not poll the catalog", visible.error());
      }
      const uint64_t changes = a->changes;
      auto loaded = co_await load_catalog(a);
      if (gone(*a)) co_return ok_status();
      if (!loaded) co_return stream_failed("could not load the catalog", loaded.error());
      // With no poll, nothing is asked of the connection until the next
      // change: it is not held meanwhile.
      if (!polling) close_catalog_connection(*a);
      // Loaded before the last change was seen: not new enough to serve by.
      if (changes != a->changes) continue;
      a->loaded = changes;
      a->fingerprint = std::move(loaded->fingerprint);
      sink.catalog_loaded(std::move(loaded->catalog));
      continue;
    }
    // Until the next poll, or a change seen (the timer is cancelled).
    if (polling) {
      a->catalog_timer.expires_after(interval);
    } else {
      a->catalog_timer.expires_at(asio::steady_timer::time_point::max());
    }
    auto [ec] = co_await a->catalog_timer.async_wait(as_tuple(use_awaitable));
    if (gone(*a)) co_return ok_status();
    if (ec || !polling || a->loaded != a->changes) continue;
    auto now = co_await poll_catalog(a);
    if (gone(*a)) co_return ok_status();
    if (!now) co_return stream_failed("could not poll the catalog", now.error());
    // A change seen meanwhile is reloaded anyway.
    if (a->loaded != a->changes || !a->fingerprint || *now == *a->fingerprint) continue;
    std::string which;
    for (std::string_view name : changed_catalogs(*a->fingerprint, *now)) {
      if (!which.empty()) which += ", ";
      which += name;
    }
    spdlog::info("query cache: catalog of database {} changed ({}), seen by the poll",
                 settings.target.dbname, which);
    sink.catalog_changed(caught_up);
    schedule_reload(*a, SeenBy::kPoll);
  }
  co_return ok_status();
}

asio::awaitable<Status> Stream::Impl::await_visible(std::shared_ptr<Attempt> a) {
  a->streamed_change = false;
  // Nothing to compare with before the first catalog.
  if (!a->fingerprint) co_return ok_status();
  auto wait = kFirstVisibilityWait;
  for (int check = 0; check < kVisibilityChecks; ++check) {
    auto now = co_await poll_catalog(a);
    if (gone(*a)) co_return ok_status();
    if (!now) co_return now.take_error();
    if (*now != *a->fingerprint) co_return ok_status();
    // Another change meanwhile just joins this reload: the wait goes on.
    a->catalog_timer.expires_after(wait);
    co_await a->catalog_timer.async_wait(as_tuple(use_awaitable));
    if (gone(*a)) co_return ok_status();
    wait *= 2;
  }
  co_return ok_status();
}

asio::awaitable<Result<CatalogFingerprint>> Stream::Impl::poll_catalog(std::shared_ptr<Attempt> a) {
  Status opened = co_await open_catalog_connection(a);
  if (gone(*a)) co_return ended();
  if (!opened) co_return opened.take_error();
  pool::ServerConnection& c = *a->catalog;
  net::SocketDeadline deadline(c.socket(), kPollTimeout);
  size_t budget = kMaxFingerprintBytes;
  auto rows = co_await query_rows(c, fingerprint_query(), budget, kMaxServerMessage);
  if (gone(*a)) co_return ended();
  if (!rows) co_return deadline.expired() ? timed_out("the poll", kPollTimeout) : rows.take_error();
  co_return parse_fingerprint(*rows);
}

asio::awaitable<Result<LoadedCatalog>> Stream::Impl::load_catalog(std::shared_ptr<Attempt> a) {
  Status opened = co_await open_catalog_connection(a);
  if (gone(*a)) co_return ended();
  if (!opened) co_return opened.take_error();
  pool::ServerConnection& c = *a->catalog;
  net::SocketDeadline deadline(c.socket(), kCatalogTimeout);
  auto failed = [&](Error e) -> Error {
    return deadline.expired() ? timed_out("the catalog queries", kCatalogTimeout) : std::move(e);
  };
  size_t budget = kMaxCatalogBytes;
  auto snapshot = co_await query_rows(c, kCatalogSnapshot, budget, kMaxServerMessage);
  if (gone(*a)) co_return ended();
  if (!snapshot) co_return failed(snapshot.take_error());
  // The fingerprint in the catalog's own snapshot: any change committed
  // after it moves the next poll's.
  auto fp_rows = co_await query_rows(c, fingerprint_query(), budget, kMaxServerMessage);
  if (gone(*a)) co_return ended();
  if (!fp_rows) co_return failed(fp_rows.take_error());
  auto fingerprint = parse_fingerprint(*fp_rows);
  if (!fingerprint) co_return fingerprint.take_error();
  std::vector<Rows> results;
  for (std::string_view query : Catalog::queries()) {
    auto rows = co_await query_rows(c, query, budget, kMaxCatalogRow);
    if (gone(*a)) co_return ended();
    if (!rows) co_return failed(rows.take_error());
    results.push_back(std::move(*rows));
  }
  auto done = co_await query_rows(c, kCatalogSnapshotEnd, budget, kMaxServerMessage);
  if (gone(*a)) co_return ended();
  if (!done) co_return failed(done.take_error());
  // A big catalog takes a while to build: not on the event loop.
  auto build = [results = std::move(results)] { return Catalog::build(results); };
  Result<Catalog> built = co_await login.offload.run(std::move(build));
  if (gone(*a)) co_return ended();
  if (!built) co_return built.take_error();
  co_return LoadedCatalog{std::make_shared<const Catalog>(std::move(*built)),
                          std::move(*fingerprint)};
}

}  // namespace usher::cache
