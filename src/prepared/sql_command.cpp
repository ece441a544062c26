#include "prepared/sql_command.h"

#include <algorithm>
#include <boost/json.hpp>
#include <vector>

#include "sql/parser.h"

namespace usher::prepared {
namespace {

namespace json = boost::json;
using Kind = SqlCommand::Kind;
using sql::contains_word;
using sql::is_word;
using sql::skip_space;

constexpr std::string_view kKeywords[] = {"prepare", "execute", "deallocate", "discard"};
constexpr size_t kShortestKeyword = 7;

// Whether a CREATE statement may be CREATE [TEMP ...] TABLE ... AS: TABLE is
// among its first words (CREATE FUNCTION, whose body may say EXECUTE, is not).
bool may_be_create_table(std::string_view stmt) {
  size_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    std::string_view word = sql::first_word(stmt.substr(pos));
    if (word.empty()) return false;
    if (is_word(word, "table")) return true;
    pos = static_cast<size_t>(word.data() + word.size() - stmt.data());
  }
  return false;
}

// Whether one statement may name a prepared statement: its first word is
// one of ours, or it is EXPLAIN, or CREATE TABLE, with EXECUTE in it.
bool may_name_statement(std::string_view stmt) {
  std::string_view word = sql::first_word(stmt);
  if (word.size() < 6) return false;  // "create" is the shortest
  switch (word[0] | 0x20) {           // nearly every query stops here
    case 'p':
      return is_word(word, "prepare");
    case 'd':
      return is_word(word, "deallocate") || is_word(word, "discard");
    case 'e':
      return is_word(word, "execute") ||
             (is_word(word, "explain") && contains_word(stmt, "execute"));
    case 'c':
      return is_word(word, "create") && contains_word(stmt, "execute") && may_be_create_table(stmt);
    default:
      return false;
  }
}

}  // namespace

// Its first statement may name a prepared statement, or a ';' has one of
// our words after it (a later statement). The keywords are ASCII, so no
// encoding can hide one from a byte search.
bool is_candidate(std::string_view sql) {
  if (may_name_statement(sql)) return true;
  size_t semi = sql.find(';');
  if (semi == std::string_view::npos) return false;
  std::string_view rest = sql.substr(semi);
  if (rest.size() <= kShortestKeyword) return false;  // a trailing ';' (pgbench's, say)
  return std::any_of(std::begin(kKeywords), std::end(kKeywords),
                     [&](std::string_view k) { return contains_word(rest, k); });
}

namespace {

std::string string_field(const json::object& node, std::string_view key) {
  const json::value* v = node.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

SqlCommand unparsable(sql::ParseError e) {
  return SqlCommand{
      .kind = Kind::kUnparsable, .error = std::move(e.message), .position = e.position};
}

// What one statement's node is to us, with the name as PostgreSQL parsed
// it; EXPLAIN and CREATE TABLE AS are looked into for an EXECUTE.
std::optional<SqlCommand> classify_node(const json::object& node) {
  if (node.size() != 1) return std::nullopt;
  const auto& [type, value] = *node.begin();
  if (!value.is_object()) return std::nullopt;
  const json::object& fields = value.as_object();
  if (type == "ExplainStmt" || type == "CreateTableAsStmt") {
    const json::value* query = fields.if_contains("query");
    if (query == nullptr || !query->is_object()) return std::nullopt;
    auto inner = classify_node(query->as_object());
    if (inner && inner->kind == Kind::kExecute) return inner;
    return std::nullopt;
  }
  SqlCommand cmd;
  if (type == "DiscardStmt") {
    if (string_field(fields, "target") != "DISCARD_ALL") return std::nullopt;
    cmd.kind = Kind::kDiscardAll;
    cmd.drops_all = true;
    return cmd;
  }
  if (type == "PrepareStmt") {
    cmd.kind = Kind::kPrepare;
  } else if (type == "ExecuteStmt") {
    cmd.kind = Kind::kExecute;
  } else if (type == "DeallocateStmt") {
    cmd.kind = Kind::kDeallocate;
  } else {
    return std::nullopt;
  }
  cmd.name = string_field(fields, "name");
  if (cmd.name.empty()) {
    if (cmd.kind != Kind::kDeallocate) return std::nullopt;
    cmd.kind = Kind::kDeallocateAll;
    cmd.drops_all = true;
  }
  return cmd;
}

// Finds where `cmd`'s name is written: the token after its keyword (PREPARE,
// EXECUTE, DEALLOCATE [PREPARE]) that reads as the parsed name. False when
// no such token exists.
bool locate_name(const std::string& text, SqlCommand& cmd) {
  PgQuery__Token keyword = cmd.kind == Kind::kPrepare   ? PG_QUERY__TOKEN__PREPARE
                           : cmd.kind == Kind::kExecute ? PG_QUERY__TOKEN__EXECUTE
                                                        : PG_QUERY__TOKEN__DEALLOCATE;
  std::vector<sql::Token> tokens = sql::scan(text);
  auto names = [&](size_t i) {
    if (i >= tokens.size() || tokens[i].start < 0 || tokens[i].end > int32_t(text.size()) ||
        tokens[i].start >= tokens[i].end) {
      return false;
    }
    std::string_view t(text.data() + tokens[i].start, size_t(tokens[i].end - tokens[i].start));
    return sql::fold_identifier(t) == cmd.name;
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].kind != keyword) continue;
    size_t at = i + 1;
    // DEALLOCATE PREPARE name; but in "DEALLOCATE prepare" the word is the name.
    if (keyword == PG_QUERY__TOKEN__DEALLOCATE && at < tokens.size() &&
        tokens[at].kind == PG_QUERY__TOKEN__PREPARE && names(at + 1)) {
      ++at;
    }
    if (!names(at)) continue;
    cmd.name_begin = size_t(tokens[at].start);
    cmd.name_end = size_t(tokens[at].end);
    return true;
  }
  return false;
}

}  // namespace

