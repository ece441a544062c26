// What a client session needs of the process around it, and no more. The
// runtime (the composition root, runtime/runtime.h) implements it, so that
// nothing in session/ reaches up into the process that owns it.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <optional>
#include <string>

#include "auth/login_throttle.h"
#include "cache/cache.h"
#include "common/result.h"
#include "config/config.h"
#include "net/offload_pool.h"
#include "net/tls.h"
#include "pool/pool_manager.h"
#include "session/cancel_registry.h"
#include "session/peer_cancels.h"

namespace usher::session {

struct ClientConnection;

class SessionContext {
 public:
  // The configuration in force now; a session keeps the one it started with.
  virtual std::shared_ptr<const config::Config> config() const = 0;
  virtual pool::PoolManager& pools() = 0;
  // The context a client's SSLRequest is answered with (client_tls_*), or
  // none: TLS is not offered. The one loaded last; a reload whose files
  // fail to load keeps it.
  virtual std::shared_ptr<const net::TlsContext> client_tls() const = 0;
  virtual CancelRegistry& cancels() = 0;
  virtual PeerCancels& peer_cancels() = 0;
  // Failed logins per client address (auth/login_throttle.h).
  virtual auth::LoginThrottle& login_throttle() = 0;
  // PBKDF2 (SCRAM) runs here, never on a worker (net/offload_pool.h).
  virtual net::OffloadPool& offload() = 0;
  // PAUSE and DISABLE, per database, from the console.
  virtual bool paused(const std::string& db) const = 0;
  virtual bool disabled(const std::string& db) const = 0;
  // Clients connected to the process (max_client_conn); a session counts
  // itself in for its whole life.
  virtual std::atomic<int>& client_count() = 0;
  // The result cache for a client of `database` logged in as `user`
  // (query_cache and its overrides), its invalidation started on first
  // use; nullopt when off.
  virtual std::optional<cache::Access> cache_for(const config::Config& config,
                                                 const pool::Pool& pool) = 0;
  // Serves a client logged in to the console database ("pgbouncer") until
  // it leaves; the console is not part of the relay.
  virtual boost::asio::awaitable<Status> serve_console(ClientConnection& client) = 0;

 protected:
  ~SessionContext() = default;
};

}  // namespace usher::session
