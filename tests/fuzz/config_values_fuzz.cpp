// libFuzzer target for the query cache's value parsers: table names
// (config/table_name.h) and byte sizes (config/values.h). The first input
// byte picks the parser; the rest is the text. Invariants, checked with
// __builtin_trap():
//   - a table name that parses prints to a text that parses back to the
//     same name, and printing that gives the same text (canonical form);
//     no part is empty or longer than kMaxIdentifierBytes;
//   - a size that parses is within [min, max]; its printed form parses back
//     to the same number of bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/table_name.h"
#include "config/values.h"

namespace {

namespace config = usher::config;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

void table_name(std::string_view text) {
  auto t = config::parse_table_name(text);
  if (!t.ok()) return;
  check(!t->name.empty() && t->name.size() <= config::kMaxIdentifierBytes);
  check(t->schema.size() <= config::kMaxIdentifierBytes);
  const std::string printed = config::format_table_name(*t);
  auto again = config::parse_table_name(printed);
  check(again.ok() && *again == *t);
  check(config::format_table_name(*again) == printed);
}

void byte_size(std::string_view text, std::int64_t min, std::int64_t max) {
  auto v = config::parse_byte_size(text, min, max);
  if (!v.ok()) return;
  check(v->bytes >= min && v->bytes <= max);
  auto again = config::parse_byte_size(config::format_byte_size(*v), min, max);
  check(again.ok() && *again == *v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      table_name(text);
      break;
    case 1:
      byte_size(text, 0, INT64_MAX);
      break;
    default:
      byte_size(text, config::kKilobyte, config::kTerabyte);
      break;
  }
  return 0;
}
