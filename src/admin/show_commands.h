// The SHOW commands' result sets, by concern: show_pools.cpp (POOLS,
// CLIENTS, SERVERS), show_stats.cpp (STATS, STATS_TOTALS, STATS_AVERAGES,
// TOTALS, PREPARED_STATEMENTS) and show_config.cpp (DATABASES, USERS,
// PEERS, PEER_POOLS, CONFIG, LISTS); show.cpp finds the command and answers
// the small ones itself. What they share is here; internal to admin/.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admin/control.h"
#include "admin/result_set.h"
#include "config/config.h"
#include "session/client_session.h"

namespace usher::admin {

using Clock = std::chrono::steady_clock;
using Row = std::vector<std::optional<std::string>>;

inline std::string str(int64_t v) {
  return std::to_string(v);
}
inline std::string str(uint64_t v) {
  return std::to_string(v);
}

inline const char* mode_name(config::PoolMode m) {
  switch (m) {
    case config::PoolMode::kSession:
      return "session";
    case config::PoolMode::kTransaction:
      return "transaction";
    case config::PoolMode::kStatement:
      return "statement";
  }
  return "session";
}

// The database and user of the admin console (config/config.h), as the
// rows of SHOW commands take them. Both are string literals, so NUL-ended.
inline constexpr const char* kAdminDb = config::kConsoleDatabase.data();
inline constexpr const char* kAdminUser = config::kConsoleUser.data();
// PgBouncer gives its admin database a pool of 2 in statement mode.
inline constexpr const char* kAdminPoolSize = "2";
inline constexpr const char* kAdminPoolMode = "statement";
// Usher goes round robin over a host list, which PgBouncer calls this.
inline constexpr const char* kLoadBalanceHosts = "round-robin";

// PgBouncer's load_balance_hosts column: set only for a host list.
inline std::optional<std::string> load_balance_hosts(const std::vector<std::string>& hosts) {
  return hosts.size() > 1 ? std::optional<std::string>(kLoadBalanceHosts) : std::nullopt;
}

// A client that has logged in to a pool (PgBouncer lists no others).
inline bool in_pool(const session::ClientInfo& c) {
  return c.state != "login";
}

// show_pools.cpp
ResultSet show_pools(Control& control);
ResultSet show_clients(const std::vector<session::ClientInfo>& clients, int listen_port);
ResultSet show_servers(Control& control, const std::vector<session::ClientInfo>& clients);

// show_stats.cpp
ResultSet show_stats(Control& control);
ResultSet show_stats_totals(Control& control);
ResultSet show_stats_averages(Control& control);
ResultSet show_totals(Control& control);
ResultSet show_prepared_statements(Control& control);
// show_cache.cpp
ResultSet show_cache(Control& control);
ResultSet show_cache_queries(Control& control);

// show_config.cpp
ResultSet show_databases(Control& control, const std::vector<session::ClientInfo>& clients);
ResultSet show_users(Control& control);
ResultSet show_peers(Control& control);
ResultSet show_peer_pools(Control& control);
ResultSet show_config(Control& control);
ResultSet show_lists(Control& control, const std::vector<session::ClientInfo>& clients);

}  // namespace usher::admin
