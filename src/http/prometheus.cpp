#include "http/prometheus.h"

#include <charconv>
#include <cmath>

#include "common/log_escape.h"

namespace usher::http {
namespace {

constexpr double kMicrosPerSecond = 1e6;

std::string_view type_name(PromWriter::Type t) {
  switch (t) {
    case PromWriter::Type::kCounter:
      return "counter";
    case PromWriter::Type::kGauge:
      return "gauge";
    case PromWriter::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string escape_label_value(std::string_view raw) {
  // A name from a client may hold any bytes; Prometheus refuses a whole
  // scrape over one that is not UTF-8.
  const std::string v = to_well_formed_utf8(raw);
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Fixed notation where it is short ("0.0001", as client libraries write
  // bucket bounds), the shortest form otherwise.
  const double a = std::fabs(v);
  const bool fixed = a == 0 || (a >= 1e-9 && a < 1e17);
  char buf[64];
  auto [end, ec] = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

void PromWriter::family(std::string_view name, Type type, std::string_view help) {
  name_ = name;
  out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type_name(type)).append("\n");
}

void PromWriter::series(std::string_view suffix, const Labels& labels, std::string_view extra_name,
                        std::string_view extra_value, double value) {
  out_.append(name_).append(suffix);
  if (!labels.empty() || !extra_name.empty()) {
    out_ += '{';
    bool first = true;
    auto label = [&](std::string_view n, std::string_view v) {
      if (!first) out_ += ',';
      first = false;
      out_.append(n).append("=\"").append(escape_label_value(v)).append("\"");
    };
    for (const auto& [n, v] : labels)
      label(n, v);
    if (!extra_name.empty()) label(extra_name, extra_value);
    out_ += '}';
  }
  out_.append(" ").append(format_value(value)).append("\n");
}

void PromWriter::sample(const Labels& labels, double value) {
  series("", labels, {}, {}, value);
}

void PromWriter::histogram(const Labels& labels, const pool::LatencySnapshot& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < pool::kLatencyBoundsUs.size(); ++i) {
    cumulative += h.counts[i];
    series("_bucket", labels, "le",
           format_value(static_cast<double>(pool::kLatencyBoundsUs[i]) / kMicrosPerSecond),
           static_cast<double>(cumulative));
  }
  cumulative += h.counts.back();
  series("_bucket", labels, "le", "+Inf", static_cast<double>(cumulative));
  series("_sum", labels, {}, {}, static_cast<double>(h.sum_us) / kMicrosPerSecond);
  series("_count", labels, {}, {}, static_cast<double>(cumulative));
}

}  // namespace usher::http
