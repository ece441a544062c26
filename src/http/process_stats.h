// The process's own figures for /metrics, under the names every Prometheus
// client library uses (process_cpu_seconds_total and friends), read from
// /proc/self. Linux only, as Usher is.
#pragma once

#include <optional>

namespace usher::http {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double open_fds = 0;
  double max_fds = 0;
  double threads = 0;
};

// nullopt when /proc/self cannot be read (then the process metrics are
// left out, not made up).
std::optional<ProcessStats> read_process_stats();

}  // namespace usher::http
