// The table of [pgbouncer] keys: which Config member each one sets, how its
// value is parsed and printed, and whether it can change on RELOAD. One
// table drives loading, SHOW CONFIG (describe) and the default column, so a
// new key is one line here plus its member in Config.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace usher::config {

using SettingField =
    std::variant<int Config::*, bool Config::*, Duration Config::*, std::string Config::*,
                 std::vector<std::string> Config::*, PoolMode Config::*, AuthType Config::*,
                 ByteSize Config::*, CacheInvalidation Config::*>;

struct SettingSpec {
  std::string_view name;
  SettingField field;
  bool changeable = true;  // false: read at startup only (CF_NO_RELOAD in PgBouncer)
  long long min = 0;       // integers, and sizes in bytes
  long long max = 2147483647;
  int base = 10;  // 8 for file modes
  // For strings with a fixed vocabulary: the accepted values, comma
  // separated (matched case-insensitively and stored lowercase).
  std::string_view allowed = {};
  // An alias (service_name for job_name) is accepted but not listed by
  // describe(), so SHOW CONFIG has one row per member.
  bool alias = false;
  // For lists whose items have a syntax (table names): checks one item and
  // returns its canonical form; the error is the "expected ..." part.
  Result<std::string> (*item)(std::string_view) = nullptr;
  size_t max_items = 0;  // lists: 0 is no limit
};

// Every key, alphabetical (the order SHOW CONFIG uses).
const std::vector<SettingSpec>& setting_specs();

// nullptr for an unknown key. Keys match case-insensitively.
const SettingSpec* find_setting(std::string_view key);

// Parses value into the member. The error message is only the "expected
// ..." part; the caller adds file, line, key and value.
Status apply_setting(Config& config, const SettingSpec& spec, std::string_view value);

// The member's value as SHOW CONFIG prints it.
std::string format_setting(const Config& config, const SettingSpec& spec);

}  // namespace usher::config
