// SHOW CACHE: the result cache per database; SHOW CACHE_QUERIES: per
// statement shape; CACHE EXPLAIN: what the cache makes of one statement
// (docs/cache.md, "The console").
#include <algorithm>
#include <cstdio>

#include "admin/show.h"
#include "admin/show_commands.h"
#include "cache/statements.h"
#include "protocol/replication.h"
#include "protocol/sqlstate.h"
#include "sql/analysis.h"

namespace usher::admin {

namespace {

std::string ratio(uint64_t part, uint64_t whole) {
  if (whole == 0) return "0.00";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", double(part) / double(whole));
  return buf;
}

std::string hex(uint64_t fingerprint) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fingerprint));
  return buf;
}

// "reason: n, reason: n", most frequent first.
std::string reasons(const cache::QueryRecord::Counts& counts) {
  std::string out;
  for (const auto& [why, n] : counts.reasons) {
    if (!out.empty()) out += ", ";
    out.append(why);
    out += ": " + str(n);
  }
  return out;
}

std::string_view kind_name(sql::StatementKind kind) {
  switch (kind) {
    case sql::StatementKind::kRead:
      return "read";
    case sql::StatementKind::kWrite:
      return "write";
    case sql::StatementKind::kTransaction:
      return "transaction control";
    case sql::StatementKind::kSetting:
      return "setting";
    case sql::StatementKind::kHarmless:
      return "utility";
    case sql::StatementKind::kUnknown:
      return "unknown";
  }
  return "unknown";
}

// A table_id() as schema.name.
std::string table_name(std::string_view id) {
  std::string out(id);
  std::replace(out.begin(), out.end(), '\0', '.');
  return out;
}

}  // namespace

ResultSet show_cache(Control& control) {
  ResultSet rs({{"database", kText},
                {"state", kText},
                {"entries", kInt8},
                {"bytes", kInt8},
                {"hits", kInt8},
                {"misses", kInt8},
                {"hit_ratio", kNumeric},
                {"uncacheable", kInt8},
                {"fills", kInt8},
                {"invalidations_stream", kInt8},
                {"invalidations_catalog", kInt8},
                {"invalidations_proxy", kInt8},
                {"flushes_gap", kInt8},
                {"flushes_unknown_commit", kInt8},
                {"flushes_console", kInt8},
                {"applied_lsn", kText},
                {"barrier_lsn", kText},
                {"evictions", kInt8},
                {"refused_stale_fills", kInt8}});
  cache::Cache* cache = control.cache();
  if (!cache) return rs;
  const cache::StoreStats all = cache->store().stats();
  for (const auto& d : cache->domains()) {
    const cache::StoreStats mine = cache->store().db_stats(d->id());
    const auto state = d->state();
    const auto& l = d->lookups();
    const auto& c = d->counts();
    const uint64_t hits = l.hits.load(), misses = l.misses.load();
    rs.add({d->database(), state.state, str(mine.entries), str(mine.bytes), str(hits), str(misses),
            ratio(hits, hits + misses), str(l.uncacheable.load()), str(l.fills.load()),
            str(c.stream_tables.load()), str(c.stream_catalog.load()), str(c.proxy_tables.load()),
            str(c.stream_gaps.load()), str(c.unknown_commits.load()), str(c.console.load()),
            protocol::format_lsn(state.applied_lsn), protocol::format_lsn(state.barrier_lsn),
            str(all.evictions), str(all.refused_stale_fills)});
  }
  return rs;
}

ResultSet show_cache_queries(Control& control) {
  ResultSet rs({{"database", kText},
                {"fingerprint", kText},
                {"calls", kInt8},
                {"hits", kInt8},
                {"misses", kInt8},
                {"refused", kInt8},
                {"stored", kInt8},
                {"hit_ratio", kNumeric},
                {"reasons", kText},
                {"query", kText}});
  cache::Cache* cache = control.cache();
  if (!cache) return rs;
  for (const auto& d : cache->domains()) {
    struct Row {
      const cache::QueryRecord* record;
      cache::QueryRecord::Counts counts;
    };
    const auto records = d->queries().records();
    std::vector<Row> rows;
    rows.reserve(records.size());
    for (const auto& r : records)
      rows.push_back({r.get(), r->counts()});
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      if (a.counts.calls() != b.counts.calls()) return a.counts.calls() > b.counts.calls();
      return a.record->fingerprint() < b.record->fingerprint();
    });
    for (const Row& r : rows) {
      const auto& c = r.counts;
      rs.add({d->database(), hex(r.record->fingerprint()), str(c.calls()), str(c.hits),
              str(c.misses), str(c.refused), str(c.stored), ratio(c.hits, c.calls()), reasons(c),
              r.record->text()});
    }
  }
  return rs;
}

Result<ResultSet> explain_cache(Control& control, const std::string& database,
                                std::string_view statement) {
  cache::Cache* cache = control.cache();
  auto domain = cache ? cache->find(database) : nullptr;
  if (!domain) {
    return make_error(std::string(protocol::sqlstate::protocol_violation),
                      "no cache for database " + database +
                          " (query_cache is off for it, or no client has used it yet)");
  }
  const config::Config& config = *control.config();
  // Decided as a client's statement is, with the settings it would have
  // (standard_conforming_strings on), and counted nowhere.
  const auto catalog = domain->catalog();
  const cache::StatementInfo info =
      cache::decide(catalog.get(), statement, true, domain->mode() == cache::Invalidation::kProxy,
                    config.query_cache_tables, config.query_cache_exclude_tables, nullptr);
  const bool cacheable = info.kind == sql::StatementKind::kRead && info.refusal.empty();
  std::string tables;
  for (const auto& t : info.tables) {
    if (!tables.empty()) tables += ", ";
    tables += table_name(t);
  }
  const std::string normalized = sql::statement_texts(statement, true).normalized;
  const uint64_t fp = sql::fingerprint(normalized);
  auto record = normalized.empty() ? nullptr : domain->queries().find(fp);
  const auto counts = record ? record->counts() : cache::QueryRecord::Counts{};
  std::string ttl = info.ttl_ms >= 0 ? str(info.ttl_ms) + "ms"
                    : config.query_cache_ttl.count() > 0
                        ? str(config.query_cache_ttl.count()) + "ms"
                        : "until invalidated";
  ResultSet rs({{"database", kText},
                {"cacheable", kText},
                {"reason", kText},
                {"kind", kText},
                {"tables", kText},
                {"ttl", kText},
                {"database_state", kText},
                {"fingerprint", kText},
                {"calls", kInt8},
                {"hits", kInt8},
                {"misses", kInt8},
                {"refused", kInt8},
                {"reasons", kText},
                {"query", kText}});
  rs.add({database, cacheable ? "yes" : "no", std::string(info.refusal),
          std::string(kind_name(info.kind)), tables,
          cacheable ? std::optional<std::string>(ttl) : std::nullopt, domain->state().state,
          normalized.empty() ? std::nullopt : std::optional<std::string>(hex(fp)),
          str(counts.calls()), str(counts.hits), str(counts.misses), str(counts.refused),
          reasons(counts), normalized});
  return rs;
}

}  // namespace usher::admin
