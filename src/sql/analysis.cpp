#include "sql/analysis.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>

#include "sql/analysis_walk.h"
#include "sql/parser.h"

namespace usher::sql {

namespace json = boost::json;
using detail::bool_field;
using detail::is_one_of;
using detail::kDataModifying;
using detail::NameLists;
using detail::refuse;
using detail::string_field;
using Kind = StatementKind;

namespace {

// Statements that change neither data nor what results look like.
constexpr std::array<std::string_view, 11> kHarmlessStatements = {
    "VariableShowStmt", "ListenStmt",      "UnlistenStmt", "NotifyStmt",
    "DeallocateStmt",   "ClosePortalStmt", "FetchStmt",    "LockStmt",
    "CheckPointStmt",   "PrepareStmt",     "ExplainStmt"};  // EXPLAIN without ANALYZE
// Statements that may do anything a read or a write does, later or now: a
// cursor runs its query at FETCH, LOAD runs a library's code.
constexpr std::array<std::string_view, 2> kUnknownStatements = {"DeclareCursorStmt", "LoadStmt"};
std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  return out;
}

// The target an embedded RangeVar field names, added to `written`.
void write_target(const json::object& fields, std::string_view key, NameLists& lists) {
  const json::value* rel = fields.if_contains(key);
  if (rel != nullptr && rel->is_object()) lists.written(detail::relation_of(rel->as_object()));
}

// Every INSERT, UPDATE, DELETE or MERGE under `v` (the targets of nested
// data-modifying CTEs included).
template <typename Json>
void write_targets_under(const Json& tree, NameLists& lists) {
  if (!collect_written(tree, lists)) refuse(lists.out(), refusal::kUnsupportedNode);
}

bool explain_analyzes(const json::object& explain) {
  const json::value* options = explain.if_contains("options");
  if (options == nullptr || !options->is_array()) return false;
  for (const json::value& o : options->as_array()) {
    const json::value* def = o.is_object() ? o.as_object().if_contains("DefElem") : nullptr;
    // EXPLAIN (ANALYZE false) counts too: the option's value is not read.
    if (def && def->is_object() && string_field(def->as_object(), "defname") == "analyze") {
      return true;
    }
  }
  return false;
}

// SET, RESET; SET TRANSACTION is the transaction's business.
void variable_set(const json::object& f, Analysis& out) {
  std::string_view kind = string_field(f, "kind");
  std::string_view name = string_field(f, "name");
  if (kind == "VAR_SET_MULTI" && (name == "TRANSACTION" || name == "TRANSACTION SNAPSHOT")) {
    out.kind = Kind::kTransaction;
    return;
  }
  out.kind = Kind::kSetting;
  // RESET ALL, and anything without a name: every setting may have changed.
  out.setting = kind == "VAR_RESET_ALL" || name.empty() ? "all" : lowercase(name);
}

void discard(const json::object& f, Analysis& out) {
  std::string_view target = string_field(f, "target");
  out.kind = Kind::kSetting;
  if (target == "DISCARD_PLANS") {
    out.setting = "plans";
  } else if (target == "DISCARD_SEQUENCES") {
    out.setting = "sequences";
  } else if (target == "DISCARD_TEMP") {
    out.setting = "temp";
  } else {
    out.setting = "all";
  }
}

// One statement's kind, refusal and lists (into `lists`, shared by the
// statements of one text).
void classify(const json::object& stmt, NameLists& lists, Analysis& out) {
  out.kind = Kind::kWrite;  // every DDL, GRANT, VACUUM, CALL, DO, EXECUTE ...
  if (stmt.size() != 1 || !stmt.begin()->value().is_object()) {
    out.kind = Kind::kUnknown;
    return;
  }
  std::string_view type = stmt.begin()->key();
  const json::object& f = stmt.begin()->value().as_object();
  if (type == "SelectStmt") {
    out.kind = detail::walk_select(f, lists) ? Kind::kWrite : Kind::kRead;
  } else if (is_one_of(type, kDataModifying)) {
    write_targets_under(stmt, lists);
  } else if (type == "CopyStmt") {
    if (bool_field(f, "is_from")) {
      write_target(f, "relation", lists);
    } else {
      out.kind = Kind::kUnknown;  // COPY (query) TO may call anything
    }
  } else if (type == "TruncateStmt") {
    if (const json::value* rels = f.if_contains("relations"); rels && rels->is_array()) {
      for (const json::value& r : rels->as_array()) {
        const json::value* rv = r.is_object() ? r.as_object().if_contains("RangeVar") : nullptr;
        if (rv && rv->is_object()) lists.written(detail::relation_of(rv->as_object()));
      }
    }
  } else if (type == "CreateTableAsStmt") {  // also CREATE MATERIALIZED VIEW
    if (const json::value* into = f.if_contains("into"); into && into->is_object()) {
      write_target(into->as_object(), "rel", lists);
    }
  } else if (type == "RefreshMatViewStmt") {
    write_target(f, "relation", lists);
  } else if (type == "ExplainStmt" && explain_analyzes(f)) {
    if (const json::value* q = f.if_contains("query")) write_targets_under(*q, lists);
  } else if (type == "VariableSetStmt") {
    variable_set(f, out);
  } else if (type == "DiscardStmt") {
    discard(f, out);
  } else if (type == "TransactionStmt") {
    // COMMIT PREPARED makes another session's writes visible.
    out.kind =
        string_field(f, "kind") == "TRANS_STMT_COMMIT_PREPARED" ? Kind::kWrite : Kind::kTransaction;
  } else if (is_one_of(type, kHarmlessStatements)) {
    out.kind = Kind::kHarmless;
  } else if (is_one_of(type, kUnknownStatements)) {
    out.kind = Kind::kUnknown;
  }
  if (out.kind != Kind::kRead) refuse(out, refusal::kNotRead);
}

// How much a kind says about the statements of a text that do not write:
// a setting changed must not be lost behind a BEGIN.
int weight(Kind k) {
  switch (k) {
    case Kind::kHarmless:
      return 0;
    case Kind::kRead:
      return 1;
    case Kind::kTransaction:
      return 2;
    case Kind::kSetting:
      return 3;
    default:
      return 4;  // kWrite, kUnknown
  }
}

Analysis unparsable() {
  Analysis out;
  out.kind = Kind::kUnknown;
  out.refusal = refusal::kParseError;
  return out;
}

}  // namespace

