#include "cache/statements.h"

#include <algorithm>

#include "protocol/tracked_params.h"
#include "sql/lexical.h"

namespace usher::cache {

namespace {

// Settings the server reports with ParameterStatus: after a SET of one,
// the client's tracked parameters (part of every key) hold its new value.
bool reported_setting(std::string_view name) {
  return std::any_of(protocol::kTrackedNames.begin(), protocol::kTrackedNames.end(),
                     [&](std::string_view tracked) {
                       return tracked.size() == name.size() &&
                              std::equal(tracked.begin(), tracked.end(), name.begin(),
                                         [](char a, char b) {
                                           return (a | 0x20) == (b | 0x20);
                                         });
                     });
}

bool calls(const sql::Analysis& a, std::string_view function) {
  return std::any_of(a.functions.begin(), a.functions.end(),
                     [&](const sql::QualifiedName& f) { return f.name == function; });
}

}  // namespace

StatementInfo decide(const Catalog* catalog, std::string_view text,
                     bool standard_conforming_strings, const std::vector<std::string>& include,
                     const std::vector<std::string>& exclude) {
  using sql::StatementKind;
  StatementInfo info;
  sql::Analysis a = sql::analyze(text, standard_conforming_strings);
  // $n: the values are in the key of an extended execution (and a simple
  // Query that has one fails on the server, which is never stored). The
  // analysis ranks it below every other refusal, so nothing else is wrong.
  if (a.refusal == sql::refusal::kParameter) a.refusal = {};
  info.kind = a.kind;
  info.refusal = a.refusal;
  info.may_write = a.kind == StatementKind::kWrite || a.kind == StatementKind::kUnknown;
  info.may_change_catalog = info.may_write && a.written.empty();
  const std::string_view first = sql::first_word(text);
  // Ends the transaction for sure: not ROLLBACK TO SAVEPOINT, not AND
  // CHAIN, not among other statements.
  info.commits = a.kind == StatementKind::kTransaction && a.refusal != sql::refusal::kMultipleStatements &&
                 (sql::is_word(first, "commit") || sql::is_word(first, "end") ||
                  sql::is_word(first, "rollback") || sql::is_word(first, "abort")) &&
                 !sql::contains_word(text, "to") && !sql::contains_word(text, "chain");
  // What Usher cannot follow: a setting the server does not report, the
  // role, set_config() anywhere, and procedures or DO blocks, which may SET.
  info.hides_settings =
      (a.kind == StatementKind::kSetting && !reported_setting(a.setting)) || calls(a, "set_config") ||
      sql::is_word(first, "call") || sql::is_word(first, "do");
  if (info.may_write) {
    info.written = catalog ? catalog->write_targets(a) : std::nullopt;
  }
  if (a.kind != StatementKind::kRead || !info.refusal.empty()) return info;
  if (!catalog) {
    info.refusal = refusal::kCatalogLoading;
    return info;
  }
  Resolution r = catalog->resolve(a, include, exclude);
  info.refusal = r.refusal;
  if (!info.refusal.empty()) return info;
  info.key_text = sql::key_text(text, standard_conforming_strings);
  if (info.key_text.empty()) {
    info.refusal = sql::refusal::kParseError;
    return info;
  }
  info.tables = std::move(r.tables);
  info.ttl_ms = sql::cache_hint(text).ttl_ms;
  return info;
}

std::shared_ptr<const StatementInfo> StatementMemo::get(
    uint32_t db, const std::shared_ptr<const Catalog>& catalog, std::string_view text,
                                                        bool standard_conforming_strings,
                                                        const std::vector<std::string>& include,
                                                        const std::vector<std::string>& exclude) {
  if (text.size() > kMaxText) {
    return std::make_shared<const StatementInfo>(
        decide(catalog.get(), text, standard_conforming_strings, include, exclude));
  }
  std::string key;
  key.reserve(text.size() + 5);
  key.append(reinterpret_cast<const char*>(&db), sizeof db);
  key.push_back(standard_conforming_strings ? '1' : '0');
  key.append(text);
  auto it = map_.find(key);
  if (it != map_.end()) {
    auto entry = it->second;
    if (entry->catalog.lock() == catalog) {
      lru_.splice(lru_.begin(), lru_, entry);
      return entry->info;
    }
    // Decided with another catalog: decide again.
    map_.erase(it);
    lru_.erase(entry);
  }
  auto info = std::make_shared<const StatementInfo>(
      decide(catalog.get(), text, standard_conforming_strings, include, exclude));
  if (lru_.size() >= kMaxEntries) {
    map_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::move(key), catalog, info});
  map_.emplace(lru_.front().key, lru_.begin());
  return info;
}

}  // namespace usher::cache
