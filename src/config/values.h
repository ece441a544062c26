// Scalar value types of the configuration and their text forms: the parsers
// accept what PgBouncer accepts (plus a few spellings it does not), and the
// formatters produce what SHOW CONFIG prints.
//
// Parsers return an Error whose message is only the "expected ..." part; the
// caller knows the file, line and key and builds the full sentence.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "protocol/sqlstate.h"

namespace usher::config {

// All time settings. PgBouncer keeps microseconds, but nothing Usher does is
// finer than a millisecond, and timers take milliseconds anyway.
using Duration = std::chrono::milliseconds;

enum class PoolMode { kSession, kTransaction, kStatement };

// An amount of memory in bytes (query_cache_size). A type of its own, as
// Duration is, so that the settings table parses and prints it with units.
struct ByteSize {
  std::int64_t bytes = 0;
  friend bool operator==(ByteSize, ByteSize) = default;
  friend auto operator<=>(ByteSize, ByteSize) = default;
};

inline constexpr std::int64_t kKilobyte = 1024;  // PostgreSQL's units are powers of 1024
inline constexpr std::int64_t kMegabyte = 1024 * kKilobyte;
inline constexpr std::int64_t kGigabyte = 1024 * kMegabyte;
inline constexpr std::int64_t kTerabyte = 1024 * kGigabyte;

// How the query cache learns of writes: from the server's logical
// replication stream (every write, whoever made it), or only from the
// writes that pass through Usher (see docs/configuration.md on the risk).
enum class CacheInvalidation { kReplication, kProxy };

// Every auth_type PgBouncer knows. Only some are implemented; the config
// loader rejects the others (see is_supported()).
enum class AuthType { kTrust, kAny, kPlain, kMd5, kScramSha256, kCert, kHba, kPam, kLdap };

std::string_view to_string(PoolMode mode);
std::string_view to_string(AuthType type);
std::string_view to_string(CacheInvalidation invalidation);
bool is_supported(AuthType type);

// SQLSTATE config_file_error: every configuration error carries it, so an
// admin RELOAD can pass the error on to the console client unchanged.
inline constexpr std::string_view kConfigErrorState = protocol::sqlstate::config_file_error;
Error config_error(std::string message);

// yes/no, on/off, true/false in any case, or a decimal integer where any
// nonzero value is on: PgBouncer stores its booleans as integers, and old
// configurations write tcp_defer_accept = 45 (seconds, as its docs once said).
Result<bool> parse_bool(std::string_view text);

// Decimal integer in [min, max] (base 8 when base is 8, as for
// unix_socket_mode; a leading 0 is then allowed and ignored).
Result<int> parse_int(std::string_view text, long long min, long long max, int base = 10);

// The same for a range wider than int's (max_packet_size, an unsigned int in
// PgBouncer).
Result<long long> parse_integer(std::string_view text, long long min, long long max, int base = 10);

// Seconds as PgBouncer writes them ("30", "0.5", "5.0"), or a number with a
// unit: ms, s, min, h, d (as PostgreSQL writes its own time settings).
// Negative values are rejected. A nonzero value below 1 ms becomes 1 ms, so
// it does not silently turn into "disabled".
Result<Duration> parse_duration(std::string_view text);

// Seconds with no trailing zeros: 5000 ms -> "5", 500 ms -> "0.5".
std::string format_duration(Duration d);

// Bytes, or a whole number with one of PostgreSQL's memory units: B, kB,
// MB, GB, TB (powers of 1024; any case, a blank before the unit allowed),
// in [min, max] bytes. No fractions: "1.5GB" is refused rather than
// rounded, and nothing overflows whatever the digits.
Result<ByteSize> parse_byte_size(std::string_view text, std::int64_t min, std::int64_t max);

// With the largest unit that divides the size exactly ("256MB", "8kB"),
// else in plain bytes ("1500"); 0 is "0". parse_byte_size() reads every
// result back.
std::string format_byte_size(ByteSize size);

Result<PoolMode> parse_pool_mode(std::string_view text);
Result<AuthType> parse_auth_type(std::string_view text);
Result<CacheInvalidation> parse_cache_invalidation(std::string_view text);

// Comma-separated list; items are trimmed and empty items dropped, so
// "a, b,,c" and "a,b,c" are the same list.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string>& items);

std::string_view trim(std::string_view text);
std::string to_lower(std::string_view text);

}  // namespace usher::config
