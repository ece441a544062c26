// A pool of server connections for one (database, user) pair.
//
// Limits and the wait queue are global across workers and guarded by one
// short mutex; idle connections are kept per worker so that a client usually
// gets a connection whose socket is already registered with its own event
// loop. A released connection goes to the oldest waiter first, on whichever
// worker it is: strict FIFO hand-off is what keeps tail latency close to the
// median when clients far outnumber servers.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "pool/pool_stats.h"
#include "pool/server_connection.h"
#include "pool/wait_queue.h"
#include "prepared/statement.h"

namespace usher::pool {

// Settings a pool reads from the configuration; replaced on reload.
struct PoolSettings {
  config::PoolMode mode = config::PoolMode::kSession;
  int pool_size = 20;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  std::chrono::milliseconds reserve_pool_timeout{5000};
  std::chrono::milliseconds server_lifetime{3600 * 1000};
  std::chrono::milliseconds server_idle_timeout{600 * 1000};
  std::chrono::milliseconds server_connect_timeout{15000};
  std::chrono::milliseconds server_login_retry{15000};
  std::chrono::milliseconds query_wait_timeout{120000};
  std::chrono::milliseconds server_check_delay{30000};
  std::string server_check_query = "select 1";
  std::string server_reset_query = "DISCARD ALL";
  bool server_reset_query_always = false;
  bool server_round_robin = false;
};

// A connection count shared by every pool of one database or one user
// (max_db_connections, max_user_connections). max 0 means unlimited.
struct SharedLimit {
  std::atomic<int> count{0};
  std::atomic<int> max{0};
  bool try_take() {
    int m = max.load(std::memory_order_relaxed);
    int c = count.load(std::memory_order_relaxed);
    while (m <= 0 || c < m) {
      if (count.compare_exchange_weak(c, c + 1)) return true;
    }
    return false;
  }
  void give_back() { count.fetch_sub(1); }
};

// An idle server, for SHOW SERVERS.
struct IdleServerInfo {
  uint64_t id;
  std::string addr;
  int port;
  uint32_t pid;
  double connect_seconds;
  double idle_seconds;
  size_t prepared_statements;  // prepared on this server by Usher
  std::string tls;
};

// Counts for SHOW POOLS, read under the pool lock.
struct PoolCounts {
  int waiting = 0;
  int active = 0;
  int idle = 0;
  int login = 0;
  int total = 0;
  double max_wait_seconds = 0;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // `offload` runs the PBKDF2 of server logins; it outlives the pool.
  Pool(std::string database, std::string user, ServerTarget target, PoolSettings settings,
       int workers, std::shared_ptr<SharedLimit> db_limit, std::shared_ptr<SharedLimit> user_limit,
       net::OffloadPool& offload);

  const std::string& database() const { return database_; }
  const std::string& user() const { return user_; }

  // Takes a healthy, logged-in server for a client on `worker`, waiting in
  // the FIFO queue when the pool is full. The returned connection's socket is
  // bound to `io`. Errors: the server's own login error, 08P01 for
  // query_wait_timeout, 57P01 while shutting down, 53000 when Usher ran out
  // of a local resource (file descriptors) opening a connection. Only a
  // failure of the server's (refused, unreachable, timed out, its login
  // error) locks the pool out for server_login_retry. While it waits in the
  // queue, `*ticket` (if given) names the wait for abandon().
  asio::awaitable<Result<ServerPtr>> acquire(int worker, asio::io_context& io,
                                             uint64_t* ticket = nullptr);
  // Ends a queued acquire() on `worker` with an error, from that worker's
  // thread (its client left). Nothing happens if it was granted meanwhile.
  void abandon(int worker, uint64_t ticket);
  // acquire()'s common case without a coroutine: an idle server of this
  // worker that needs no check, when nobody waits. Null otherwise.
  ServerPtr try_take_idle(int worker);

  // Returns a connection that is idle (ReadyForQuery 'I', reset done, no
  // operation outstanding on its socket).
  void release(ServerPtr server);
  // Closes a connection that cannot be reused (mid-transaction, broken).
  void discard(ServerPtr server);

  // Periodic work, called by the janitor: waiter timeouts, reserve pool,
  // idle and lifetime limits. Returns the number of connections to open to
  // reach min_pool_size, or 1 to probe a server whose last connection
  // failed (the caller opens them on a worker with prefill()).
  int maintain(Clock::time_point now);

  void update_settings(const PoolSettings& settings, const ServerTarget& target);
  PoolSettings settings() const;  // a copy under the lock: not for per-transaction use
  // server_reset_query_always without the lock, for every transaction end.
  bool reset_query_always() const { return reset_query_always_.load(std::memory_order_relaxed); }
  // The limit on Usher's own queries on a server (parameter replay, reset,
  // check): server_connect_timeout, since they finish what a login starts.
  std::chrono::milliseconds own_query_timeout() const {
    return own_query_timeout_.load(std::memory_order_relaxed);
  }
  ServerTarget target() const;
  void set_scram_keys(const std::array<uint8_t, 32>& client_key,
                      const std::array<uint8_t, 32>& server_key);
  // A password (or md5 secret) for server logins that a client of the
  // pool's user proved; used only while none is configured, and replaced by
  // the next one a client proves (the password may have changed).
  void learn_password(const std::string& password);

