#include "cache/statements.h"

#include <algorithm>
#include <optional>

#include "protocol/tracked_params.h"
#include "sql/lexical.h"
#include "sql/parser.h"

namespace usher::cache {

namespace {

// Settings the server reports with ParameterStatus: after a SET of one,
// the client's tracked parameters (part of every key) hold its new value.
bool reported_setting(std::string_view name) {
  return std::any_of(protocol::kTrackedNames.begin(), protocol::kTrackedNames.end(),
                     [&](std::string_view tracked) {
                       return tracked.size() == name.size() &&
                              std::equal(tracked.begin(), tracked.end(), name.begin(),
                                         [](char a, char b) { return (a | 0x20) == (b | 0x20); });
                     });
}

// pg_catalog functions a SELECT commonly calls that change no table: a
// read calling any other non-immutable function may be a write (a user's
// function that inserts).
constexpr std::string_view kReadOnlyBuiltins[] = {"now",
                                                  "clock_timestamp",
                                                  "statement_timestamp",
                                                  "transaction_timestamp",
                                                  "timeofday",
                                                  "random",
                                                  "gen_random_uuid",
                                                  "current_setting",
                                                  "pg_backend_pid",
                                                  "version",
                                                  "current_database",
                                                  "current_schema",
                                                  "current_user",
                                                  "session_user",
                                                  "inet_client_addr",
                                                  "inet_server_addr",
                                                  "date_trunc",
                                                  "to_char",
                                                  "age",
                                                  "date_part",
                                                  "extract",
                                                  "to_timestamp",
                                                  "timezone",
                                                  "count",
                                                  "sum",
                                                  "avg",
                                                  "min",
                                                  "max",
                                                  "pg_sleep",
                                                  "txid_current",
                                                  "pg_current_wal_lsn",
                                                  "pg_is_in_recovery"};

bool calls_only_read_only(const sql::Analysis& a) {
  return std::all_of(a.functions.begin(), a.functions.end(), [](const sql::QualifiedName& f) {
    if (!f.schema.empty() && f.schema != "pg_catalog") return false;
    return std::find(std::begin(kReadOnlyBuiltins), std::end(kReadOnlyBuiltins), f.name) !=
           std::end(kReadOnlyBuiltins);
  });
}

bool calls(const sql::Analysis& a, std::string_view function) {
  return std::any_of(a.functions.begin(), a.functions.end(),
                     [&](const sql::QualifiedName& f) { return f.name == function; });
}

// Split as the server will: with standard_conforming_strings off, 'a\' is
// not a whole string, and what follows may be another statement.
bool single_statement(std::string_view text, bool standard_conforming_strings) {
  sql::Split split;
  {
    sql::LexerMode mode(standard_conforming_strings);
    split = sql::split(std::string(text));
  }
  return !split.error && split.statements.size() == 1;
}

// What the first word tells, when it tells enough; nullopt: parse.
std::optional<std::shared_ptr<const StatementInfo>> by_first_word(
    std::string_view text, bool need_targets, bool standard_conforming_strings) {
  using sql::StatementKind;
  const std::string_view first = sql::first_word(text);
  const bool dml = sql::is_word(first, "insert") || sql::is_word(first, "update") ||
                   sql::is_word(first, "delete") || sql::is_word(first, "merge");
  const bool ends = sql::is_word(first, "commit") || sql::is_word(first, "end") ||
                    sql::is_word(first, "rollback") || sql::is_word(first, "abort");
  const bool control = ends || sql::is_word(first, "begin") || sql::is_word(first, "start") ||
                       sql::is_word(first, "savepoint") || sql::is_word(first, "release");
  if (!(dml && !need_targets) && !control) return std::nullopt;
  // COMMIT PREPARED commits another transaction's writes; set_config()
  // changes settings; several statements may hide anything.
  if (sql::contains_word(text, "prepared") || sql::contains_word(text, "set_config") ||
      !single_statement(text, standard_conforming_strings))
    return std::nullopt;
  auto make = [](StatementKind kind, bool commits, bool chains = false) {
    StatementInfo info;
    info.refusal = sql::refusal::kNotRead;
    info.kind = kind;
    info.may_write = kind == StatementKind::kWrite;
    info.commits = commits;
    info.chains = chains;
    return std::make_shared<const StatementInfo>(std::move(info));
  };
  // Which tables a write changed, triggers and cascades included, the
  // invalidation stream says; a function called in it that runs DDL is
  // seen by the stream's catalog check.
  static const auto kDml = make(StatementKind::kWrite, false);
  static const auto kEnds = make(StatementKind::kTransaction, true);
  static const auto kControl = make(StatementKind::kTransaction, false);
  static const auto kChains = make(StatementKind::kTransaction, true, true);
  if (dml) return kDml;
  if (!ends || sql::contains_word(text, "to")) return kControl;
  return sql::contains_word(text, "chain") ? kChains : kEnds;
}

}  // namespace

bool plain_select(std::string_view text, bool standard_conforming_strings) {
  // SELECT ... INTO makes a table.
  return sql::is_word(sql::first_word(text), "select") &&
         text.find('(') == std::string_view::npos && !sql::contains_word(text, "into") &&
         single_statement(text, standard_conforming_strings);
}

StatementInfo decide(const Catalog* catalog, std::string_view text,
                     bool standard_conforming_strings, bool need_targets,
                     const std::vector<std::string>& include,
                     const std::vector<std::string>& exclude, QueryStats* stats) {
  using sql::StatementKind;
  if (auto quick = by_first_word(text, need_targets, standard_conforming_strings)) return **quick;
  StatementInfo info;
  if (text.size() > kMaxAnalysedText) {
    // Not parsed: libpg_query recurses once per level of the tree, and a
    // long enough SELECT 1+1+...+1 would overflow the worker's stack. A
    // statement this long is taken for an unknown write, never cached.
    info.refusal = sql::refusal::kParseError;
    info.may_write = true;
    info.may_change_catalog = true;
    return info;
  }
  sql::Analysis a = sql::analyze(text, standard_conforming_strings);
  // $n: the values are in the key of an extended execution (and a simple
  // Query that has one fails on the server, which is never stored). The
  // analysis ranks it below every other refusal, so nothing else is wrong.
  if (a.refusal == sql::refusal::kParameter) a.refusal = {};
  info.kind = a.kind;
  info.refusal = a.refusal;
  info.may_write = a.kind == StatementKind::kWrite || a.kind == StatementKind::kUnknown;
  info.may_change_catalog = info.may_write && a.written.empty();
  info.copies = sql::is_word(sql::first_word(text), "copy");
  const std::string_view first = sql::first_word(text);
  // Ends the transaction for sure: not ROLLBACK TO SAVEPOINT, not among
  // other statements.
  info.commits = a.kind == StatementKind::kTransaction &&
                 a.refusal != sql::refusal::kMultipleStatements &&
                 (sql::is_word(first, "commit") || sql::is_word(first, "end") ||
                  sql::is_word(first, "rollback") || sql::is_word(first, "abort")) &&
                 !sql::contains_word(text, "to");
  info.chains = info.commits && sql::contains_word(text, "chain");
  // What Usher cannot follow: a setting the server does not report, the
  // role, set_config() anywhere, and procedures or DO blocks, which may SET.
  // (`setting` is set whatever the kind: a SET among other statements.)
  info.hides_settings = (!a.setting.empty() && !reported_setting(a.setting)) ||
                        calls(a, "set_config") || sql::is_word(first, "call") ||
                        sql::is_word(first, "do");
  if (info.may_write) {
    info.written = catalog ? catalog->write_targets(a) : std::nullopt;
  }
  const bool counted = a.kind == StatementKind::kRead || a.kind == StatementKind::kUnknown;
  sql::StatementTexts texts;
  if (counted && stats) {
    texts = sql::statement_texts(text, standard_conforming_strings);
    if (!texts.normalized.empty()) info.stats = stats->record(texts.normalized);
  }
  if (a.kind != StatementKind::kRead || !info.refusal.empty()) return info;
  if (!catalog) {
    info.refusal = refusal::kCatalogLoading;
    info.may_write = !calls_only_read_only(a);
    return info;
  }
  Resolution r = catalog->resolve(a, include, exclude);
  info.refusal = r.refusal;
  if (!info.refusal.empty()) {
    // SELECT f() with f not immutable: f may insert (DDL it runs is seen
    // by the stream's catalog check, not reloaded for every call).
    if (info.refusal == refusal::kNotImmutable || info.refusal == refusal::kViewDefinition)
      info.may_write = !calls_only_read_only(a);
    return info;
  }
  info.key_text = stats ? std::move(texts.key) : sql::key_text(text, standard_conforming_strings);
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
    bool standard_conforming_strings, bool need_targets, const std::vector<std::string>& include,
    const std::vector<std::string>& exclude, QueryStats* stats) {
  // Told by the first word: not memoised, so that writes with constants of
  // their own do not push the reads out.
  if (auto quick = by_first_word(text, need_targets, standard_conforming_strings)) return *quick;
  if (text.size() > kMaxText) {
    return std::make_shared<const StatementInfo>(decide(
        catalog.get(), text, standard_conforming_strings, need_targets, include, exclude, stats));
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
  auto info = std::make_shared<const StatementInfo>(decide(
      catalog.get(), text, standard_conforming_strings, need_targets, include, exclude, stats));
  if (lru_.size() >= kMaxEntries) {
    map_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::move(key), catalog, info});
  map_.emplace(lru_.front().key, lru_.begin());
  return info;
}

}  // namespace usher::cache
