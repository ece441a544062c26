#include "http/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace usher::http {
namespace {

// Seconds since the epoch at which the machine booted (/proc/stat btime).
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 16, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessStats> read_process_stats() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces: the
  // fields after it are counted from the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string w; rest >> w;)
    f.push_back(w);
  // Fields 14-15 utime/stime, 20 num_threads, 22 starttime, 23 vsize, 24 rss.
  constexpr size_t kFirst = 3;
  auto field = [&](size_t n) { return std::stod(f.at(n - kFirst)); };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcessStats s;
  try {
    s.cpu_seconds = (field(14) + field(15)) / ticks;
    s.threads = field(20);
    s.virtual_bytes = field(23);
    s.resident_bytes = field(24) * page;
    if (auto boot = boot_time()) s.start_time_seconds = *boot + field(22) / ticks;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++fds;
  s.open_fds = fds;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = static_cast<double>(limit.rlim_cur);
  return s;
}

}  // namespace usher::http
