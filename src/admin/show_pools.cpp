// SHOW POOLS, CLIENTS and SERVERS: the pools and the connections in them,
// with PgBouncer 1.26's columns.
#include <fmt/format.h>

#include <ctime>

#include "admin/console.h"
#include "admin/show_commands.h"

namespace usher::admin {

namespace {

// Usher has no replication connections: every socket is a normal one.
constexpr const char* kNoReplication = "none";

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

std::pair<int64_t, int64_t> seconds_and_micros(double seconds) {
  auto whole = static_cast<int64_t>(seconds);
  return {whole, static_cast<int64_t>((seconds - double(whole)) * 1e6)};
}

// PgBouncer 1.25: a logged-in client with no server is "idle".
const char* client_state(const session::ClientInfo& c) {
  if (c.state == "waiting") return "waiting";
  return c.has_server ? "active" : "idle";
}

}  // namespace

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
            c.tls,
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
            c.server_tls,
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
              s.tls,
              "",
              str(uint64_t(s.prepared_statements)),
              str(s.id)});
    }
  }
  return rs;
}

}  // namespace usher::admin
