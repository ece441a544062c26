// Out-of-band invalidation for one database: a logical replication
// connection (replication=database, the built-in test_decoding plugin, a
// TEMPORARY slot, so that nothing retains WAL once Usher is gone) whose
// decoded commits tell the cache which tables changed, whoever changed
// them; a decoded transaction that changed no table is a catalog change
// (DDL, GRANT, CREATE OR REPLACE VIEW...) and flushes the database. The
// catalog (cache/catalog.h) is loaded on a plain connection at start and
// again after every catalog change. That connection stays open, and polls
// a fingerprint of the catalogs (cache/stream_fingerprint.h): test_decoding
// shows no DDL, so a transaction that mixes DDL with row changes is
// streamed as row changes alone, and only the poll sees its catalog change.
//
// Everything reaches the cache through StreamSink, in stream order, from
// the io_context the stream runs on.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/catalog.h"
#include "net/offload_pool.h"
#include "pool/server_connection.h"

namespace usher::cache {

namespace asio = boost::asio;

class StreamSink {
 public:
  // The stream is up from `lsn` on: what was cached before may have missed
  // changes (a gap), so everything of the database goes.
  virtual void stream_started(uint64_t lsn) = 0;
  // The stream is down (connection lost, slot refused...): no hits until it
  // starts again. `why` is for the log and SHOW CACHE.
  virtual void stream_stopped(std::string why) = 0;
  // A commit that changed these tables (table_id()s), ending at `end_lsn`.
  virtual void tables_changed(const std::vector<std::string>& tables, uint64_t end_lsn) = 0;
  // A commit that changed no table the stream shows, or a change the
  // catalog poll saw (or Stream::reload_catalog()): the catalog may have
  // changed. Flush, and serve nothing until catalog_loaded(). `end_lsn`:
  // the commit's end, or for the poll the latest caught_up() (0 before any
  // or without replication).
  virtual void catalog_changed(uint64_t end_lsn) = 0;
  virtual void catalog_loaded(std::shared_ptr<const Catalog> catalog) = 0;
  // Every commit ending at or before `lsn` has been reported.
  virtual void caught_up(uint64_t lsn) = 0;

 protected:
  ~StreamSink() = default;
};

struct StreamSettings {
  // Who and where: the database's server, logged in as
  // query_cache_replication_user (needs REPLICATION) or the pool's user.
  pool::ServerTarget target;
  // false (proxy invalidation): no replication, only the catalog
  // connection: stream_started(0), the catalog loaded and polled, and
  // reloaded on every change seen; its failure is stream_stopped(), and a
  // new try after the backoff, as with replication.
  bool replicate = true;
  // How often the catalog connection checks the catalogs' fingerprint
  // (one query, about 10-30 ms of server time at 13,000 relations); 0: no
  // poll, and no catalog connection held between loads.
  std::chrono::milliseconds catalog_poll{1000};
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds retry_min{1000};  // backoff after a failure, doubling
  std::chrono::milliseconds retry_max{30000};
  std::chrono::milliseconds status_interval{1000};  // standby status updates at least this often
};

class Stream {
 public:
  Stream(asio::io_context& io, net::OffloadPool& offload, StreamSettings settings,
         StreamSink& sink);
  ~Stream();
  // Starts connecting (and reconnecting, with backoff) until stop().
  void start();
  // Closes the connections; no sink call after it returns... once the
  // io_context has run the pending handlers (call it on the stream's
  // io_context thread, or before that io_context runs).
  void stop();
  // From any thread: the catalog changed (a DDL statement committed through
  // Usher), so catalog_changed() and a reload now, coalesced with any
  // other. Nothing while the stream is down (its next start loads anyway).
  void reload_catalog();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace usher::cache
