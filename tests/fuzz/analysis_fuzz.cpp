// libFuzzer target for the result cache's reading of SQL (sql/analysis.h):
// analyze(), key_text() and cache_hint() on arbitrary bytes, under both
// settings of standard_conforming_strings. Invariants, checked with
// __builtin_trap():
//   - the refusal is one of sql::refusal's names, and only a read has none;
//   - only a write names written tables; a setting statement names its
//     setting; no list holds a name twice;
//   - the same text analysed twice gives the same answer (no state leaks
//     from one call into the next, the lexer's mode included);
//   - key_text() is its own fixed point: the key lexes into the tokens it
//     was made of;
//   - statement_texts() gives key_text()'s key, a normalized text exactly
//     when there is a key, and that normalized text is its own fixed point
//     (it has no constants left, and its case is already folded);
//   - a TTL hint is -1 or within 0 .. one year.
#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "sql/analysis.h"

namespace {

namespace sql = usher::sql;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

constexpr std::array<std::string_view, 14> kRefusals = {
    sql::refusal::kParseError,      sql::refusal::kMultipleStatements, sql::refusal::kNotRead,
    sql::refusal::kLocking,         sql::refusal::kSelectInto,         sql::refusal::kModifyingCte,
    sql::refusal::kTableSample,     sql::refusal::kSqlValueFunction,   sql::refusal::kSystemColumn,
    sql::refusal::kTimeLiteral,     sql::refusal::kCatalogCast,        sql::refusal::kParameter,
    sql::refusal::kUnsupportedNode, sql::refusal::kNoCacheHint};
constexpr int64_t kYearMs = 365LL * 24 * 3600 * 1000;

bool known_refusal(std::string_view r) {
  if (r.empty()) return true;
  for (std::string_view k : kRefusals)
    if (r == k) return true;
  return false;
}

bool unique(const std::vector<sql::QualifiedName>& names) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& n : names)
    if (!seen.emplace(n.schema, n.name).second) return false;
  return true;
}

bool same(const sql::Analysis& a, const sql::Analysis& b) {
  return a.kind == b.kind && a.refusal == b.refusal && a.relations == b.relations &&
         a.functions == b.functions && a.operators == b.operators && a.written == b.written &&
         a.setting == b.setting;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool scs : {true, false}) {
    sql::Analysis a = sql::analyze(text, scs);
    check(known_refusal(a.refusal));
    check(a.kind == sql::StatementKind::kRead || !a.refusal.empty());
    check(a.written.empty() || a.kind == sql::StatementKind::kWrite);
    check(a.kind != sql::StatementKind::kSetting || !a.setting.empty());
    check(unique(a.relations) && unique(a.functions) && unique(a.operators) && unique(a.written));
    check(same(a, sql::analyze(text, scs)));

    std::string key = sql::key_text(text, scs);
    if (!key.empty()) check(sql::key_text(key, scs) == key);
    sql::StatementTexts texts = sql::statement_texts(text, scs);
    check(texts.key == key);
    check(texts.normalized.empty() == key.empty());
    if (!texts.normalized.empty())
      check(sql::statement_texts(texts.normalized, scs).normalized == texts.normalized);
  }
  sql::CacheHint hint = sql::cache_hint(text);
  check(hint.ttl_ms == -1 || (hint.ttl_ms >= 0 && hint.ttl_ms <= kYearMs));
  return 0;
}
