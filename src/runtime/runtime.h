// The process: the current configuration, the workers, listeners, pools, the
// cancel registry, signals and the janitor. The main thread runs a control
// event loop (accepting, signals, periodic maintenance); each worker thread
// runs its own event loop with the client sessions it was handed.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "admin/control.h"
#include "auth/login_throttle.h"
#include "common/result.h"
#include "config/config.h"
#include "http/server.h"
#include "net/offload_pool.h"
#include "pool/pool_manager.h"
#include "runtime/accept_backoff.h"
#include "runtime/cache_service.h"
#include "session/cancel_registry.h"
#include "session/context.h"
#include "session/peer_cancels.h"
#include "session/worker.h"

namespace usher::runtime {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

using admin::ShutdownMode;

// Connections accepted beyond max_client_conn, kept for the admin console
// (which is exempt from max_client_conn once it has said who it is, as in
// PgBouncer). Past max_client_conn + this, an accepted socket gets 53300 at
// once and is closed, without a session: a flood of connections that never
// log in cannot use up memory and file descriptors without bound.
inline constexpr int kAdminConnectionReserve = 10;

// Implements what sessions and the console may ask of the process
// (session/context.h, admin/control.h); nothing below includes this file.
class Runtime final : public session::SessionContext, public admin::Control {
 public:
  explicit Runtime(config::LoadResult loaded);
  ~Runtime();

  // Binds the listeners; errors name the address. Then run() serves until
  // shutdown completes.
  Status listen();
  void run();

  std::shared_ptr<const config::Config> config() const override;
  Status reload() override;

  int worker_count() const override { return static_cast<int>(workers_.size()); }
  session::Worker& worker(int i) override { return *workers_[i]; }
  pool::PoolManager& pools() override { return pools_; }
  std::shared_ptr<const net::TlsContext> client_tls() const override;
  net::OffloadPool& offload() override { return offload_; }
  auth::LoginThrottle& login_throttle() override { return login_throttle_; }
  session::CancelRegistry& cancels() override { return cancels_; }
  session::PeerCancels& peer_cancels() override { return peer_cancels_; }
  std::atomic<int>& client_count() override { return client_count_; }
  asio::awaitable<Status> serve_console(session::ClientConnection& client) override;
  std::optional<cache::Access> cache_for(const config::Config& config,
                                         const pool::Pool& pool) override {
    return cache_.access(config, pool);
  }

  cache::Cache* cache() override { return cache_.cache(); }
  void shutdown(ShutdownMode mode) override;
  ShutdownMode shutdown_mode() const override { return shutdown_.load(); }

  void pause(const std::string& db) override;
  Status resume(const std::string& db) override;
  bool paused() const override { return paused_; }
  bool paused(const std::string& db) const override;
  void set_disabled(const std::string& db, bool disabled) override;
  bool disabled(const std::string& db) const override;
  Status set(std::string_view key, std::string_view value) override;

 private:
  void start_accept(int listener_index);
  // After a failed accept: waits (AcceptBackoff) before accepting again.
  void retry_accept(int listener_index, const boost::system::error_code& error);
  void janitor_tick();
  void on_signal(int signal);

  // Both sides' TLS contexts from `c`. Each side that loads replaces its
  // context (in the pools too); one that fails keeps the old, and its
  // reason (setting, file, OpenSSL's words) is in the error.
  Status load_tls(const config::Config& c);

  mutable std::mutex config_mu_;
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const net::TlsContext> client_tls_;  // under config_mu_
  std::atomic<int> client_count_{0};
  std::vector<std::unique_ptr<session::Worker>> workers_;
  asio::io_context control_;
  // The HTTP endpoint, on control_ (null unless http_listen_port is set).
  std::unique_ptr<http::Server> http_;
  std::vector<std::unique_ptr<asio::basic_socket_acceptor<asio::generic::stream_protocol>>>
      acceptors_;
  // Per listener, beside acceptors_: the backoff after failed accepts and
  // its timer (control thread only).
  std::vector<AcceptBackoff> accept_backoff_;
  std::vector<std::unique_ptr<asio::steady_timer>> accept_retry_;
  asio::signal_set signals_;
  asio::steady_timer janitor_;
  net::OffloadPool offload_;  // before pools_, which use it
  pool::PoolManager pools_;
  CacheService cache_;               // after pools_: its streams use the offload pool
  session::CancelRegistry cancels_;  // peer_id: restart only
  session::PeerCancels peer_cancels_;
  auth::LoginThrottle login_throttle_;
  std::atomic<ShutdownMode> shutdown_{ShutdownMode::kNone};
  std::atomic<bool> paused_{false};
  mutable std::mutex state_mu_;
  std::set<std::string> paused_dbs_;
  std::set<std::string> disabled_dbs_;
  std::string unix_socket_path_;
  unsigned ticks_ = 0;
  Clock::time_point last_stats_roll_ = Clock::now();
  pool::StatsTotals stats_logged_;  // all pools' totals at the last roll, for log_stats
  bool exiting_ = false;
};

}  // namespace usher::runtime