Analysis analyze(std::string_view text, bool standard_conforming_strings) {
  // The parser reads a C string: bytes after a NUL would go unseen.
  if (text.find('\0') != std::string_view::npos) return unparsable();
  Parsed parsed;
  {
    LexerMode mode(standard_conforming_strings);
    parsed = parse(std::string(text));
  }
  if (parsed.error) return unparsable();
  Analysis out;
  if (parsed.statements.empty()) {  // comments, blanks, semicolons
    out.kind = Kind::kHarmless;
    out.refusal = refusal::kNotRead;
    return out;
  }
  NameLists lists(out);
  bool settings_differ = false;
  for (size_t i = 0; i < parsed.statements.size(); ++i) {
    Analysis one;
    classify(parsed.statements[i], lists, i == 0 ? out : one);
    if (i == 0) continue;
    if (weight(one.kind) > weight(out.kind)) out.kind = one.kind;
    if (!one.setting.empty()) {
      if (!out.setting.empty() && out.setting != one.setting) settings_differ = true;
      out.setting = one.setting;
    }
  }
  if (parsed.statements.size() > 1) {
    if (out.kind == Kind::kUnknown) out.kind = Kind::kWrite;
    if (settings_differ) out.setting = "all";  // several settings: say that any may have changed
    out.refusal = refusal::kMultipleStatements;
  } else if (out.kind == Kind::kRead && cache_hint(text).no_cache) {
    // The user's word comes before what the tree shows.
    out.refusal = refusal::kNoCacheHint;
  }
  return out;
}