bool names_statement(const SqlCommand& cmd) {
  return cmd.kind != Kind::kDeallocateAll && cmd.kind != Kind::kDiscardAll;
}

namespace {

// One statement's text, parsed: ours or not, and where its name is.
std::optional<SqlCommand> classify_one(const std::string& text) {
  sql::Parsed parsed = sql::parse(text);
  if (parsed.error) return unparsable(std::move(*parsed.error));
  if (parsed.statements.empty()) return std::nullopt;
  if (parsed.statements.size() > 1) {
    std::optional<SqlCommand> out;
    for (const auto& stmt : parsed.statements) {
      auto one = classify_node(stmt);
      if (!one) continue;
      if (!one->drops_all) return SqlCommand{.kind = Kind::kCombined, .multiple = true};
      out = SqlCommand{.kind = one->kind, .multiple = true, .drops_all = true};
    }
    return out;
  }
  auto cmd = classify_node(parsed.statements.front());
  if (!cmd || cmd->drops_all) return cmd;
  if (!locate_name(text, *cmd)) cmd->kind = Kind::kUnlocatable;
  return cmd;
}

// A text too large to parse whole: PostgreSQL's scanner splits it, and only
// the statements that may name a prepared statement are parsed.
std::optional<SqlCommand> classify_large(const std::string& text) {
  sql::Split split = sql::split(text);
  if (split.error) return unparsable(std::move(*split.error));
  std::vector<std::string_view> ours;
  for (std::string_view stmt : split.statements) {
    if (may_name_statement(stmt)) ours.push_back(stmt);
  }
  const bool multiple = split.statements.size() > 1;
  std::optional<SqlCommand> out;
  for (std::string_view stmt : ours) {
    if (stmt.size() > kMaxParsedText) {
      out = SqlCommand{.kind = Kind::kTooLarge};
      break;
    }
    auto one = classify_one(std::string(stmt));
    if (!one) continue;
    if (one->kind == Kind::kUnparsable || (multiple && names_statement(*one))) {
      out = one->kind == Kind::kUnparsable ? *one : SqlCommand{.kind = Kind::kCombined};
      break;
    }
    // A single statement of ours, or DEALLOCATE ALL / DISCARD ALL among others.
    if (!multiple) {
      one->name_begin += size_t(stmt.data() - text.data());
      one->name_end += size_t(stmt.data() - text.data());
    }
    out = one;
  }
  if (out) out->multiple = multiple;
  return out;
}

std::optional<SqlCommand> classify_with(const std::string& text, bool standard_conforming_strings) {
  sql::LexerMode mode(standard_conforming_strings);
  return text.size() <= kMaxParsedText ? classify_one(text) : classify_large(text);
}

bool same(const std::optional<SqlCommand>& a, const std::optional<SqlCommand>& b) {
  if (!a || !b) return !a && !b;
  return a->kind == b->kind && a->name == b->name && a->name_begin == b->name_begin &&
         a->name_end == b->name_end && a->multiple == b->multiple;
}

}  // namespace

std::optional<SqlCommand> classify_sql(std::string_view sql, SqlReading reading) {
  if (!is_candidate(sql)) return std::nullopt;
  // The parser needs a NUL-terminated copy; a Query or Parse text never
  // holds a NUL (its message would be malformed).
  if (sql.find('\0') != std::string_view::npos) return SqlCommand{.kind = Kind::kAmbiguous};
  if (reading.backslash_in_multibyte &&
      std::any_of(sql.begin(), sql.end(), [](char c) { return (c & 0x80) != 0; })) {
    return SqlCommand{.kind = Kind::kAmbiguous};
  }
  std::string text(sql);
  auto cmd = classify_with(text, reading.standard_conforming_strings);
  // A backslash may end a literal or not, by standard_conforming_strings;
  // the server's setting can change within the batch being read, so the
  // text must mean the same either way.
  if (sql.find('\\') != std::string_view::npos &&
      !same(cmd, classify_with(text, !reading.standard_conforming_strings))) {
    return SqlCommand{.kind = Kind::kAmbiguous};
  }
  return cmd;
}

bool drops_all_statements(const std::string& sql) {
  thread_local std::string last_sql;
  thread_local bool last_answer = false;
  if (sql != last_sql) {
    auto cmd = classify_sql(sql);
    last_answer = cmd && cmd->drops_all;
    last_sql = sql;
  }
  return last_answer;
}

}  // namespace usher::prepared