  // Parameters a client receives at login: those of the pool's first server.
  bool has_welcome() const;
  std::vector<std::pair<std::string, std::string>> welcome() const;

  // Marks every connection to be closed once released (RECONNECT, reload
  // that changes the target). Idle ones are closed now.
  void reconnect_all();
  // Connections marked by reconnect_all() and still in use (WAIT_CLOSE);
  // a server whose generation is not the pool's is one of them.
  int close_needed() const;
  uint64_t generation() const;
  // While paused, no client is given a server; waiters queue up (PAUSE,
  // safe shutdown). Resuming hands idle servers to them.
  void set_paused(bool paused);
  // Opens one connection straight into the idle list (min_pool_size, or
  // the probe of a failed server that maintain() asks for).
  asio::awaitable<void> prefill(int worker);

  // Closes idle connections and refuses new acquires (KILL, shutdown).
  void close_all(const Error& reason);

  PoolCounts counts(Clock::time_point now) const;
  // The error of the last connection attempt when it failed because the
  // server could not be reached (SQLSTATE classes 08, 57, 53; not a
  // refused login) and no attempt has succeeded since: the readiness
  // probe's "cannot reach a server", and what maintain() probes again.
  std::optional<Error> unreachable() const;
  std::vector<IdleServerInfo> idle_servers(Clock::time_point now) const;
  PoolStats& stats() { return stats_; }
  // The prepared statements this pool's clients hold, shared between them.
  prepared::StatementRegistry& statements() { return statements_; }

  // Clients logged in to this pool, and those of them waiting for a server
  // (SHOW POOLS cl_active and cl_waiting, without visiting every client).
  std::atomic<int> clients{0};
  std::atomic<int> waiting_clients{0};

 private:
  // Under mu_: a grant that needs no waiting, or none.
  bool try_grant_locked(int worker, Grant& grant);
  bool can_open_locked(bool reserve) const;
  bool unreachable_locked() const;
  void open_slot_locked();
  void close_slot_locked();
  void hand_off_locked(std::unique_lock<std::mutex>& lock);
  // A server leaving the active list: one fewer for WAIT_CLOSE if it is old.
  void forget_close_needed_locked(const ServerConnection& server);

  asio::awaitable<Result<ServerPtr>> open_connection();
  // Whether an idle server may serve a client: it must not have spoken or
  // closed while idle, and after server_check_delay it must answer
  // server_check_query. check_due() is false for a server released moments
  // ago (most hand-offs), which needs neither: no lock, no coroutine.
  bool check_due(const ServerConnection& server) const;
  // The idle server to hand out next from one worker's list (never empty),
  // and taking it.
  std::vector<ServerPtr>::iterator next_idle_locked(std::vector<ServerPtr>& list);
  ServerPtr pop_idle_locked(std::vector<ServerPtr>& list);
  asio::awaitable<bool> check(ServerConnection& server);

  const std::string database_;
  const std::string user_;
  const int workers_;
  net::OffloadPool& offload_;
  std::shared_ptr<SharedLimit> db_limit_;
  std::shared_ptr<SharedLimit> user_limit_;

  mutable std::mutex mu_;
  ServerTarget target_;
  PoolSettings settings_;
  std::vector<std::vector<ServerPtr>> idle_;  // per worker, most recently released at the back
  WaitQueue waiters_;
  int idle_count_ = 0;
  int active_ = 0;
  int connecting_ = 0;
  int total_ = 0;  // idle + active + connecting
  // Mirrors of settings_ for lock-free reads at every transaction.
  std::atomic<bool> reset_query_always_;
  std::atomic<std::chrono::milliseconds> server_check_delay_;
  std::atomic<std::chrono::milliseconds> own_query_timeout_;
  bool closed_ = false;
  bool paused_ = false;
  Error closed_reason_;
  Clock::time_point login_failed_at_{};
  // The strongest authentication the server has used: a later connection
  // asking for less is refused (see ServerAuth). Forgotten when the target
  // changes.
  ServerAuth strongest_auth_ = ServerAuth::kNone;
  size_t next_host_ = 0;  // round robin over target_.hosts
  Error login_error_;
  std::vector<std::pair<std::string, std::string>> welcome_;
  uint64_t generation_ = 0;   // bumped by reconnect_all
  int close_needed_ = 0;      // active servers of an older generation
  uint64_t next_ticket_ = 0;  // names each queued wait

  PoolStats stats_;
  prepared::StatementRegistry statements_;
};

}  // namespace usher::pool
