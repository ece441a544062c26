#include "http/metrics.h"

#include <algorithm>
#include <array>
#include <map>
#include <tuple>

#include "admin/show.h"
#include "http/process_stats.h"
#include "http/prometheus.h"
#include "pool/pool_stats.h"
#include "version.h"

namespace usher::http {
namespace {

namespace asio = boost::asio;
using Type = PromWriter::Type;

constexpr double kMicrosPerSecond = 1e6;

// Each console counter (pool::kCounters) under a Prometheus name; times
// (microseconds there) in seconds here.
struct CounterMetric {
  pool::Counter id;
  std::string_view name;
  std::string_view help;
  bool micros = false;
};
constexpr CounterMetric kCounterMetrics[] = {
    {pool::Counter::kServerAssignments, "usher_server_assignments_total",
     "Times a server was assigned to a client (SHOW STATS total_server_assignment_count)."},
    {pool::Counter::kXactCount, "usher_transactions_total",
     "Transactions pooled (SHOW STATS total_xact_count)."},
    {pool::Counter::kQueryCount, "usher_queries_total",
     "Queries pooled (SHOW STATS total_query_count)."},
    {pool::Counter::kBytesReceived, "usher_client_received_bytes_total",
     "Bytes received from clients (SHOW STATS total_received)."},
    {pool::Counter::kBytesSent, "usher_client_sent_bytes_total",
     "Bytes sent to clients (SHOW STATS total_sent)."},
    {pool::Counter::kXactTime, "usher_transaction_seconds_total",
     "Time spent in transactions with a server (SHOW STATS total_xact_time).", true},
    {pool::Counter::kQueryTime, "usher_query_seconds_total",
     "Time spent in queries on a server (SHOW STATS total_query_time).", true},
    {pool::Counter::kWaitTime, "usher_client_wait_seconds_total",
     "Time clients waited for a server (SHOW STATS total_wait_time).", true},
    {pool::Counter::kClientParseCount, "usher_client_parses_total",
     "Prepared statements clients created (SHOW STATS total_client_parse_count)."},
    {pool::Counter::kServerParseCount, "usher_server_parses_total",
     "Prepared statements created on servers (SHOW STATS total_server_parse_count)."},
    {pool::Counter::kBindCount, "usher_binds_total",
     "Prepared statements run (SHOW STATS total_bind_count)."},
    {pool::Counter::kClientLoginCount, "usher_client_logins_total",
     "Clients that logged in (SHOW STATS total_client_login_count)."},
    {pool::Counter::kStatementEvictions, "usher_prepared_statement_evictions_total",
     "Prepared statements closed on a server to stay within max_prepared_statements."},
    {pool::Counter::kStatementRetries, "usher_prepared_statement_retries_total",
     "Statements prepared again on a server after 0A000 and run again."},
};
static_assert(std::size(kCounterMetrics) == pool::kCounterCount,
              "every console counter has a metric");

struct HistogramMetric {
  pool::Latency which;
  std::string_view name;
  std::string_view help;
};
constexpr HistogramMetric kHistograms[] = {
    {pool::Latency::kQuery, "usher_query_duration_seconds",
     "Query time on a server, from the query sent to its answer."},
    {pool::Latency::kXact, "usher_transaction_duration_seconds",
     "Transaction time with a server, from its first query to its end."},
    {pool::Latency::kWait, "usher_client_wait_duration_seconds",
     "Time a client waited for a server, per server assignment."},
    {pool::Latency::kConnect, "usher_server_connect_duration_seconds",
     "Time to open and log in a server connection."},
};

// Rows of SHOW POOLS, CLIENTS and SERVERS past this many pools' worth are
// left out too.
constexpr size_t kMaxSeriesPerFamily = 4 * kMaxMetricPools;

// SHOW CACHE's columns that are levels, not counts since the start.
constexpr std::array<std::string_view, 2> kCacheGauges = {"entries", "bytes"};

// The columns of a result set by name.
std::optional<size_t> column(const admin::ResultSet& rs, std::string_view name) {
  const auto& cols = rs.columns();
  for (size_t i = 0; i < cols.size(); ++i)
    if (cols[i].name == name) return i;
  return std::nullopt;
}

std::string_view text(const std::vector<std::optional<std::string>>& row, size_t i) {
  return i < row.size() && row[i] ? std::string_view(*row[i]) : std::string_view();
}

double number(const std::vector<std::optional<std::string>>& row, size_t i) {
  const std::string_view t = text(row, i);
  if (t.empty()) return 0;
  try {
    return std::stod(std::string(t));
  } catch (const std::exception&) {
    return 0;
  }
}

bool numeric(const admin::Column& c) {
  return c.type_oid == admin::kInt4 || c.type_oid == admin::kInt8 || c.type_oid == admin::kNumeric;
}

void write_pools(PromWriter& w, const std::vector<std::shared_ptr<pool::Pool>>& pools) {
  auto labels = [](const pool::Pool& p) {
    return Labels{{"database", p.database()}, {"user", p.user()}};
  };
  std::vector<pool::StatsTotals> totals;
  totals.reserve(pools.size());
  for (const auto& p : pools)
    totals.push_back(p->stats().totals());
  for (const CounterMetric& m : kCounterMetrics) {
    w.family(m.name, Type::kCounter, m.help);
    for (size_t i = 0; i < pools.size(); ++i) {
      const double v = static_cast<double>(totals[i][m.id]);
      w.sample(labels(*pools[i]), m.micros ? v / kMicrosPerSecond : v);
    }
  }
  for (const HistogramMetric& h : kHistograms) {
    w.family(h.name, Type::kHistogram, h.help);
    for (const auto& p : pools)
      w.histogram(labels(*p), p->stats().latency(h.which));
  }
}

// SHOW POOLS' numeric columns, one gauge each (maxwait in seconds).
void write_pool_gauges(PromWriter& w, const admin::ResultSet& rs) {
  auto db = column(rs, "database"), user = column(rs, "user");
  auto wait = column(rs, "maxwait"), wait_us = column(rs, "maxwait_us");
  if (!db || !user) return;
  const auto& cols = rs.columns();
  for (size_t c = 0; c < cols.size(); ++c) {
    if (!numeric(cols[c]) || c == wait || c == wait_us) continue;
    w.family("usher_pool_" + cols[c].name, Type::kGauge,
             "SHOW POOLS " + cols[c].name + ", per database and user.");
    for (size_t r = 0; r < rs.rows().size() && r < kMaxSeriesPerFamily; ++r) {
      const auto& row = rs.rows()[r];
      w.sample({{"database", text(row, *db)}, {"user", text(row, *user)}}, number(row, c));
    }
  }
  if (!wait || !wait_us) return;
  w.family("usher_pool_maxwait_seconds", Type::kGauge,
           "How long the oldest waiting client has waited (SHOW POOLS maxwait, maxwait_us).");
  for (size_t r = 0; r < rs.rows().size() && r < kMaxSeriesPerFamily; ++r) {
    const auto& row = rs.rows()[r];
    w.sample({{"database", text(row, *db)}, {"user", text(row, *user)}},
             number(row, *wait) + number(row, *wait_us) / kMicrosPerSecond);
  }
}

// SHOW CLIENTS or SERVERS as counts per database, user and state.
void write_connection_counts(PromWriter& w, std::string_view name, std::string_view help,
                             const admin::ResultSet& rs) {
  auto db = column(rs, "database"), user = column(rs, "user"), state = column(rs, "state");
  w.family(name, Type::kGauge, help);
  if (!db || !user || !state) return;
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, double> counts;
  for (const auto& row : rs.rows()) {
    auto key = std::make_tuple(text(row, *db), text(row, *user), text(row, *state));
    if (counts.size() >= kMaxSeriesPerFamily && counts.count(key) == 0) continue;
    counts[key] += 1;
  }
  for (const auto& [key, n] : counts) {
    const auto& [d, u, s] = key;
    w.sample({{"database", d}, {"user", u}, {"state", s}}, n);
  }
}

void write_lists(PromWriter& w, const admin::ResultSet& rs) {
  auto list = column(rs, "list"), items = column(rs, "items");
  w.family("usher_list_items", Type::kGauge, "SHOW LISTS: items per list.");
  if (!list || !items) return;
  for (const auto& row : rs.rows())
    w.sample({{"list", text(row, *list)}}, number(row, *items));
}

void write_cache(PromWriter& w, const admin::ResultSet& rs) {
  auto db = column(rs, "database"), state = column(rs, "state");
  if (!db || !state) return;
  w.family("usher_cache_state", Type::kGauge,
           "The query cache's state per database (SHOW CACHE state), 1 for the current one.");
  for (const auto& row : rs.rows())
    w.sample({{"database", text(row, *db)}, {"state", text(row, *state)}}, 1);
  const auto& cols = rs.columns();
  for (size_t c = 0; c < cols.size(); ++c) {
    // hit_ratio is hits over hits and misses: Prometheus computes it.
    if (cols[c].type_oid != admin::kInt8) continue;
    const bool gauge =
        std::find(kCacheGauges.begin(), kCacheGauges.end(), cols[c].name) != kCacheGauges.end();
    w.family(gauge ? "usher_cache_" + cols[c].name : "usher_cache_" + cols[c].name + "_total",
             gauge ? Type::kGauge : Type::kCounter,
             "SHOW CACHE " + cols[c].name + ", per database.");
    for (const auto& row : rs.rows())
      w.sample({{"database", text(row, *db)}}, number(row, c));
  }
}

void write_process(PromWriter& w) {
  auto s = read_process_stats();
  if (!s) return;
  const std::pair<std::string_view, std::pair<Type, std::string_view>> rows[] = {
      {"process_cpu_seconds_total", {Type::kCounter, "User and system CPU time, in seconds."}},
      {"process_resident_memory_bytes", {Type::kGauge, "Resident memory, in bytes."}},
      {"process_virtual_memory_bytes", {Type::kGauge, "Virtual memory, in bytes."}},
      {"process_start_time_seconds",
       {Type::kGauge, "Start time of the process since the Unix epoch, in seconds."}},
      {"process_open_fds", {Type::kGauge, "Open file descriptors."}},
      {"process_max_fds", {Type::kGauge, "The limit on open file descriptors."}},
      {"process_threads", {Type::kGauge, "Threads of the process."}},
  };
  const double values[] = {
      s->cpu_seconds, s->resident_bytes, s->virtual_bytes, s->start_time_seconds,
      s->open_fds,    s->max_fds,        s->threads};
  for (size_t i = 0; i < std::size(rows); ++i) {
    w.family(rows[i].first, rows[i].second.first, rows[i].second.second);
    w.sample({}, values[i]);
  }
}

}  // namespace

asio::awaitable<std::string> render_metrics(admin::Control& control) {
  PromWriter w;
  w.family("usher_build_info", Type::kGauge, "Usher's version, in the label.");
  w.sample({{"version", kVersionString}}, 1);
  w.family("usher_paused", Type::kGauge, "1 while PAUSE (of everything) is in force.");
  w.sample({}, control.paused() ? 1 : 0);
  w.family("usher_shutting_down", Type::kGauge, "1 once a shutdown has begun.");
  w.sample({}, control.shutdown_mode() != admin::ShutdownMode::kNone ? 1 : 0);

  auto pools = control.pools().all();
  const size_t omitted = pools.size() > kMaxMetricPools ? pools.size() - kMaxMetricPools : 0;
  pools.resize(std::min(pools.size(), kMaxMetricPools));
  w.family("usher_metrics_pools_omitted", Type::kGauge,
           "Pools left out of the per-pool series (more than the limit of 1000).");
  w.sample({}, static_cast<double>(omitted));
  write_pools(w, pools);

  if (auto rs = co_await admin::show(control, "pools")) write_pool_gauges(w, *rs);
  if (auto rs = co_await admin::show(control, "clients"))
    write_connection_counts(w, "usher_clients", "Clients per database, user and state.", *rs);
  if (auto rs = co_await admin::show(control, "servers"))
    write_connection_counts(w, "usher_servers", "Server connections per database, user and state.",
                            *rs);
  if (auto rs = co_await admin::show(control, "lists")) write_lists(w, *rs);
  if (auto rs = co_await admin::show(control, "cache")) write_cache(w, *rs);
  write_process(w);
  co_return w.take();
}

}  // namespace usher::http
