#include "prepared/sql_command.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <vector>

// libpg_query's copy of PostgreSQL's GUC (a thread-local there, as all of
// its globals): how its lexer reads backslashes in '...' literals.
extern "C" {
extern __thread bool standard_conforming_strings;
}

namespace usher::prepared {
namespace {

namespace json = boost::json;
using Kind = SqlCommand::Kind;

// Skips blanks, -- comments and (nested) /* */ comments from `pos`.
size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    char c = s[pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++pos;
    } else if (c == '-' && s.substr(pos, 2) == "--") {
      // As PostgreSQL's lexer: a -- comment ends at a newline or a return.
      pos = s.find_first_of("\n\r", pos);
      if (pos == std::string_view::npos) return s.size();
    } else if (c == '/' && s.substr(pos, 2) == "/*") {
      int depth = 0;
      while (pos < s.size()) {
        if (s.substr(pos, 2) == "/*") {
          ++depth;
          pos += 2;
        } else if (s.substr(pos, 2) == "*/") {
          pos += 2;
          if (--depth == 0) break;
        } else {
          ++pos;
        }
      }
    } else {
      break;
    }
  }
  return pos;
}

// `word` is letters only, so c | 0x20 is its lowercase.
bool is_word(std::string_view word, std::string_view lowercase) {
  return std::equal(word.begin(), word.end(), lowercase.begin(), lowercase.end(),
                    [](char c, char lower) { return (c | 0x20) == lower; });
}

// Whether `lowercase` appears in `text` in any case (ASCII case folding;
// c | 0x20 also maps a few symbols: the parser decides).
bool contains_word(std::string_view text, std::string_view lowercase) {
  auto same = [](char c, char lower) { return (c | 0x20) == lower; };
  return std::search(text.begin(), text.end(), lowercase.begin(), lowercase.end(), same) !=
         text.end();
}

constexpr std::string_view kKeywords[] = {"prepare", "execute", "deallocate", "discard"};
constexpr size_t kShortestKeyword = 7;

// Whether a CREATE statement may be CREATE [TEMP ...] TABLE ... AS: TABLE is
// among its first words (CREATE FUNCTION, whose body may say EXECUTE, is not).
bool may_be_create_table(std::string_view stmt) {
  size_t pos = 0;
  for (int i = 0; i < 5; ++i) {
    std::string_view word = first_word(stmt.substr(pos));
    if (word.empty()) return false;
    if (is_word(word, "table")) return true;
    pos = static_cast<size_t>(word.data() + word.size() - stmt.data());
  }
  return false;
}

