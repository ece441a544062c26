#include "runtime/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/log_escape.h"

namespace usher::runtime {

namespace {

// The time zone's abbreviation, as PgBouncer writes it ("UTC", "CET"):
// spdlog has no flag of its own for it.
class ZoneFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm& tm,
              spdlog::memory_buf_t& dest) override {
    char zone[16];
    size_t n = std::strftime(zone, sizeof zone, "%Z", &tm);
    dest.append(zone, zone + n);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ZoneFlag>();
  }
};

// The message with control characters escaped (common/log_escape.h), in
// place of spdlog's %v: messages quote user names, database names and
// server errors, and none of them may start a line of its own.
class EscapedMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    if (!needs_log_escape(text)) {
      dest.append(text.data(), text.data() + text.size());
      return;
    }
    std::string escaped = escape_for_log(text);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<EscapedMessageFlag>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(const std::string& pattern) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<ZoneFlag>('Z').add_flag<EscapedMessageFlag>('*').set_pattern(pattern);
  return formatter;
}

// log_format = json: one object a line (common/log_escape.h), the time in
// UTC as RFC 3339 with milliseconds, so that it sorts and parses anywhere.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since = msg.time.time_since_epoch();
    const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since).count();
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char time[40];
    const size_t n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(time + n, sizeof time - n, ".%03dZ", static_cast<int>(millis));
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line = json_log_line(
        time, static_cast<long>(getpid()), std::string_view(level.data(), level.size()),
        std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> line_format(const config::Config& c) {
  if (c.log_format == "json") return std::make_unique<JsonFormatter>();
  return make_formatter("%Y-%m-%d %H:%M:%S.%e %Z [%P] %^%l%$ %*");
}

// syslog_facility's value (checked when the configuration was loaded).
int syslog_facility(const std::string& name) {
  static const std::map<std::string, int> kFacilities = {
      {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"daemon", LOG_DAEMON},
      {"user", LOG_USER},     {"local0", LOG_LOCAL0},     {"local1", LOG_LOCAL1},
      {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},     {"local4", LOG_LOCAL4},
      {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},     {"local7", LOG_LOCAL7}};
  auto it = kFacilities.find(name);
  return it == kFacilities.end() ? LOG_DAEMON : it->second;
}

struct State {
  // The logger writes to one dist_sink whose members are swapped under its
  // lock: replacing the default logger itself would race with other threads.
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist;
  bool to_stderr = true;
  int verbose = 0;
};

State& state() {
  static State s;
  return s;
}

std::vector<spdlog::sink_ptr> make_sinks(const config::Config& c) {
  std::vector<spdlog::sink_ptr> sinks;
  if (state().to_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!c.logfile.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(c.logfile));
    } catch (const spdlog::spdlog_ex& e) {
      // Keep logging elsewhere; the message reaches whatever sinks remain.
      spdlog::error("cannot open logfile {}: {}", c.logfile, e.what());
    }
  }
  for (auto& sink : sinks)
    sink->set_formatter(line_format(c));
  if (c.syslog) {
    // syslog adds its own time stamp and pid: only the level and message.
    auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>(
        c.syslog_ident, LOG_PID, syslog_facility(c.syslog_facility), true);
    sink->set_formatter(make_formatter("%l %*"));
    sinks.push_back(std::move(sink));
  }
  return sinks;
}

spdlog::level::level_enum level_for(int verbose) {
  return verbose >= 2   ? spdlog::level::trace
         : verbose == 1 ? spdlog::level::debug
                        : spdlog::level::info;
}

}  // namespace

void setup_logging(bool to_stderr, int verbose, const config::Config& c) {
  State& s = state();
  s.to_stderr = to_stderr;
  s.verbose = verbose;
  s.dist = std::make_shared<spdlog::sinks::dist_sink_mt>(make_sinks(c));
  auto logger = std::make_shared<spdlog::logger>("usher", s.dist);
  logger->set_level(level_for(std::max(verbose, c.verbose)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void reopen_logging(const config::Config& c) {
  State& s = state();
  if (!s.dist) return;
  s.dist->set_sinks(make_sinks(c));
  spdlog::default_logger_raw()->set_level(level_for(std::max(s.verbose, c.verbose)));
}

}  // namespace usher::runtime
