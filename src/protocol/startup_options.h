// The `options` startup parameter: command-line switches for the backend,
// as libpq sends them for PGOPTIONS and `options=...`. Only the switches
// that set a run-time parameter mean anything to a pooler: `-c name=value`
// (also `-cname=value`) and `--name=value`. Splitting follows PostgreSQL's
// pg_split_opts(): words are separated by white space, and a backslash
// makes the next character literal (`-c search_path=a,\ b`); names follow
// ParseLongOption(), where '-' stands for '_'.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::protocol {

struct OptionSetting {
  std::string name;
  std::string value;
};

// The settings in order, or an error (08P01, PgBouncer's wording) for any
// other switch, a switch with nothing after it, or one with no "=value".
Result<std::vector<OptionSetting>> parse_startup_options(std::string_view options);

}  // namespace usher::protocol
