// Prometheus' text exposition format (0.0.4): families with # HELP and
// # TYPE, samples with escaped label values, histograms with cumulative
// `le` buckets. Pure; metrics.cpp decides what is written.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pool/latency.h"

namespace usher::http {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

class PromWriter {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Starts a family; every sample until the next family belongs to it.
  void family(std::string_view name, Type type, std::string_view help);
  // A counter's or gauge's sample, under the family's name.
  void sample(const Labels& labels, double value);
  // A histogram's buckets (microseconds in, seconds out), _sum and _count.
  void histogram(const Labels& labels, const pool::LatencySnapshot& h);

  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view suffix, const Labels& labels, std::string_view extra_name,
              std::string_view extra_value, double value);

  std::string out_;
  std::string name_;
};

// A label value with \\, " and newline escaped, as the format asks, and
// bytes that are not UTF-8 replaced by U+FFFD.
std::string escape_label_value(std::string_view v);
// A sample value: integers without a fraction, others in the shortest form
// that reads back the same; NaN and infinities by the format's names.
std::string format_value(double v);

}  // namespace usher::http
