#include "admin/show.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "config/config.h"
#include "runtime/runtime.h"
#include "session/client_session.h"
#include "version.h"

namespace usher::admin {

namespace asio = boost::asio;
using Clock = runtime::Clock;
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

// Connection columns shared by SHOW CLIENTS and SHOW SERVERS (PgBouncer 1.18).
std::vector<Column> connection_columns() {
  return {{"type", kText},         {"user", kText},       {"database", kText},
          {"state", kText},        {"addr", kText},       {"port", kInt4},
          {"local_addr", kText},   {"local_port", kInt4}, {"connect_time", kText},
          {"request_time", kText}, {"wait", kInt4},       {"wait_us", kInt4},
          {"close_needed", kInt4}, {"ptr", kText},        {"link", kText},
          {"remote_pid", kInt4},   {"tls", kText},        {"application_name", kText}};
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

asio::awaitable<std::vector<session::ClientInfo>> gather_clients(runtime::Runtime& rt) {
  std::vector<session::ClientInfo> all;
  auto now = Clock::now();
  for (int i = 0; i < rt.worker_count(); ++i) {
    auto& w = rt.worker(i);
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

ResultSet show_pools(runtime::Runtime& rt, const std::vector<session::ClientInfo>& clients) {
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
                {"pool_mode", kText}});
  auto now = Clock::now();
  for (const auto& p : rt.pools().all()) {
    auto c = p->counts(now);
    int active = 0, waiting = 0;
    for (const auto& ci : clients) {
      if (ci.database != p->database() || ci.user != p->user()) continue;
      if (ci.state == "waiting") {
        ++waiting;
      } else if (ci.state != "login") {
        ++active;
      }
    }
    auto wait_s = static_cast<int64_t>(c.max_wait_seconds);
    auto wait_us = static_cast<int64_t>((c.max_wait_seconds - double(wait_s)) * 1e6);
    rs.add({p->database(), p->user(), str(int64_t(active)), str(int64_t(waiting)), "0", "0",
            str(int64_t(c.active)), "0", "0", str(int64_t(c.idle)), "0", "0", str(int64_t(c.login)),
            str(wait_s), str(wait_us), mode_name(p->settings().mode)});
  }
  return rs;
}

ResultSet show_clients(const std::vector<session::ClientInfo>& clients, int listen_port) {
  ResultSet rs(connection_columns());
  for (const auto& c : clients) {
    auto wait_s = static_cast<int64_t>(c.wait_seconds);
    rs.add({"C", c.user, c.database, c.state == "waiting" ? "waiting" : "active", c.addr,
            str(int64_t(c.port)), c.addr == "unix" ? "unix" : "127.0.0.1",
            str(int64_t(listen_port)), wall_time(c.connect_time), wall_time(c.request_time),
            str(wait_s), str(static_cast<int64_t>((c.wait_seconds - double(wait_s)) * 1e6)), "0",
            ptr_text(c.ptr),
            c.has_server ? std::optional<std::string>(server_ptr(c.server_id)) : std::nullopt,
            str(int64_t(c.pid)), std::nullopt, c.application_name});
  }
  return rs;
}

ResultSet show_servers(runtime::Runtime& rt, const std::vector<session::ClientInfo>& clients) {
  ResultSet rs(connection_columns());
  auto now = Clock::now();
  for (const auto& c : clients) {
    if (!c.has_server) continue;
    rs.add({"S", c.user, c.database, "active", c.server_addr, str(int64_t(c.server_port)),
            "127.0.0.1", "0", wall_time(c.server_connect_time), wall_time(c.request_time), "0", "0",
            "0", server_ptr(c.server_id), ptr_text(c.ptr), str(int64_t(c.server_pid)), std::nullopt,
            c.application_name});
  }
  for (const auto& p : rt.pools().all()) {
    for (const auto& s : p->idle_servers(now)) {
      rs.add({"S", p->user(), p->database(), "idle", s.addr, str(int64_t(s.port)), "127.0.0.1", "0",
              wall_time(s.connect_seconds), wall_time(s.idle_seconds), "0", "0", "0",
              server_ptr(s.id), std::nullopt, str(int64_t(s.pid)), std::nullopt, ""});
    }
  }
  return rs;
}

// Sums per database, as PgBouncer's SHOW STATS does.
struct DbStats {
  pool::StatsTotals t;
  pool::StatsAverages a;
};
std::map<std::string, DbStats> stats_by_db(runtime::Runtime& rt) {
  std::map<std::string, DbStats> m;
  for (const auto& p : rt.pools().all()) {
    auto& d = m[p->database()];
    auto a = p->stats().averages();
    d.t += p->stats().totals();
    d.a.client_parse_count += a.client_parse_count;
    d.a.server_parse_count += a.server_parse_count;
    d.a.bind_count += a.bind_count;
    d.a.xact_count += a.xact_count;
    d.a.query_count += a.query_count;
    d.a.bytes_received += a.bytes_received;
    d.a.bytes_sent += a.bytes_sent;
    d.a.xact_time_us = std::max(d.a.xact_time_us, a.xact_time_us);
    d.a.query_time_us = std::max(d.a.query_time_us, a.query_time_us);
    d.a.wait_time_us = std::max(d.a.wait_time_us, a.wait_time_us);
  }
  return m;
}

ResultSet show_stats(runtime::Runtime& rt) {
  ResultSet rs({{"database", kText},
                {"total_xact_count", kNumeric},
                {"total_query_count", kNumeric},
                {"total_received", kNumeric},
                {"total_sent", kNumeric},
                {"total_xact_time", kNumeric},
                {"total_query_time", kNumeric},
                {"total_wait_time", kNumeric},
                {"total_client_parse_count", kNumeric},
                {"total_server_parse_count", kNumeric},
                {"total_bind_count", kNumeric},
                {"avg_xact_count", kNumeric},
                {"avg_query_count", kNumeric},
                {"avg_recv", kNumeric},
                {"avg_sent", kNumeric},
                {"avg_xact_time", kNumeric},
                {"avg_query_time", kNumeric},
                {"avg_wait_time", kNumeric},
                {"avg_client_parse_count", kNumeric},
                {"avg_server_parse_count", kNumeric},
                {"avg_bind_count", kNumeric}});
  for (const auto& [db, d] : stats_by_db(rt)) {
    rs.add({db,
            str(d.t.xact_count),
            str(d.t.query_count),
            str(d.t.bytes_received),
            str(d.t.bytes_sent),
            str(d.t.xact_time_us),
            str(d.t.query_time_us),
            str(d.t.wait_time_us),
            str(d.t.client_parse_count),
            str(d.t.server_parse_count),
            str(d.t.bind_count),
            str(d.a.xact_count),
            str(d.a.query_count),
            str(d.a.bytes_received),
            str(d.a.bytes_sent),
            str(d.a.xact_time_us),
            str(d.a.query_time_us),
            str(d.a.wait_time_us),
            str(d.a.client_parse_count),
            str(d.a.server_parse_count),
            str(d.a.bind_count)});
  }
  return rs;
}

ResultSet show_stats_part(runtime::Runtime& rt, bool totals) {
  ResultSet rs({{"database", kText},
                {"xact_count", kNumeric},
                {"query_count", kNumeric},
                {"bytes_received", kNumeric},
                {"bytes_sent", kNumeric},
                {"xact_time", kNumeric},
                {"query_time", kNumeric},
                {"wait_time", kNumeric}});
  for (const auto& [db, d] : stats_by_db(rt)) {
    if (totals) {
      rs.add({db, str(d.t.xact_count), str(d.t.query_count), str(d.t.bytes_received),
              str(d.t.bytes_sent), str(d.t.xact_time_us), str(d.t.query_time_us),
              str(d.t.wait_time_us)});
    } else {
      rs.add({db, str(d.a.xact_count), str(d.a.query_count), str(d.a.bytes_received),
              str(d.a.bytes_sent), str(d.a.xact_time_us), str(d.a.query_time_us),
              str(d.a.wait_time_us)});
    }
  }
  return rs;
}

ResultSet show_totals(runtime::Runtime& rt) {
  DbStats all;
  for (const auto& [db, d] : stats_by_db(rt)) {
    all.t += d.t;
    all.a.xact_count += d.a.xact_count;
    all.a.query_count += d.a.query_count;
    all.a.bytes_received += d.a.bytes_received;
    all.a.bytes_sent += d.a.bytes_sent;
    all.a.xact_time_us = std::max(all.a.xact_time_us, d.a.xact_time_us);
    all.a.query_time_us = std::max(all.a.query_time_us, d.a.query_time_us);
    all.a.wait_time_us = std::max(all.a.wait_time_us, d.a.wait_time_us);
  }
  ResultSet rs({{"name", kText}, {"value", kNumeric}});
  std::pair<const char*, uint64_t> rows[] = {
      {"total_xact_count", all.t.xact_count},       {"total_query_count", all.t.query_count},
      {"total_client_bytes", all.t.bytes_received}, {"total_server_bytes", all.t.bytes_sent},
      {"total_xact_time", all.t.xact_time_us},      {"total_query_time", all.t.query_time_us},
      {"total_wait_time", all.t.wait_time_us},      {"avg_xact_count", all.a.xact_count},
      {"avg_query_count", all.a.query_count},       {"avg_client_bytes", all.a.bytes_received},
      {"avg_server_bytes", all.a.bytes_sent},       {"avg_xact_time", all.a.xact_time_us},
      {"avg_query_time", all.a.query_time_us},      {"avg_wait_time", all.a.wait_time_us}};
  for (const auto& [name, v] : rows)
    rs.add({name, str(v)});
  return rs;
}

ResultSet show_databases(runtime::Runtime& rt) {
  auto cfg = rt.config();
  ResultSet rs({{"name", kText},
                {"host", kText},
                {"port", kInt4},
                {"database", kText},
                {"force_user", kText},
                {"pool_size", kInt4},
                {"min_pool_size", kInt4},
                {"reserve_pool", kInt4},
                {"pool_mode", kText},
                {"max_connections", kInt4},
                {"current_connections", kInt4},
                {"paused", kInt4},
                {"disabled", kInt4}});
  std::map<std::string, int> current;
  std::map<std::string, bool> paused;
  auto now = Clock::now();
  for (const auto& p : rt.pools().all())
    current[p->database()] += p->counts(now).total;
  auto add = [&](const config::DatabaseConfig& db) {
    rs.add({db.name, db.host, str(int64_t(db.port)), db.dbname.value_or(db.name),
            db.user ? std::optional<std::string>(*db.user) : std::nullopt,
            str(int64_t(db.pool_size.value_or(cfg->default_pool_size))),
            str(int64_t(db.min_pool_size.value_or(cfg->min_pool_size))),
            str(int64_t(db.reserve_pool_size.value_or(cfg->reserve_pool_size))),
            db.pool_mode ? std::optional<std::string>(mode_name(*db.pool_mode)) : std::nullopt,
            str(int64_t(db.max_db_connections.value_or(cfg->max_db_connections))),
            str(int64_t(current[db.name])), rt.paused(db.name) ? "1" : "0",
            rt.disabled(db.name) ? "1" : "0"});
  };
  // The admin console itself is listed, as in PgBouncer.
  rs.add({"pgbouncer", std::nullopt, str(int64_t(cfg->listen_port)), "pgbouncer", "pgbouncer", "2",
          "0", "0", "statement", "0", "0", "0", "0"});
  for (const auto& [name, db] : cfg->databases)
    add(db);
  return rs;
}

ResultSet show_users(runtime::Runtime& rt) {
  auto cfg = rt.config();
  ResultSet rs({{"name", kText}, {"pool_mode", kText}});
  std::set<std::string> names;
  for (const auto& [name, u] : cfg->users)
    names.insert(name);
  for (const auto& [name, secret] : cfg->auth_users)
    names.insert(name);
  for (const auto& name : names) {
    std::optional<std::string> mode;
    if (auto it = cfg->users.find(name); it != cfg->users.end() && it->second.pool_mode) {
      mode = mode_name(*it->second.pool_mode);
    }
    rs.add({name, mode});
  }
  return rs;
}

ResultSet show_config(runtime::Runtime& rt) {
  ResultSet rs({{"key", kText}, {"value", kText}, {"default", kText}, {"changeable", kText}});
  for (const auto& row : config::describe(*rt.config())) {
    rs.add({row.key, row.value, row.default_value, row.changeable ? "yes" : "no"});
  }
  return rs;
}

ResultSet show_lists(runtime::Runtime& rt, const std::vector<session::ClientInfo>& clients) {
  auto cfg = rt.config();
  auto now = Clock::now();
  int used_servers = 0, free_servers = 0, login = 0;
  for (const auto& p : rt.pools().all()) {
    auto c = p->counts(now);
    used_servers += c.active + c.login;
    free_servers += c.idle;
  }
  for (const auto& c : clients)
    login += c.state == "login";
  ResultSet rs({{"list", kText}, {"items", kInt4}});
  std::pair<const char*, int64_t> rows[] = {{"databases", int64_t(cfg->databases.size())},
                                            {"users", int64_t(cfg->auth_users.size())},
                                            {"pools", int64_t(rt.pools().all().size())},
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
ResultSet show_prepared_statements(runtime::Runtime& rt) {
  ResultSet rs({{"database", kText},
                {"user", kText},
                {"statements", kNumeric},
                {"client_parse_count", kNumeric},
                {"server_parse_count", kNumeric},
                {"bind_count", kNumeric},
                {"evictions", kNumeric},
                {"retries", kNumeric}});
  for (const auto& p : rt.pools().all()) {
    auto t = p->stats().totals();
    rs.add({p->database(), p->user(), str(p->statements().size()), str(t.client_parse_count),
            str(t.server_parse_count), str(t.bind_count), str(t.statement_evictions),
            str(t.statement_retries)});
  }
  return rs;
}

}  // namespace

std::string help_text() {
  return "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
         "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS|LISTS|STATE\n"
         "\tSHOW DNS_HOSTS|DNS_ZONES|PREPARED_STATEMENTS\n"
         "\tSET key = arg\n"
         "\tRELOAD\n"
         "\tPAUSE [<db>]\n"
         "\tRESUME [<db>]\n"
         "\tKILL <db>\n"
         "\tDISABLE <db>\n"
         "\tENABLE <db>\n"
         "\tRECONNECT [<db>]\n"
         "\tSHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS]";
}

asio::awaitable<Result<ResultSet>> show(runtime::Runtime& rt, const std::string& what) {
  if (what == "pools" || what == "clients" || what == "servers" || what == "lists") {
    auto clients = co_await gather_clients(rt);
    if (what == "pools") co_return show_pools(rt, clients);
    if (what == "clients") co_return show_clients(clients, rt.config()->listen_port);
    if (what == "servers") co_return show_servers(rt, clients);
    co_return show_lists(rt, clients);
  }
  if (what == "stats") co_return show_stats(rt);
  if (what == "stats_totals") co_return show_stats_part(rt, true);
  if (what == "stats_averages") co_return show_stats_part(rt, false);
  if (what == "totals") co_return show_totals(rt);
  if (what == "databases") co_return show_databases(rt);
  if (what == "prepared_statements") co_return show_prepared_statements(rt);
  if (what == "users") co_return show_users(rt);
  if (what == "config") co_return show_config(rt);
  if (what == "version") {
    ResultSet rs({{"version", kText}});
    rs.add({std::string(kVersionString)});
    co_return rs;
  }
  if (what == "state") {
    ResultSet rs({{"key", kText}, {"value", kText}});
    rs.add({"active", rt.paused() ? "no" : "yes"});
    rs.add({"paused", rt.paused() ? "yes" : "no"});
    rs.add({"suspended", "no"});
    co_return rs;
  }
  if (what == "dns_hosts")
    co_return ResultSet({{"hostname", kText}, {"ttl", kInt8}, {"addrs", kText}});
  if (what == "dns_zones")
    co_return ResultSet({{"zonename", kText}, {"serial", kInt8}, {"count", kInt4}});
  co_return make_error("08P01", "invalid command 'show " + what + "', use SHOW HELP;");
}

}  // namespace usher::admin
