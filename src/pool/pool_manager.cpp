#include "pool/pool_manager.h"

#include "auth/scram.h"
#include "protocol/sqlstate.h"

namespace usher::pool {

PoolSettings PoolManager::settings_for(const config::Config& c, const config::DatabaseConfig& db,
                                       const std::string& user) {
  const config::UserConfig* u = nullptr;
  if (auto it = c.users.find(user); it != c.users.end()) u = &it->second;
  PoolSettings s;
  // A user's pool_mode overrides the database's, which overrides the global.
  s.mode = c.pool_mode;
  if (db.pool_mode) s.mode = *db.pool_mode;
  if (u && u->pool_mode) s.mode = *u->pool_mode;
  s.pool_size = c.default_pool_size;
  if (u && u->pool_size) s.pool_size = *u->pool_size;
  if (db.pool_size) s.pool_size = *db.pool_size;
  s.min_pool_size = db.min_pool_size.value_or(c.min_pool_size);
  s.reserve_pool_size = c.reserve_pool_size;
  if (u && u->reserve_pool_size) s.reserve_pool_size = *u->reserve_pool_size;
  if (db.reserve_pool_size) s.reserve_pool_size = *db.reserve_pool_size;
  s.reserve_pool_timeout = c.reserve_pool_timeout;
  s.server_lifetime = db.server_lifetime.value_or(c.server_lifetime);
  s.server_idle_timeout = c.server_idle_timeout;
  s.server_connect_timeout = c.server_connect_timeout;
  s.server_login_retry = c.server_login_retry;
  s.query_wait_timeout = c.query_wait_timeout;
  if (u && u->query_wait_timeout) s.query_wait_timeout = *u->query_wait_timeout;
  if (db.query_wait_timeout) s.query_wait_timeout = *db.query_wait_timeout;
  s.server_check_delay = c.server_check_delay;
  s.server_check_query = c.server_check_query;
  s.server_reset_query = c.server_reset_query;
  s.server_reset_query_always = c.server_reset_query_always;
  s.server_round_robin = c.server_round_robin;
  return s;
}

void PoolManager::set_server_tls(std::shared_ptr<const net::TlsContext> tls) {
  std::lock_guard lock(mu_);
  server_tls_ = std::move(tls);
}

ServerTarget PoolManager::target_for(const config::Config& c, const config::DatabaseConfig& db,
                                     const std::string& client_user) const {
  ServerTarget t;
  t.host = db.host;
  t.hosts = db.hosts;
  t.stay_on_host = db.load_balance_hosts == "disable";
  t.port = db.port;
  t.dbname = db.dbname.value_or(db.name);
  t.user = db.user.value_or(client_user);
  if (db.password) {
    t.password = *db.password;
  } else if (auto it = c.auth_users.find(t.user); it != c.auth_users.end()) {
    // A SCRAM secret cannot answer a server's challenge by itself; the keys
    // from the client's own SCRAM exchange are used instead.
    if (!auth::is_scram_secret(it->second)) t.password = it->second;
  }
  if (db.application_name) t.startup_params.emplace_back("application_name", *db.application_name);
  if (db.client_encoding) t.startup_params.emplace_back("client_encoding", *db.client_encoding);
  if (db.datestyle) t.startup_params.emplace_back("datestyle", *db.datestyle);
  if (db.timezone) t.startup_params.emplace_back("timezone", *db.timezone);
  if (db.connect_query) t.connect_query = *db.connect_query;
  t.tcp = config::tcp_options(c);
  t.tls = server_tls_;
  t.channel_binding = c.server_channel_binding == "require"   ? ChannelBinding::kRequire
                      : c.server_channel_binding == "disable" ? ChannelBinding::kDisable
                                                              : ChannelBinding::kPrefer;
  return t;
}

std::shared_ptr<SharedLimit> PoolManager::limit(
    std::map<std::string, std::shared_ptr<SharedLimit>>& m, const std::string& key, int max) {
  auto& slot = m[key];
  if (!slot) slot = std::make_shared<SharedLimit>();
  slot->max.store(max);
  return slot;
}

std::shared_ptr<Pool> PoolManager::get(const config::Config& c, const config::DatabaseConfig& db,
                                       const std::string& client_user) {
  std::string user = db.user.value_or(client_user);
  std::lock_guard lock(mu_);
  auto& pool = pools_[{db.name, user}];
  if (!pool) {
    int max_user = c.max_user_connections;
    if (auto it = c.users.find(user); it != c.users.end() && it->second.max_user_connections) {
      max_user = *it->second.max_user_connections;
    }
    pool = std::make_shared<Pool>(
        db.name, user, target_for(c, db, user), settings_for(c, db, user), workers_,
        limit(db_limits_, db.name, db.max_db_connections.value_or(c.max_db_connections)),
        limit(user_limits_, user, max_user), offload_);
  }
  return pool;
}

void PoolManager::apply(const config::Config& c) {
  std::lock_guard lock(mu_);
  for (auto it = pools_.begin(); it != pools_.end();) {
    const auto& [key, pool] = *it;
    auto db = config::find_database(c, key.first);
    if (!db) {
      pool->close_all(make_error(protocol::sqlstate::protocol_violation,
                                 "database removed from configuration"));
      it = pools_.erase(it);
      continue;
    }
    ++it;
    pool->update_settings(settings_for(c, *db, key.second), target_for(c, *db, key.second));
    limit(db_limits_, db->name, db->max_db_connections.value_or(c.max_db_connections));
    int max_user = c.max_user_connections;
    if (auto it = c.users.find(key.second);
        it != c.users.end() && it->second.max_user_connections) {
      max_user = *it->second.max_user_connections;
    }
    limit(user_limits_, key.second, max_user);
  }
}

std::shared_ptr<SharedLimit> PoolManager::db_clients(const config::Config& c,
                                                     const config::DatabaseConfig& db) {
  std::lock_guard lock(mu_);
  return limit(db_client_limits_, db.name,
               db.max_db_client_connections.value_or(c.max_db_client_connections));
}

std::shared_ptr<SharedLimit> PoolManager::user_clients(const config::Config& c,
                                                       const std::string& user) {
  int max = c.max_user_client_connections;
  if (auto it = c.users.find(user); it != c.users.end() && it->second.max_user_client_connections) {
    max = *it->second.max_user_client_connections;
  }
  std::lock_guard lock(mu_);
  return limit(user_client_limits_, user, max);
}

namespace {

int count_of(const std::map<std::string, std::shared_ptr<SharedLimit>>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second->count.load(std::memory_order_relaxed);
}

}  // namespace

int PoolManager::db_client_count(const std::string& db) const {
  std::lock_guard lock(mu_);
  return count_of(db_client_limits_, db);
}

int PoolManager::user_client_count(const std::string& user) const {
  std::lock_guard lock(mu_);
  return count_of(user_client_limits_, user);
}

int PoolManager::user_server_count(const std::string& user) const {
  std::lock_guard lock(mu_);
  return count_of(user_limits_, user);
}

std::vector<std::shared_ptr<Pool>> PoolManager::all() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Pool>> out;
  for (const auto& [k, p] : pools_)
    out.push_back(p);
  return out;
}

}  // namespace usher::pool
