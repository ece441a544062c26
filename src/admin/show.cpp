#include "admin/show.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <span>

#include "admin/console.h"
#include "admin/control.h"
#include "config/config.h"
#include "session/client_session.h"
#include "version.h"

namespace usher::admin {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Row = std::vector<std::optional<std::string>>;

namespace {

std::string str(int64_t v) {
  return std::to_string(v);
}
std::string str(uint64_t v) {
  return std::to_string(v);
}

const char* mode_name(config::PoolMode m) {
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

// The database and user of the admin console, as PgBouncer names them.
constexpr const char* kAdminDb = "pgbouncer";
constexpr const char* kAdminUser = "pgbouncer";
// PgBouncer gives its admin database a pool of 2 in statement mode.
constexpr const char* kAdminPoolSize = "2";
constexpr const char* kAdminPoolMode = "statement";
// Usher goes round robin over a host list, which PgBouncer calls this.
constexpr const char* kLoadBalanceHosts = "round-robin";
// Usher has no replication connections: every socket is a normal one.
constexpr const char* kNoReplication = "none";

std::optional<std::string> null_if_empty(const std::string& v) {
  return v.empty() ? std::nullopt : std::optional<std::string>(v);
}

// PgBouncer's load_balance_hosts column: set only for a host list.
std::optional<std::string> load_balance_hosts(const std::vector<std::string>& hosts) {
  return hosts.size() > 1 ? std::optional<std::string>(kLoadBalanceHosts) : std::nullopt;
}

// Connection columns shared by SHOW CLIENTS and SHOW SERVERS (PgBouncer
// 1.24+: replication after database, prepared_statements and id at the end).
std::vector<Column> connection_columns() {
  return {{"type", kText},
          {"user", kText},
          {"database", kText},
          {"replication", kText},
          {"state", kText},
          {"addr", kText},
          {"port", kInt4},
          {"local_addr", kText},
          {"local_port", kInt4},
          {"connect_time", kText},
          {"request_time", kText},
          {"wait", kInt4},
          {"wait_us", kInt4},
          {"close_needed", kInt4},
          {"ptr", kText},
          {"link", kText},
          {"remote_pid", kInt4},
          {"tls", kText},
          {"application_name", kText},
          {"prepared_statements", kInt4},
          {"id", kInt4}};
}

// PgBouncer prints times as "2024-01-02 03:04:05 UTC"; we report the moment
// as wall-clock time computed from the age.
std::string wall_time(double seconds_ago) {
  auto t = std::chrono::system_clock::now() -
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               std::chrono::duration<double>(seconds_ago));
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string ptr_text(const void* p) {
  return fmt::format("{}", p);
}
std::string server_ptr(uint64_t id) {
  return fmt::format("0x{:x}", id);
}

asio::awaitable<std::vector<session::ClientInfo>> gather_clients(Control& control) {
  std::vector<session::ClientInfo> all;
  auto now = Clock::now();
  for (int i = 0; i < control.worker_count(); ++i) {
    auto& w = control.worker(i);
    auto part = co_await asio::co_spawn(
        w.io,
        [&w, now]() -> asio::awaitable<std::vector<session::ClientInfo>> {
          std::vector<session::ClientInfo> v;
          for (auto& weak : w.sessions) {
            if (auto s = weak.lock()) v.push_back(s->info(now));
          }
          co_return v;
        },
        asio::use_awaitable);
    all.insert(all.end(), part.begin(), part.end());
  }
  co_return all;
}

// A client that has logged in to a pool (PgBouncer lists no others).
bool in_pool(const session::ClientInfo& c) {
  return c.state != "login";
}

std::pair<int64_t, int64_t> seconds_and_micros(double seconds) {
  auto whole = static_cast<int64_t>(seconds);
  return {whole, static_cast<int64_t>((seconds - double(whole)) * 1e6)};
}

// From counters the pools and the console keep: no client is visited.
ResultSet show_pools(Control& control) {
  ResultSet rs({{"database", kText},
                {"user", kText},
                {"cl_active", kInt4},
                {"cl_waiting", kInt4},
                {"cl_active_cancel_req", kInt4},
                {"cl_waiting_cancel_req", kInt4},
                {"sv_active", kInt4},
                {"sv_active_cancel", kInt4},
                {"sv_being_canceled", kInt4},
                {"sv_idle", kInt4},
                {"sv_used", kInt4},
                {"sv_tested", kInt4},
                {"sv_login", kInt4},
                {"maxwait", kInt4},
                {"maxwait_us", kInt4},
                {"pool_mode", kText},
                {"load_balance_hosts", kText}});
  // The admin console's own pool comes first, as PgBouncer creates it first.
  rs.add({kAdminDb, kAdminUser, str(int64_t(console_client_count())), "0", "0", "0", "0", "0", "0",
          "0", "0", "0", "0", "0", "0", kAdminPoolMode, std::nullopt});
  auto now = Clock::now();
  for (const auto& p : control.pools().all()) {
    auto c = p->counts(now);
    const int64_t waiting = p->waiting_clients.load(std::memory_order_relaxed);
    const int64_t active = p->clients.load(std::memory_order_relaxed) - waiting;
    auto [wait_s, wait_us] = seconds_and_micros(c.max_wait_seconds);
    rs.add({p->database(), p->user(), str(active), str(waiting), "0", "0", str(int64_t(c.active)),
            "0", "0", str(int64_t(c.idle)), "0", "0", str(int64_t(c.login)), str(wait_s),
            str(wait_us), mode_name(p->settings().mode), load_balance_hosts(p->target().hosts)});
  }
  return rs;
}

// PgBouncer 1.25: a logged-in client with no server is "idle".
const char* client_state(const session::ClientInfo& c) {
  if (c.state == "waiting") return "waiting";
  return c.has_server ? "active" : "idle";
}

ResultSet show_clients(const std::vector<session::ClientInfo>& clients, int listen_port) {
  ResultSet rs(connection_columns());
  for (const auto& c : clients) {
    if (!in_pool(c)) continue;
    auto [wait_s, wait_us] = seconds_and_micros(c.wait_seconds);
    // remote_pid: PgBouncer reports the peer's pid only for Unix sockets
    // (SO_PEERCRED); Usher does not read it, so 0 as for TCP.
    rs.add({"C",
            c.user.empty() ? "(nouser)" : c.user,
            c.database.empty() ? "(nodb)" : c.database,
            kNoReplication,
            client_state(c),
            c.addr,
            str(int64_t(c.port)),
            c.addr == "unix" ? "unix" : "127.0.0.1",
            str(int64_t(listen_port)),
            wall_time(c.connect_time),
            wall_time(c.request_time),
            str(wait_s),
            str(wait_us),
            "0",
            ptr_text(c.ptr),
            c.has_server ? server_ptr(c.server_id) : "",
            "0",
            "",
            c.application_name,
            str(uint64_t(c.prepared_statements)),
            str(c.id)});
  }
  return rs;
}

ResultSet show_servers(Control& control, const std::vector<session::ClientInfo>& clients) {
  ResultSet rs(connection_columns());
  auto now = Clock::now();
  for (const auto& c : clients) {
    if (!c.has_server) continue;
    rs.add({"S",
            c.user,
            c.database,
            kNoReplication,
            "active",
            c.server_addr,
            str(int64_t(c.server_port)),
            "127.0.0.1",
            "0",
            wall_time(c.server_connect_time),
            wall_time(c.request_time),
            "0",
            "0",
            c.server_close_needed ? "1" : "0",
            server_ptr(c.server_id),
            ptr_text(c.ptr),
            str(int64_t(c.server_pid)),
            "",
            c.application_name,
            str(uint64_t(c.server_prepared_statements)),
            str(c.server_id)});
  }
  for (const auto& p : control.pools().all()) {
    for (const auto& s : p->idle_servers(now)) {
      rs.add({"S",
              p->user(),
              p->database(),
              kNoReplication,
              "idle",
              s.addr,
              str(int64_t(s.port)),
              "127.0.0.1",
              "0",
              wall_time(s.connect_seconds),
              wall_time(s.idle_seconds),
              "0",
              "0",
              "0",
              server_ptr(s.id),
              "",
              str(int64_t(s.pid)),
              "",
              "",
              str(uint64_t(s.prepared_statements)),
              str(s.id)});
    }
  }
  return rs;
}

// Rates add up over pools; per-event times (xact, query, wait) are not
// rates, so the largest pool's figure stands for the database.
void add_averages(pool::StatsAverages& into, const pool::StatsAverages& a) {
  into.server_assignments += a.server_assignments;
  into.xact_count += a.xact_count;
  into.query_count += a.query_count;
  into.bytes_received += a.bytes_received;
  into.bytes_sent += a.bytes_sent;
  into.client_parse_count += a.client_parse_count;
  into.server_parse_count += a.server_parse_count;
  into.bind_count += a.bind_count;
  into.client_login_count += a.client_login_count;
  into.xact_time_us = std::max(into.xact_time_us, a.xact_time_us);
  into.query_time_us = std::max(into.query_time_us, a.query_time_us);
  into.wait_time_us = std::max(into.wait_time_us, a.wait_time_us);
}

// Sums per database, as PgBouncer's SHOW STATS does.
struct DbStats {
  pool::StatsTotals t;
  pool::StatsAverages a;
};
std::map<std::string, DbStats> stats_by_db(Control& control) {
  std::map<std::string, DbStats> m;
  for (const auto& p : control.pools().all()) {
    auto& d = m[p->database()];
    d.t += p->stats().totals();
    add_averages(d.a, p->stats().averages());
  }
  return m;
}

// One database's figures in PgBouncer 1.26's column order: the counters of
// SHOW STATS_TOTALS, then (SHOW STATS) the same as averages.
Row totals_row(const pool::StatsTotals& t) {
  return {str(t.server_assignments), str(t.xact_count),   str(t.query_count),
          str(t.bytes_received),     str(t.bytes_sent),   str(t.xact_time_us),
          str(t.query_time_us),      str(t.wait_time_us), str(t.client_parse_count),
          str(t.server_parse_count), str(t.bind_count),   str(t.client_login_count)};
}
Row averages_row(const pool::StatsAverages& a) {
  return {str(a.server_assignments), str(a.xact_count),   str(a.query_count),
          str(a.bytes_received),     str(a.bytes_sent),   str(a.xact_time_us),
          str(a.query_time_us),      str(a.wait_time_us), str(a.client_parse_count),
          str(a.server_parse_count), str(a.bind_count),   str(a.client_login_count)};
}

// Column names in the order of totals_row()/averages_row(). PgBouncer names
// the same figure differently in each command (its issue #1247).
constexpr const char* kStatsNames[] = {"server_assignment_count",
                                       "xact_count",
                                       "query_count",
                                       "received",
                                       "sent",
                                       "xact_time",
                                       "query_time",
                                       "wait_time",
                                       "client_parse_count",
                                       "server_parse_count",
                                       "bind_count",
                                       "client_login_count"};
constexpr const char* kTotalsNames[] = {"server_assignment_count",
                                        "xact_count",
                                        "query_count",
                                        "bytes_received",
                                        "bytes_sent",
                                        "xact_time",
                                        "query_time",
                                        "wait_time",
                                        "client_parse_count",
                                        "server_parse_count",
                                        "bind_count",
                                        "client_login_count"};
constexpr const char* kAveragesNames[] = {"server_assignment_count",
                                          "xact_count",
                                          "query_count",
                                          "bytes_received",
                                          "bytes_sent",
                                          "xact_time",
                                          "query_time",
                                          "wait_time",
                                          "avg_client_parse_count",
                                          "avg_server_parse_count",
                                          "avg_bind_count",
                                          "client_login_count"};
constexpr const char* kTotalsRowNames[] = {"server_assignment_count",
                                           "xact_count",
                                           "query_count",
                                           "client_bytes",
                                           "server_bytes",
                                           "xact_time",
                                           "query_time",
                                           "wait_time",
                                           "ps_client_parse_count",
                                           "ps_server_parse_count",
                                           "ps_bind_count",
                                           "client_login_count"};

std::vector<Column> database_then(std::initializer_list<std::vector<std::string>> groups) {
  std::vector<Column> cols{{"database", kText}};
  for (const auto& names : groups)
    for (const auto& n : names)
      cols.push_back({n, kNumeric});
  return cols;
}

std::vector<std::string> prefixed(const char* prefix, std::span<const char* const> names) {
  std::vector<std::string> out;
  for (const char* n : names)
    out.push_back(std::string(prefix) + n);
  return out;
}

// SHOW STATS's avg_ names: as the totals but "recv", not "received".
std::vector<std::string> stats_avg_names() {
  auto names = prefixed("avg_", kStatsNames);
  names[3] = "avg_recv";
  return names;
}

Row with_name(std::string name, Row values) {
  values.insert(values.begin(), std::move(name));
  return values;
}

ResultSet show_stats(Control& control) {
  ResultSet rs(database_then({prefixed("total_", kStatsNames), stats_avg_names()}));
  for (const auto& [db, d] : stats_by_db(control)) {
    Row row = with_name(db, totals_row(d.t));
    Row avg = averages_row(d.a);
    row.insert(row.end(), avg.begin(), avg.end());
    rs.add(std::move(row));
  }
  return rs;
}

ResultSet show_stats_totals(Control& control) {
  ResultSet rs(database_then({prefixed("", kTotalsNames)}));
  for (const auto& [db, d] : stats_by_db(control))
    rs.add(with_name(db, totals_row(d.t)));
  return rs;
}

ResultSet show_stats_averages(Control& control) {
  ResultSet rs(database_then({prefixed("", kAveragesNames)}));
  for (const auto& [db, d] : stats_by_db(control))
    rs.add(with_name(db, averages_row(d.a)));
  return rs;
}

ResultSet show_totals(Control& control) {
  DbStats all;
  for (const auto& [db, d] : stats_by_db(control)) {
    all.t += d.t;
    add_averages(all.a, d.a);
  }
  ResultSet rs({{"name", kText}, {"value", kNumeric}});
  auto add_rows = [&](const std::vector<std::string>& names, const Row& values) {
    for (size_t i = 0; i < names.size(); ++i)
      rs.add({names[i], values[i]});
  };
  add_rows(prefixed("total_", kTotalsRowNames), totals_row(all.t));
  add_rows(prefixed("avg_", kTotalsRowNames), averages_row(all.a));
  return rs;
}

std::string seconds_text(config::Duration d) {
  return str(int64_t(std::chrono::duration_cast<std::chrono::seconds>(d).count()));
}

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

// Usher's own: prepared statements per pool (transaction and statement mode).
ResultSet show_prepared_statements(Control& control) {
  ResultSet rs({{"database", kText},
                {"user", kText},
                {"statements", kNumeric},
                {"client_parse_count", kNumeric},
                {"server_parse_count", kNumeric},
                {"bind_count", kNumeric},
                {"evictions", kNumeric},
                {"retries", kNumeric}});
  for (const auto& p : control.pools().all()) {
    auto t = p->stats().totals();
    rs.add({p->database(), p->user(), str(p->statements().size()), str(t.client_parse_count),
            str(t.server_parse_count), str(t.bind_count), str(t.statement_evictions),
            str(t.statement_retries)});
  }
  return rs;
}

ResultSet show_version(Control&) {
  ResultSet rs({{"version", kText}});
  rs.add({std::string(kVersionString)});
  return rs;
}

// Usher has no SUSPEND (PgBouncer 1.26 dropped it too): never suspended.
ResultSet show_state(Control& control) {
  ResultSet rs({{"key", kText}, {"value", kText}});
  rs.add({"active", control.paused() ? "no" : "yes"});
  rs.add({"paused", control.paused() ? "yes" : "no"});
  rs.add({"suspended", "no"});
  return rs;
}

// Usher resolves host names when it connects and keeps no DNS cache.
ResultSet show_dns_hosts(Control&) {
  return ResultSet({{"hostname", kText}, {"ttl", kInt8}, {"addrs", kText}});
}
ResultSet show_dns_zones(Control&) {
  return ResultSet({{"zonename", kText}, {"serial", kInt8}, {"count", kInt4}});
}

// Settings that drivers SHOW or SET on connect, answered with PgBouncer's
// made-up values so that they work against the console.
struct FakeParam {
  const char* name;
  const char* value;
};
constexpr FakeParam kFakeParams[] = {{"client_encoding", "UTF-8"},
                                     {"default_transaction_isolation", "read committed"},
                                     {"standard_conforming_strings", "on"},
                                     {"datestyle", "ISO"},
                                     {"timezone", "GMT"},
                                     {"extra_float_digits", "2"}};

const FakeParam* find_fake_param(std::string_view name) {
  for (const auto& p : kFakeParams) {
    if (strcasecmp_view(name, p.name)) return &p;
  }
  return nullptr;
}

using ClientsShow = ResultSet (*)(Control&, const std::vector<session::ClientInfo>&);
using PlainShow = ResultSet (*)(Control&);

ResultSet show_clients_here(Control& control, const std::vector<session::ClientInfo>& c) {
  return show_clients(c, control.config()->listen_port);
}

// SHOW commands that read the client sessions (gathered from every worker).
constexpr std::pair<const char*, ClientsShow> kClientsShows[] = {{"clients", show_clients_here},
                                                                 {"servers", show_servers},
                                                                 {"lists", show_lists},
                                                                 {"databases", show_databases}};

constexpr std::pair<const char*, PlainShow> kPlainShows[] = {
    {"pools", show_pools},
    {"stats", show_stats},
    {"stats_totals", show_stats_totals},
    {"stats_averages", show_stats_averages},
    {"totals", show_totals},
    {"users", show_users},
    {"peers", show_peers},
    {"peer_pools", show_peer_pools},
    {"config", show_config},
    {"version", show_version},
    {"state", show_state},
    {"dns_hosts", show_dns_hosts},
    {"dns_zones", show_dns_zones},
    {"prepared_statements", show_prepared_statements}};

}  // namespace

bool strcasecmp_view(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// PgBouncer 1.26's text: 1.25's without SHOW FDS and SUSPEND, which it
// removed. SOCKETS, ACTIVE_SOCKETS and MEM stay listed there although Usher
// has no such internals (it refuses them, docs/configuration.md).
std::string help_text() {
  return "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
         "\tSHOW PEERS|PEER_POOLS\n"
         "\tSHOW SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
         "\tSHOW DNS_HOSTS|DNS_ZONES\n"
         "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
         "\tSET key = arg\n"
         "\tRELOAD\n"
         "\tPAUSE [<db>]\n"
         "\tRESUME [<db>]\n"
         "\tDISABLE <db>\n"
         "\tENABLE <db>\n"
         "\tRECONNECT [<db>]\n"
         "\tKILL [<db>]\n"
         "\tKILL_CLIENT <client_id>\n"
         "\tSHUTDOWN\n"
         "\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
         "\tWAIT_CLOSE [<db>]";
}

std::optional<ResultSet> fake_show(std::string_view name) {
  const FakeParam* p = find_fake_param(name);
  if (p == nullptr) return std::nullopt;
  ResultSet rs({{p->name, kText}});
  rs.add({std::string(p->value)});
  return rs;
}

bool is_fake_param(std::string_view name) {
  return find_fake_param(name) != nullptr;
}

asio::awaitable<std::optional<ResultSet>> show(Control& control, std::string_view what) {
  for (const auto& [name, fn] : kClientsShows) {
    if (strcasecmp_view(what, name)) co_return fn(control, co_await gather_clients(control));
  }
  for (const auto& [name, fn] : kPlainShows) {
    if (strcasecmp_view(what, name)) co_return fn(control);
  }
  co_return std::nullopt;
}

}  // namespace usher::admin