namespace {

bool is_constant(PgQuery__Token kind) {
  switch (kind) {
    case PG_QUERY__TOKEN__ICONST:
    case PG_QUERY__TOKEN__FCONST:
    case PG_QUERY__TOKEN__SCONST:
    case PG_QUERY__TOKEN__USCONST:
    case PG_QUERY__TOKEN__BCONST:
    case PG_QUERY__TOKEN__XCONST:
      return true;
    default:
      return false;
  }
}

// The scanner's NCHAR token of N'...', right before its string.
bool national_string(const Token& first, const Token& second) {
  return first.kind == PG_QUERY__TOKEN__NCHAR && second.kind == PG_QUERY__TOKEN__SCONST &&
         first.end == second.start;
}

// `want_normalized` false: only the key (what a hit path needs).
StatementTexts texts(std::string_view text, bool standard_conforming_strings,
                     bool want_normalized) {
  if (text.find('\0') != std::string_view::npos) return {};
  std::string copy(text);
  std::vector<Token> tokens;
  {
    LexerMode mode(standard_conforming_strings);
    tokens = scan(copy);
  }
  StatementTexts out;
  out.key.reserve(text.size());
  // The highest $n the statement has of its own: up to INT_MAX, and one
  // more per constant after it, so wider than int.
  int64_t params = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (t.start < 0 || t.end <= t.start || size_t(t.end) > text.size()) return {};
    const std::string_view token = text.substr(size_t(t.start), size_t(t.end - t.start));
    // N'...' is two tokens (NCHAR, then the string) that a blank between
    // would turn into another statement (a cast to a type named n).
    if (!out.key.empty() && !(i > 0 && national_string(tokens[i - 1], t))) out.key.push_back(' ');
    out.key.append(token);
    if (want_normalized && t.kind == PG_QUERY__TOKEN__PARAM && token.size() > 1) {
      int n = 0;
      std::from_chars(token.data() + 1, token.data() + token.size(), n);
      params = std::max<int64_t>(params, n);
    }
  }
  if (!want_normalized) return out;
  out.normalized.reserve(out.key.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    // N'...': one constant.
    if (i + 1 < tokens.size() && national_string(t, tokens[i + 1])) continue;
    if (!out.normalized.empty()) out.normalized.push_back(' ');
    const std::string_view token = text.substr(size_t(t.start), size_t(t.end - t.start));
    if (is_constant(t.kind)) {
      out.normalized += '$' + std::to_string(++params);
    } else if (t.kind >= PG_QUERY__TOKEN__ABORT_P && t.kind <= PG_QUERY__TOKEN__WITH_LA) {
      // A keyword, in any case: as the documentation writes it.
      for (char c : token)
        out.normalized.push_back(c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c);
    } else if (t.kind == PG_QUERY__TOKEN__IDENT && token.front() != '"') {
      // An unquoted name, as the server folds it.
      for (char c : token)
        out.normalized.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
    } else {
      out.normalized.append(token);
    }
  }
  return out;
}

}  // namespace

std::string key_text(std::string_view text, bool standard_conforming_strings) {
  return texts(text, standard_conforming_strings, false).key;
}

StatementTexts statement_texts(std::string_view text, bool standard_conforming_strings) {
  return texts(text, standard_conforming_strings, true);
}

uint64_t fingerprint(std::string_view normalized) {
  constexpr uint64_t kOffset = 14695981039346656037ull;
  constexpr uint64_t kPrime = 1099511628211ull;
  uint64_t h = kOffset;
  for (unsigned char c : normalized) {
    h ^= c;
    h *= kPrime;
  }
  return h;
}

}  // namespace usher::sql
