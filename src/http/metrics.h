// /metrics: everything the console's SHOW STATS, POOLS, SERVERS, CLIENTS
// (as counts), LISTS and CACHE say, per database and user, latency
// histograms, and the process's own figures, in Prometheus' text format.
// The names are documented in docs/http.md.
#pragma once

#include <boost/asio.hpp>
#include <cstddef>
#include <string>

#include "admin/control.h"

namespace usher::http {

// Pools (database and user pairs) past this many are left out of the
// per-pool series, and usher_metrics_pools_omitted says how many: a flood
// of auto-databases or users must not make a scrape unbounded.
inline constexpr size_t kMaxMetricPools = 1000;

boost::asio::awaitable<std::string> render_metrics(admin::Control& control);

}  // namespace usher::http
