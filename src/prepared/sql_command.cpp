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
    } else if (s.substr(pos, 2) == "--") {
      pos = s.find('\n', pos);
      if (pos == std::string_view::npos) return s.size();
    } else if (s.substr(pos, 2) == "/*") {
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

// Whether the parser must look at `sql`: its first word is one of ours, or
// EXPLAIN / CREATE with EXECUTE somewhere, or a ';' with one of our words
// after it (a second statement). Everything else is decided here, for the
// price of a few compares.
bool is_candidate(std::string_view sql) {
  std::string_view word = first_word(sql);
  for (auto k : kKeywords) {
    if (is_word(word, k)) return true;
  }
  if ((is_word(word, "explain") || is_word(word, "create")) && contains_word(sql, "execute")) {
    return true;
  }
  size_t semi = sql.find(';');
  if (semi == std::string_view::npos) return false;
  std::string_view rest = sql.substr(semi);
  return std::any_of(std::begin(kKeywords), std::end(kKeywords),
                     [&](std::string_view k) { return contains_word(rest, k); });
}

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

// Each statement's node ({"PrepareStmt": {...}}, ...), or nothing when the
// text does not parse (the server will say why).
std::optional<std::vector<json::object>> parse_statements(const std::string& text) {
  PgQueryParseResult r = pg_query_parse(text.c_str());
  std::optional<std::vector<json::object>> out;
  if (r.error == nullptr && r.parse_tree != nullptr) {
    boost::system::error_code ec;
    json::value tree = json::parse(r.parse_tree, ec);
    const json::array* stmts = nullptr;
    if (!ec && tree.is_object() && tree.as_object().if_contains("stmts"))
      stmts = tree.as_object().at("stmts").if_array();
    if (stmts != nullptr) {
      out.emplace();
      for (const auto& entry : *stmts) {
        const json::value* stmt =
            entry.is_object() ? entry.as_object().if_contains("stmt") : nullptr;
        if (stmt == nullptr || !stmt->is_object()) {
          out.reset();
          break;
        }
        out->push_back(stmt->as_object());
      }
    }
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

std::optional<SqlCommand> classify_sql(std::string_view sql, bool standard_conforming_strings) {
  if (!is_candidate(sql)) return std::nullopt;
  // The parser needs a NUL-terminated copy; a NUL inside is not SQL.
  if (sql.find('\0') != std::string_view::npos) return std::nullopt;
  std::string text(sql);
  LexerMode mode(standard_conforming_strings);
  auto stmts = parse_statements(text);
  if (!stmts || stmts->empty()) return std::nullopt;
  if (stmts->size() > 1) {
    std::optional<SqlCommand> out;
    for (const auto& stmt : *stmts) {
      auto one = classify_node(stmt);
      if (!one) continue;
      if (!one->drops_all) return SqlCommand{.kind = Kind::kCombined, .multiple = true};
      out = SqlCommand{.kind = one->kind, .multiple = true, .drops_all = true};
    }
    return out;
  }
  auto cmd = classify_node(stmts->front());
  if (!cmd || cmd->drops_all) return cmd;
  if (!locate_name(text, *cmd)) cmd->kind = Kind::kUnlocatable;
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
