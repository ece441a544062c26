// All pools, keyed by (database, user) as clients name them, plus the shared
// per-database and per-user limits on server and client connections. Pools are created on first
// use from the current configuration and updated in place on reload.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "net/tls.h"
#include "pool/pool.h"

namespace usher::pool {

class PoolManager {
 public:
  // `offload` runs the PBKDF2 of server logins; it outlives the manager.
  PoolManager(int workers, net::OffloadPool& offload) : workers_(workers), offload_(offload) {}

  std::shared_ptr<Pool> get(const config::Config& config, const config::DatabaseConfig& db,
                            const std::string& client_user);
  // Applies a reloaded configuration to existing pools.
  void apply(const config::Config& config);
  std::vector<std::shared_ptr<Pool>> all() const;
  // The context new server connections negotiate TLS with (none: plain);
  // set before apply() so that the pools' targets take it.
  void set_server_tls(std::shared_ptr<const net::TlsContext> tls);

  // What a pool for this database and user is configured with.
  // Client connection counts per database and per login user, across pools
  // and workers, with the limit the configuration sets now
  // (max_db_client_connections, max_user_client_connections).
  std::shared_ptr<SharedLimit> db_clients(const config::Config& config,
                                          const config::DatabaseConfig& db);
  std::shared_ptr<SharedLimit> user_clients(const config::Config& config, const std::string& user);

  // Current counts for SHOW DATABASES / SHOW USERS, without creating an
  // entry: client connections per database and per user, server
  // connections per user. 0 for a name never seen.
  int db_client_count(const std::string& db) const;
  int user_client_count(const std::string& user) const;
  int user_server_count(const std::string& user) const;

  static PoolSettings settings_for(const config::Config& config, const config::DatabaseConfig& db,
                                   const std::string& user);

 private:
  // Under mu_.
  ServerTarget target_for(const config::Config& config, const config::DatabaseConfig& db,
                          const std::string& client_user) const;
  std::shared_ptr<SharedLimit> limit(std::map<std::string, std::shared_ptr<SharedLimit>>& m,
                                     const std::string& key, int max);

  const int workers_;
  net::OffloadPool& offload_;
  mutable std::mutex mu_;
  std::shared_ptr<const net::TlsContext> server_tls_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Pool>> pools_;
  std::map<std::string, std::shared_ptr<SharedLimit>> db_limits_;
  std::map<std::string, std::shared_ptr<SharedLimit>> user_limits_;
  std::map<std::string, std::shared_ptr<SharedLimit>> db_client_limits_;
  std::map<std::string, std::shared_ptr<SharedLimit>> user_client_limits_;
};

}  // namespace usher::pool
