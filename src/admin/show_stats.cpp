// SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS, per database as
// PgBouncer sums them, and Usher's SHOW PREPARED_STATEMENTS, per pool: all
// read pool::kCounters.
#include <algorithm>
#include <map>
#include <string_view>

#include "admin/show_commands.h"
#include "pool/pool_stats.h"

namespace usher::admin {

namespace {

// Rates add up over pools; per-event times (xact, query, wait) are not
// rates, so the largest pool's figure stands for the database.
void add_averages(pool::StatsAverages& into, const pool::StatsAverages& a) {
  for (const pool::CounterSpec& c : pool::kCounters) {
    if (c.average == pool::Average::kRate) {
      into[c.id] += a[c.id];
    } else {
      into[c.id] = std::max(into[c.id], a[c.id]);
    }
  }
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

// One database's figures in PgBouncer 1.26's column order (kCounters'):
// the counters of SHOW STATS_TOTALS, or (SHOW STATS_AVERAGES) the same as
// averages.
Row values_row(const pool::CounterValues& v) {
  Row row;
  for (const pool::CounterSpec& c : pool::kCounters) {
    if (c.in_show_stats()) row.push_back(str(v[c.id]));
  }
  return row;
}

// Column names in the order of values_row(): `prefix`, then the name that
// `name_of` picks for each counter. PgBouncer names the same figure
// differently in each command (its issue #1247).
template <typename NameOf>
std::vector<std::string> counter_names(std::string_view prefix, NameOf name_of) {
  std::vector<std::string> out;
  for (const pool::CounterSpec& c : pool::kCounters) {
    if (c.in_show_stats()) out.push_back(std::string(prefix).append(name_of(c)));
  }
  return out;
}
std::vector<std::string> counter_names(std::string_view prefix,
                                       std::string_view pool::ConsoleNames::*name) {
  return counter_names(prefix, [name](const pool::CounterSpec& c) { return c.console.*name; });
}

std::vector<Column> database_then(std::initializer_list<std::vector<std::string>> groups) {
  std::vector<Column> cols{{"database", kText}};
  for (const auto& names : groups)
    for (const auto& n : names)
      cols.push_back({n, kNumeric});
  return cols;
}

Row with_name(std::string name, Row values) {
  values.insert(values.begin(), std::move(name));
  return values;
}

}  // namespace

ResultSet show_stats(Control& control) {
  ResultSet rs(database_then({counter_names("total_", &pool::ConsoleNames::stats),
                              counter_names("avg_", &pool::ConsoleNames::stats_avg)}));
  for (const auto& [db, d] : stats_by_db(control)) {
    Row row = with_name(db, values_row(d.t));
    Row avg = values_row(d.a);
    row.insert(row.end(), avg.begin(), avg.end());
    rs.add(std::move(row));
  }
  return rs;
}

ResultSet show_stats_totals(Control& control) {
  ResultSet rs(
      database_then({counter_names("", [](const pool::CounterSpec& c) { return c.name; })}));
  for (const auto& [db, d] : stats_by_db(control))
    rs.add(with_name(db, values_row(d.t)));
  return rs;
}

ResultSet show_stats_averages(Control& control) {
  ResultSet rs(database_then({counter_names("", &pool::ConsoleNames::averages)}));
  for (const auto& [db, d] : stats_by_db(control))
    rs.add(with_name(db, values_row(d.a)));
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
  add_rows(counter_names("total_", &pool::ConsoleNames::totals), values_row(all.t));
  add_rows(counter_names("avg_", &pool::ConsoleNames::totals), values_row(all.a));
  return rs;
}

// Usher's own: prepared statements per pool (transaction and statement mode).
ResultSet show_prepared_statements(Control& control) {
  constexpr pool::Counter kShown[] = {
      pool::Counter::kClientParseCount, pool::Counter::kServerParseCount, pool::Counter::kBindCount,
      pool::Counter::kStatementEvictions, pool::Counter::kStatementRetries};
  std::vector<Column> cols{{"database", kText}, {"user", kText}, {"statements", kNumeric}};
  for (pool::Counter c : kShown)
    cols.push_back({std::string(pool::counter_spec(c).name), kNumeric});
  ResultSet rs(std::move(cols));
  for (const auto& p : control.pools().all()) {
    auto t = p->stats().totals();
    Row row{p->database(), p->user(), str(p->statements().size())};
    for (pool::Counter c : kShown)
      row.push_back(str(t[c]));
    rs.add(std::move(row));
  }
  return rs;
}

}  // namespace usher::admin
