#include "config/values.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

namespace usher::config {

namespace {

struct PoolModeName {
  PoolMode mode;
  std::string_view name;
};
constexpr std::array<PoolModeName, 3> kPoolModes{{
    {PoolMode::kSession, "session"},
    {PoolMode::kTransaction, "transaction"},
    {PoolMode::kStatement, "statement"},
}};

struct AuthTypeName {
  AuthType type;
  std::string_view name;
};
constexpr std::array<AuthTypeName, 9> kAuthTypes{{
    {AuthType::kTrust, "trust"},
    {AuthType::kAny, "any"},
    {AuthType::kPlain, "plain"},
    {AuthType::kMd5, "md5"},
    {AuthType::kScramSha256, "scram-sha-256"},
    {AuthType::kCert, "cert"},
    {AuthType::kHba, "hba"},
    {AuthType::kPam, "pam"},
    {AuthType::kLdap, "ldap"},
}};

struct Unit {
  std::string_view name;
  double ms;
};
// Longest names first is not needed: units are matched whole.
constexpr std::array<Unit, 5> kUnits{{
    {"ms", 1.0},
    {"s", 1000.0},
    {"min", 60'000.0},
    {"h", 3'600'000.0},
    {"d", 86'400'000.0},
}};

// Memory units as PostgreSQL spells them; matched case-insensitively.
struct SizeUnit {
  std::string_view name;
  std::int64_t bytes;
};
// Largest first: format_byte_size() takes the first that divides exactly.
constexpr std::array<SizeUnit, 5> kSizeUnits{{
    {"TB", kTerabyte},
    {"GB", kGigabyte},
    {"MB", kMegabyte},
    {"kB", kKilobyte},
    {"B", 1},
}};

struct CacheInvalidationName {
  CacheInvalidation invalidation;
  std::string_view name;
};
constexpr std::array<CacheInvalidationName, 2> kCacheInvalidations{{
    {CacheInvalidation::kReplication, "replication"},
    {CacheInvalidation::kProxy, "proxy"},
}};

// A century: anything larger is a typo, and it keeps the arithmetic far from
// overflowing a 64-bit count of milliseconds.
constexpr double kMaxDurationMs = 100.0 * 365 * 86'400'000.0;

constexpr long long kIntMax = 2147483647;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string to_octal(long long value) {
  std::string out;
  do {
    out.insert(out.begin(), static_cast<char>('0' + value % 8));
    value /= 8;
  } while (value > 0);
  return out;
}

}  // namespace

std::string_view to_string(PoolMode mode) {
  for (const auto& entry : kPoolModes) {
    if (entry.mode == mode) return entry.name;
  }
  return "session";
}

std::string_view to_string(AuthType type) {
  for (const auto& entry : kAuthTypes) {
    if (entry.type == type) return entry.name;
  }
  return "md5";
}

std::string_view to_string(CacheInvalidation invalidation) {
  for (const auto& entry : kCacheInvalidations) {
    if (entry.invalidation == invalidation) return entry.name;
  }
  return "replication";
}

bool is_supported(AuthType type) {
  switch (type) {
    case AuthType::kTrust:
    case AuthType::kAny:
    case AuthType::kPlain:
    case AuthType::kMd5:
    case AuthType::kScramSha256:
    case AuthType::kCert:
    case AuthType::kHba:
      return true;
    case AuthType::kPam:
    case AuthType::kLdap:
      return false;
  }
  return false;
}

Error config_error(std::string message) {
  return make_error(std::string(kConfigErrorState), std::move(message));
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<bool> parse_bool(std::string_view text) {
  const std::string v = to_lower(trim(text));
  if (v == "yes" || v == "on" || v == "true") return true;
  if (v == "no" || v == "off" || v == "false") return false;
  long long number = 0;
  const char* end = v.data() + v.size();
  const auto [ptr, ec] = std::from_chars(v.data(), end, number);
  if (!v.empty() && ec == std::errc() && ptr == end) return number != 0;
  return config_error("expected 0, 1, yes, no, on, off, true or false");
}

Result<int> parse_int(std::string_view text, long long min, long long max, int base) {
  auto v = parse_integer(text, min, std::min(max, kIntMax), base);
  if (!v.ok()) return v.take_error();
  return static_cast<int>(*v);
}

Result<long long> parse_integer(std::string_view text, long long min, long long max, int base) {
  const std::string_view v = trim(text);
  auto range_text = [&] {
    if (base == 8) return "expected an octal mode between 0 and 0" + to_octal(max);
    if (max >= kIntMax) return "expected an integer >= " + std::to_string(min);
    return "expected an integer between " + std::to_string(min) + " and " + std::to_string(max);
  };
  long long value = 0;
  const char* begin = v.data();
  const char* end = v.data() + v.size();
  if (v.empty()) return config_error(range_text());
  const auto [ptr, ec] = std::from_chars(begin, end, value, base);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    return config_error(range_text());
  }
  return value;
}

Result<Duration> parse_duration(std::string_view text) {
  static constexpr std::string_view kExpected =
      "expected a duration in seconds (e.g. 30 or 0.5) or with a unit (ms, s, min, h, d)";
  const std::string_view v = trim(text);
  size_t pos = 0;
  double whole = 0;
  int digits = 0;
  while (pos < v.size() && is_digit(v[pos])) {
    whole = whole * 10 + (v[pos] - '0');
    ++pos;
    ++digits;
  }
  double fraction = 0;
  if (pos < v.size() && v[pos] == '.') {
    ++pos;
    double scale = 0.1;
    while (pos < v.size() && is_digit(v[pos])) {
      fraction += (v[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
  }
  if (digits == 0) return config_error(std::string(kExpected));
  const std::string unit = to_lower(trim(v.substr(pos)));
  double unit_ms = 1000.0;
  if (!unit.empty()) {
    bool found = false;
    for (const auto& u : kUnits) {
      if (u.name == unit) {
        unit_ms = u.ms;
        found = true;
        break;
      }
    }
    if (!found) return config_error(std::string(kExpected));
  }
  const double ms = (whole + fraction) * unit_ms;
  if (!(ms <= kMaxDurationMs)) {
    return config_error("expected a duration of at most 100 years");
  }
  auto rounded = static_cast<std::int64_t>(std::llround(ms));
  if (rounded == 0 && ms > 0) rounded = 1;
  return Duration(rounded);
}

std::string format_duration(Duration d) {
  const auto ms = d.count();
  std::string out = std::to_string(ms / 1000);
  const auto rest = ms % 1000;
  if (rest != 0) {
    std::string frac = std::to_string(rest);
    frac.insert(frac.begin(), 3 - frac.size(), '0');
    while (frac.back() == '0')
      frac.pop_back();
    out += "." + frac;
  }
  return out;
}

Result<ByteSize> parse_byte_size(std::string_view text, std::int64_t min, std::int64_t max) {
  static constexpr std::string_view kExpected =
      "expected a number of bytes or a whole number with a unit (kB, MB, GB, TB), e.g. 256MB";
  const std::string_view v = trim(text);
  size_t digits = 0;
  while (digits < v.size() && is_digit(v[digits]))
    ++digits;
  if (digits == 0) return config_error(std::string(kExpected));
  const std::string unit = to_lower(trim(v.substr(digits)));
  std::int64_t unit_bytes = 1;
  if (!unit.empty()) {
    const auto* found = std::find_if(kSizeUnits.begin(), kSizeUnits.end(),
                                     [&](const SizeUnit& u) { return to_lower(u.name) == unit; });
    if (found == kSizeUnits.end()) return config_error(std::string(kExpected));
    unit_bytes = found->bytes;
  }
  auto out_of_range = [&] {
    return config_error("expected a size between " + format_byte_size(ByteSize{min}) + " and " +
                        format_byte_size(ByteSize{max}));
  };
  std::int64_t number = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + digits, number);
  // Checked before multiplying, so that no count of digits can overflow.
  if (ec != std::errc() || number > max / unit_bytes) return out_of_range();
  const std::int64_t bytes = number * unit_bytes;
  if (bytes < min) return out_of_range();
  return ByteSize{bytes};
}

std::string format_byte_size(ByteSize size) {
  if (size.bytes != 0) {
    for (const auto& unit : kSizeUnits) {
      if (unit.bytes > 1 && size.bytes % unit.bytes == 0) {
        return std::to_string(size.bytes / unit.bytes) + std::string(unit.name);
      }
    }
  }
  return std::to_string(size.bytes);
}

Result<PoolMode> parse_pool_mode(std::string_view text) {
  const std::string v = to_lower(trim(text));
  for (const auto& entry : kPoolModes) {
    if (entry.name == v) return entry.mode;
  }
  return config_error("expected session, transaction or statement");
}

Result<AuthType> parse_auth_type(std::string_view text) {
  const std::string v = to_lower(trim(text));
  for (const auto& entry : kAuthTypes) {
    if (entry.name == v) {
      if (!is_supported(entry.type)) {
        return config_error(
            "not supported by Usher yet; use trust, any, plain, md5, scram-sha-256, cert or hba");
      }
      return entry.type;
    }
  }
  return config_error("expected trust, any, plain, md5, scram-sha-256, cert or hba");
}

Result<CacheInvalidation> parse_cache_invalidation(std::string_view text) {
  const std::string v = to_lower(trim(text));
  for (const auto& entry : kCacheInvalidations) {
    if (entry.name == v) return entry.invalidation;
  }
  return config_error("expected replication or proxy");
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ",";
    out += item;
  }
  return out;
}

}  // namespace usher::config
