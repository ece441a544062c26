// SHOW DATABASES, USERS, PEERS, PEER_POOLS, CONFIG and LISTS: what the
// configuration lists, with what is in use against its limits.
#include <fmt/format.h>

#include <map>
#include <set>

#include "admin/show_commands.h"

namespace usher::admin {

namespace {

std::optional<std::string> null_if_empty(const std::string& v) {
  return v.empty() ? std::nullopt : std::optional<std::string>(v);
}

std::string seconds_text(config::Duration d) {
  return str(int64_t(std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

// Every user PgBouncer knows: auth_file, [users], and its own "pgbouncer".
std::set<std::string> user_names(const config::Config& cfg) {
  std::set<std::string> names{kAdminUser};
  for (const auto& [name, u] : cfg.users)
    names.insert(name);
  for (const auto& [name, secret] : cfg.auth_users)
    names.insert(name);
  return names;
}

// PgBouncer prints a [users] pool size as "%9d", and "" when unset.
std::string padded(const std::optional<int>& v) {
  return v ? fmt::format("{:9d}", *v) : std::string();
}

}  // namespace

ResultSet show_databases(Control& control, const std::vector<session::ClientInfo>& clients) {
  auto cfg = control.config();
  ResultSet rs({{"name", kText},
                {"host", kText},
                {"port", kInt4},
                {"database", kText},
                {"force_user", kText},
                {"pool_size", kInt4},
                {"min_pool_size", kInt4},
                {"reserve_pool_size", kInt4},
                {"server_lifetime", kInt4},
                {"pool_mode", kText},
                {"load_balance_hosts", kText},
                {"max_connections", kInt4},
                {"current_connections", kInt4},
                {"max_client_connections", kInt4},
                {"current_client_connections", kInt4},
                {"paused", kInt4},
                {"disabled", kInt4}});
  std::map<std::string, int> current;
  auto now = Clock::now();
  for (const auto& p : control.pools().all())
    current[p->database()] += p->counts(now).total;
  // PgBouncer keeps its databases sorted by name, the admin one included.
  std::map<std::string, Row> rows;
  for (const auto& [name, db] : cfg->databases) {
    rows[name] = {
        db.name,
        null_if_empty(db.host),
        str(int64_t(db.port)),
        db.dbname.value_or(db.name),
        db.user,
        str(int64_t(db.pool_size.value_or(cfg->default_pool_size))),
        str(int64_t(db.min_pool_size.value_or(cfg->min_pool_size))),
        str(int64_t(db.reserve_pool_size.value_or(cfg->reserve_pool_size))),
        seconds_text(db.server_lifetime.value_or(cfg->server_lifetime)),
        db.pool_mode ? std::optional<std::string>(mode_name(*db.pool_mode)) : std::nullopt,
        load_balance_hosts(db.hosts),
        str(int64_t(db.max_db_connections.value_or(cfg->max_db_connections))),
        str(int64_t(current[db.name])),
        str(int64_t(db.max_db_client_connections.value_or(cfg->max_db_client_connections))),
        str(int64_t(control.pools().db_client_count(db.name))),
        control.paused(db.name) ? "1" : "0",
        control.disabled(db.name) ? "1" : "0"};
  }
  int64_t admins = 0;
  for (const auto& c : clients)
    admins += in_pool(c) && c.database == kAdminDb;
  rows[kAdminDb] = {kAdminDb,
                    std::nullopt,
                    str(int64_t(cfg->listen_port)),
                    kAdminDb,
                    kAdminUser,
                    kAdminPoolSize,
                    str(int64_t(cfg->min_pool_size)),
                    str(int64_t(cfg->reserve_pool_size)),
                    seconds_text(cfg->server_lifetime),
                    kAdminPoolMode,
                    std::nullopt,
                    str(int64_t(cfg->max_db_connections)),
                    "0",
                    str(int64_t(cfg->max_db_client_connections)),
                    str(admins),
                    "0",
                    "0"};
  for (auto& [name, row] : rows)
    rs.add(std::move(row));
  return rs;
}

ResultSet show_users(Control& control) {
  auto cfg = control.config();
  ResultSet rs({{"name", kText},
                {"pool_size", kText},
                {"reserve_pool_size", kText},
                {"pool_mode", kText},
                {"max_user_connections", kInt4},
                {"current_connections", kInt4},
                {"max_user_client_connections", kInt4},
                {"current_client_connections", kInt4}});
  for (const auto& name : user_names(*cfg)) {
    config::UserSettings u;
    if (auto it = cfg->users.find(name); it != cfg->users.end()) u = it->second;
    rs.add({name, padded(u.pool_size), padded(u.reserve_pool_size),
            u.pool_mode ? std::optional<std::string>(mode_name(*u.pool_mode)) : std::nullopt,
            str(int64_t(u.max_user_connections.value_or(cfg->max_user_connections))),
            str(int64_t(control.pools().user_server_count(name))),
            str(int64_t(u.max_user_client_connections.value_or(cfg->max_user_client_connections))),
            str(int64_t(control.pools().user_client_count(name)))});
  }
  return rs;
}

ResultSet show_peers(Control& control) {
  auto cfg = control.config();
  ResultSet rs({{"peer_id", kInt4}, {"host", kText}, {"port", kInt4}, {"pool_size", kInt4}});
  for (const auto& [id, peer] : cfg->peers) {
    rs.add({str(int64_t(id)), peer.host, str(int64_t(peer.port)),
            str(int64_t(peer.pool_size.value_or(cfg->default_pool_size)))});
  }
  return rs;
}

// PgBouncer has a pool per peer it forwarded a cancel request to, created
// on the first; so has Usher (session/peer_cancels.h). Each request in
// flight is one client and one connection to the peer; none logs in.
ResultSet show_peer_pools(Control& control) {
  ResultSet rs({{"peer_id", kInt4},
                {"cl_active_cancel_req", kInt4},
                {"cl_waiting_cancel_req", kInt4},
                {"sv_active_cancel", kInt4},
                {"sv_login", kInt4}});
  for (const auto& c : control.peer_cancels().counts()) {
    rs.add({str(int64_t(c.peer_id)), str(int64_t(c.active)), str(int64_t(c.waiting)),
            str(int64_t(c.active)), "0"});
  }
  return rs;
}

ResultSet show_config(Control& control) {
  ResultSet rs({{"key", kText}, {"value", kText}, {"default", kText}, {"changeable", kText}});
  for (const auto& row : config::describe(*control.config())) {
    rs.add({row.key, row.value, row.default_value, row.changeable ? "yes" : "no"});
  }
  return rs;
}

// Counts match the rows of SHOW DATABASES, USERS, PEERS and POOLS (each
// with the admin console's own database, user and pool).
ResultSet show_lists(Control& control, const std::vector<session::ClientInfo>& clients) {
  auto cfg = control.config();
  auto now = Clock::now();
  int64_t used_servers = 0, free_servers = 0, login = 0;
  auto pools = control.pools().all();
  for (const auto& p : pools) {
    auto c = p->counts(now);
    used_servers += c.active + c.login;
    free_servers += c.idle;
  }
  for (const auto& c : clients)
    login += !in_pool(c);
  ResultSet rs({{"list", kText}, {"items", kInt4}});
  std::pair<const char*, int64_t> rows[] = {
      {"databases", int64_t(cfg->databases.size()) + 1},
      {"users", int64_t(user_names(*cfg).size())},
      {"peers", int64_t(cfg->peers.size())},
      {"pools", int64_t(pools.size()) + 1},
      {"peer_pools", int64_t(control.peer_cancels().counts().size())},
      {"free_clients", 0},
      {"used_clients", int64_t(clients.size()) - login},
      {"login_clients", login},
      {"free_servers", free_servers},
      {"used_servers", used_servers},
      {"dns_names", 0},
      {"dns_zones", 0},
      {"dns_queries", 0},
      {"dns_pending", 0}};
  for (const auto& [name, v] : rows)
    rs.add({name, str(v)});
  return rs;
}

}  // namespace usher::admin