// Whether one statement may name a prepared statement: its first word is
// one of ours, or it is EXPLAIN, or CREATE TABLE, with EXECUTE in it.
bool may_name_statement(std::string_view stmt) {
  std::string_view word = first_word(stmt);
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

// Sets libpg_query's standard_conforming_strings for one call.
class LexerMode {
 public:
  explicit LexerMode(bool on) : saved_(standard_conforming_strings) {
    standard_conforming_strings = on;
  }
  ~LexerMode() { standard_conforming_strings = saved_; }

 private:
  bool saved_;
};

std::string string_field(const json::object& node, std::string_view key) {
  const json::value* v = node.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Each statement's node ({"PrepareStmt": {...}}, ...), or the parser's
// error.
struct Parsed {
  std::vector<json::object> stmts;
  std::optional<SqlCommand> error;  // kUnparsable
};

SqlCommand unparsable(std::string message, int position) {
  return SqlCommand{.kind = Kind::kUnparsable, .error = std::move(message), .position = position};
}

// The statements of libpg_query's JSON parse tree (none for a text of
// comments only); false when the tree cannot be read.
bool read_statements(const char* parse_tree, std::vector<json::object>& out) {
  if (parse_tree == nullptr) return false;
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 100000;  // the parser's own stack limit comes first
  json::value tree = json::parse(parse_tree, ec, {}, options);
  if (ec || !tree.is_object()) return false;
  const json::value* stmts = tree.as_object().if_contains("stmts");
  if (stmts == nullptr) return true;
  if (!stmts->is_array()) return false;
  for (const auto& entry : stmts->as_array()) {
    const json::value* stmt = entry.is_object() ? entry.as_object().if_contains("stmt") : nullptr;
    if (stmt == nullptr || !stmt->is_object()) return false;
    out.push_back(stmt->as_object());
  }
  return true;
}

Parsed parse_statements(const std::string& text) {
  Parsed out;
  PgQueryParseResult r = pg_query_parse(text.c_str());
  if (r.error != nullptr) {
    out.error =
        unparsable(r.error->message ? r.error->message : "syntax error", r.error->cursorpos);
  } else if (!read_statements(r.parse_tree, out.stmts)) {
    out.error = unparsable("statement too complex for Usher to inspect", 0);
  }
  pg_query_free_parse_result(r);
  return out;
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

struct Token {
  int32_t start;
  int32_t end;
  PgQuery__Token token;
};

// PostgreSQL's lexer over `text`, comments left out; empty when it fails.
std::vector<Token> scan(const std::string& text) {
  std::vector<Token> tokens;
  PgQueryScanResult r = pg_query_scan(text.c_str());
  if (r.error == nullptr) {
    PgQuery__ScanResult* s = pg_query__scan_result__unpack(
        nullptr, r.pbuf.len, reinterpret_cast<const uint8_t*>(r.pbuf.data));
    if (s != nullptr) {
      for (size_t i = 0; i < s->n_tokens; ++i) {
        PgQuery__Token t = s->tokens[i]->token;
        if (t == PG_QUERY__TOKEN__SQL_COMMENT || t == PG_QUERY__TOKEN__C_COMMENT) continue;
        tokens.push_back({s->tokens[i]->start, s->tokens[i]->end, t});
      }
      pg_query__scan_result__free_unpacked(s, nullptr);
    }
  }
  pg_query_free_scan_result(r);
  return tokens;
}

// Finds where `cmd`'s name is written: the token after its keyword (PREPARE,
// EXECUTE, DEALLOCATE [PREPARE]) that reads as the parsed name. False when
// no such token exists.
bool locate_name(const std::string& text, SqlCommand& cmd) {
  PgQuery__Token keyword = cmd.kind == Kind::kPrepare   ? PG_QUERY__TOKEN__PREPARE
                           : cmd.kind == Kind::kExecute ? PG_QUERY__TOKEN__EXECUTE
                                                        : PG_QUERY__TOKEN__DEALLOCATE;
  std::vector<Token> tokens = scan(text);
  auto names = [&](size_t i) {
    if (i >= tokens.size() || tokens[i].start < 0 || tokens[i].end > int32_t(text.size()) ||
        tokens[i].start >= tokens[i].end) {
      return false;
    }
    std::string_view t(text.data() + tokens[i].start, size_t(tokens[i].end - tokens[i].start));
    return fold_identifier(t) == cmd.name;
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].token != keyword) continue;
    size_t at = i + 1;
    // DEALLOCATE PREPARE name; but in "DEALLOCATE prepare" the word is the name.
    if (keyword == PG_QUERY__TOKEN__DEALLOCATE && at < tokens.size() &&
        tokens[at].token == PG_QUERY__TOKEN__PREPARE && names(at + 1)) {
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

std::string fold_identifier(std::string_view token) {
  std::string name;
  if (!token.empty() && token.front() == '"') {
    if (token.size() < 2 || token.back() != '"') return {};
    for (size_t i = 1; i + 1 < token.size(); ++i) {
      name.push_back(token[i]);
      if (token[i] == '"') ++i;  // "" stands for one quote
    }
  } else {
    if (token.empty() || token.front() == '&' || token.find('"') != std::string_view::npos) {
      return {};
    }
    for (char c : token)
      name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c);
  }
  if (name.size() > kMaxIdentifier) {
    size_t cut = kMaxIdentifier;
    // Back up to the start of a UTF-8 character.
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80)
      --cut;
    name.resize(cut);
  }
  return name;
}

std::string_view first_word(std::string_view sql) {
  size_t pos = skip_space(sql, 0);
  size_t end = pos;
  // ASCII only, as PostgreSQL's keywords are: no locale lookups per query.
  auto is_letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  while (end < sql.size() && end - pos < 16 && is_letter(sql[end]))
    ++end;
  return sql.substr(pos, end - pos);
}

bool starts_with_word(std::string_view sql, std::string_view lowercase) {
  return is_word(first_word(sql), lowercase);
}

bool names_statement(const SqlCommand& cmd) {
  return cmd.kind != Kind::kDeallocateAll && cmd.kind != Kind::kDiscardAll;
}

bool backslash_in_multibyte(std::string_view encoding) {
  // PostgreSQL's client-only encodings whose second bytes include 0x5C.
  for (std::string_view e : {"SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC", "GB18030", "JOHAB"}) {
    if (encoding.size() == e.size() &&
        std::equal(e.begin(), e.end(), encoding.begin(),
                   [](char a, char b) { return a == (b >= 'a' && b <= 'z' ? b - 32 : b); })) {
      return true;
    }
  }
  return false;
}

namespace {

// One statement's text, parsed: ours or not, and where its name is.
std::optional<SqlCommand> classify_one(const std::string& text) {
  Parsed parsed = parse_statements(text);
  if (parsed.error) return parsed.error;
  if (parsed.stmts.empty()) return std::nullopt;
  if (parsed.stmts.size() > 1) {
    std::optional<SqlCommand> out;
    for (const auto& stmt : parsed.stmts) {
      auto one = classify_node(stmt);
      if (!one) continue;
      if (!one->drops_all) return SqlCommand{.kind = Kind::kCombined, .multiple = true};
      out = SqlCommand{.kind = one->kind, .multiple = true, .drops_all = true};
    }
    return out;
  }
  auto cmd = classify_node(parsed.stmts.front());
  if (!cmd || cmd->drops_all) return cmd;
  if (!locate_name(text, *cmd)) cmd->kind = Kind::kUnlocatable;
  return cmd;
}

// A text too large to parse whole: PostgreSQL's scanner splits it, and only
// the statements that may name a prepared statement are parsed.
std::optional<SqlCommand> classify_large(const std::string& text) {
  PgQuerySplitResult r = pg_query_split_with_scanner(text.c_str());
  std::optional<SqlCommand> out;
  if (r.error != nullptr) {
    out = unparsable(r.error->message ? r.error->message : "syntax error", r.error->cursorpos);
  } else {
    std::vector<std::string_view> ours;
    for (int i = 0; i < r.n_stmts; ++i) {
      const PgQuerySplitStmt* st = r.stmts[i];
      if (st->stmt_location < 0 || st->stmt_len < 0 ||
          size_t(st->stmt_location) + size_t(st->stmt_len) > text.size()) {
        ours.push_back(text);  // not expected: look at the whole
        continue;
      }
      std::string_view stmt(text.data() + st->stmt_location, size_t(st->stmt_len));
      if (may_name_statement(stmt)) ours.push_back(stmt);
    }
    bool multiple = r.n_stmts > 1;
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
      one->multiple = multiple;
      out = one;
    }
    if (out && multiple) out->multiple = true;
  }
  pg_query_free_split_result(r);
  return out;
}

std::optional<SqlCommand> classify_with(const std::string& text, bool standard_conforming_strings) {
  LexerMode mode(standard_conforming_strings);
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
