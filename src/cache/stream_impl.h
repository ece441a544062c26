// Inside the invalidation stream (cache/stream.h), shared by its two
// halves: stream.cpp (the attempts, the replication connection) and
// stream_catalog.cpp (the catalog connection: loads, polls, reloads).
// Everything here runs on the stream's io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/decoding.h"
#include "cache/stream.h"
#include "cache/stream_fingerprint.h"

namespace usher::cache {

using StreamClock = std::chrono::steady_clock;

// One try at streaming: its connections, and what its coroutines share.
struct Attempt {
  explicit Attempt(asio::io_context& io) : status_timer(io), catalog_timer(io) {}

  pool::ServerPtr repl;     // the replication connection (none with replicate off)
  pool::ServerPtr catalog;  // the catalog connection, while open
  bool over = false;        // ended: its coroutines leave at their next step
  std::string failure;      // why, when a coroutine other than the main one ended it
  // Standby status updates: a single writer, woken through the timer
  // (wake_status()), except while it holds back a burst's update.
  asio::steady_timer status_timer;
  bool status_due = false;
  bool status_held = false;
  StreamClock::time_point status_sent{};
  StreamClock::time_point last_heard = StreamClock::now();  // the last bytes from the server
  uint64_t processed = 0;  // what they report as written, flushed and applied
  // The catalog keeper (keep_catalog()): it waits on the timer for the next
  // poll, and is woken early through it when a change is seen. It loads
  // while `changes` (catalog changes seen, counting the need for a first
  // load) is ahead of `loaded` (the count the sink's catalog includes).
  asio::steady_timer catalog_timer;
  uint64_t changes = 1;
  uint64_t loaded = 0;
  // Taken in the snapshot of the catalog the sink has; each poll compares
  // with it.
  std::optional<CatalogFingerprint> fingerprint;
  // The replication stream reported a catalog change: its commit may not
  // be visible yet (see await_visible()).
  bool streamed_change = false;
};

// A catalog and the fingerprint taken in its snapshot.
struct LoadedCatalog {
  std::shared_ptr<const Catalog> catalog;
  CatalogFingerprint fingerprint;
};

struct Stream::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, net::OffloadPool& offload, StreamSettings settings, StreamSink& sink)
      : io(io), login{offload}, settings(std::move(settings)), sink(sink), backoff(io) {}

  // stream.cpp
  asio::awaitable<void> run();
  asio::awaitable<Status> stream(std::shared_ptr<Attempt> a);
  asio::awaitable<Status> replicate(std::shared_ptr<Attempt> a);
  asio::awaitable<Result<pool::ServerPtr>> connect(const pool::ServerTarget& target);
  asio::awaitable<Status> follow(std::shared_ptr<Attempt> a);
  Status handle_copy_data(const std::shared_ptr<Attempt>& a, std::span<const uint8_t> payload);
  void advance(Attempt& a, uint64_t lsn);
  // A status update is due: the writer sends it now, or at the end of the
  // burst it is holding back.
  void wake_status(Attempt& a);
  asio::awaitable<void> write_status(std::shared_ptr<Attempt> a);
  void spawn(asio::awaitable<void> coroutine, std::string_view what);
  void end(Attempt& a);
  bool gone(const Attempt& a) const { return stopped || a.over; }

  // stream_catalog.cpp
  // Loads the catalog, then polls it, reloading after every change seen,
  // until the attempt ends or the catalog connection fails (the error).
  asio::awaitable<Status> keep_catalog(std::shared_ptr<Attempt> a);
  // keep_catalog() as a coroutine of its own: a failure ends the attempt.
  asio::awaitable<void> keep_catalog_aside(std::shared_ptr<Attempt> a);
  asio::awaitable<Result<LoadedCatalog>> load_catalog(std::shared_ptr<Attempt> a);
  asio::awaitable<Result<CatalogFingerprint>> poll_catalog(std::shared_ptr<Attempt> a);
  // Until the fingerprint moves from the sink's catalog's, or a short
  // while: a commit is streamed before it is visible to new snapshots.
  asio::awaitable<Status> await_visible(std::shared_ptr<Attempt> a);
  asio::awaitable<Status> open_catalog_connection(std::shared_ptr<Attempt> a);
  void close_catalog_connection(Attempt& a);
  // A catalog change seen (by the stream, the poll, or reload_catalog()):
  // a reload, coalesced with any other still to come.
  enum class SeenBy : uint8_t { kStream, kPoll, kCaller };
  void schedule_reload(Attempt& a, SeenBy seen_by);

  asio::io_context& io;
  pool::LoginContext login;
  StreamSettings settings;
  StreamSink& sink;
  asio::steady_timer backoff;
  bool stopped = false;
  size_t next_host = 0;
  std::shared_ptr<Attempt> current;
  // Of the current attempt's stream.
  TransactionDecoder decoder;
  uint64_t caught_up = 0;
};

Error stream_failed(std::string_view doing, const Error& e);

}  // namespace usher::cache
