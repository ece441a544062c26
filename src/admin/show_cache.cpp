// SHOW CACHE: the result cache per database (docs/cache.md).
#include <cstdio>

#include "admin/show_commands.h"
#include "protocol/replication.h"

namespace usher::admin {

namespace {

std::string ratio(uint64_t part, uint64_t whole) {
  if (whole == 0) return "0.00";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", double(part) / double(whole));
  return buf;
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

}  // namespace usher::admin
