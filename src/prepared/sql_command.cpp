#include "prepared/sql_command.h"

#include <pg_query.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <vector>

namespace usher::prepared {
namespace {

namespace json = boost::json;

// Skips blanks, -- comments and (nested) /* */ comments from `pos`.
size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    char c = s[pos];
    if (std::isspace(static_cast<unsigned char>(c))) {
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

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Reads an identifier at `pos`: "quoted" (with "" for a quote) or plain
// (folded to lower case). Returns the end, or npos.
size_t read_identifier(std::string_view s, size_t pos, std::string& name) {
  name.clear();
  if (pos < s.size() && s[pos] == '"') {
    ++pos;
    while (pos < s.size()) {
      if (s[pos] == '"') {
        if (pos + 1 < s.size() && s[pos + 1] == '"') {
          name.push_back('"');
          pos += 2;
          continue;
        }
        return pos + 1;
      }
      name.push_back(s[pos++]);
    }
    return std::string_view::npos;
  }
  size_t start = pos;
  while (pos < s.size() && ident_char(s[pos])) {
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(s[pos]))));
    ++pos;
  }
  return pos == start ? std::string_view::npos : pos;
}

std::string string_field(const json::object& node, std::string_view key) {
  const json::value* v = node.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Each statement's node ({"PrepareStmt": {...}}, ...), or nothing when the
// text does not parse (the server will say why).
std::optional<std::vector<json::object>> parse_statements(std::string_view sql) {
  std::string text(sql);
  PgQueryParseResult r = pg_query_parse(text.c_str());
  std::optional<std::vector<json::object>> out;
  if (r.error == nullptr && r.parse_tree != nullptr) {
    boost::system::error_code ec;
    json::value tree = json::parse(r.parse_tree, ec);
    const json::array* stmts = nullptr;
    if (!ec && tree.as_object().if_contains("stmts"))
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

// What one statement's node is to us: its kind and, where it has one, the
// name as PostgreSQL parsed it (the text's position is found later).
std::optional<SqlCommand> classify_node(const json::object& node) {
  if (node.size() != 1) return std::nullopt;
  const auto& [type, value] = *node.begin();
  if (!value.is_object()) return std::nullopt;
  const json::object& fields = value.as_object();
  SqlCommand cmd;
  if (type == "DiscardStmt") {
    if (string_field(fields, "target") != "DISCARD_ALL") return std::nullopt;
    cmd.kind = SqlCommand::Kind::kDiscardAll;
    cmd.drops_all = true;
    return cmd;
  }
  if (type == "PrepareStmt") {
    cmd.kind = SqlCommand::Kind::kPrepare;
  } else if (type == "ExecuteStmt") {
    cmd.kind = SqlCommand::Kind::kExecute;
  } else if (type == "DeallocateStmt") {
    cmd.kind = SqlCommand::Kind::kDeallocate;
  } else {
    return std::nullopt;
  }
  cmd.name = string_field(fields, "name");
  if (cmd.name.empty()) {
    if (cmd.kind != SqlCommand::Kind::kDeallocate) return std::nullopt;
    cmd.kind = SqlCommand::Kind::kDeallocateAll;
    cmd.drops_all = true;
  }
  return cmd;
}

// `word` is letters only, so c | 0x20 is its lowercase.
bool is_word(std::string_view word, std::string_view lowercase) {
  return std::equal(word.begin(), word.end(), lowercase.begin(), lowercase.end(),
                    [](char c, char lower) { return (c | 0x20) == lower; });
}

bool is_candidate_word(std::string_view word) {
  return is_word(word, "prepare") || is_word(word, "execute") || is_word(word, "deallocate") ||
         is_word(word, "discard");
}

// Whether a statement after the first could be one of ours: a ';' with one
// of the keywords somewhere after it. Only then is the parser asked.
bool may_hide_command(std::string_view sql) {
  size_t semi = sql.find(';');
  if (semi == std::string_view::npos) return false;
  std::string_view rest = sql.substr(semi);
  // ASCII case folding (c | 0x20 also maps a few symbols; the parser decides).
  auto same = [](char c, char lower) { return (c | 0x20) == lower; };
  for (std::string_view word : {"prepare", "execute", "deallocate", "discard"}) {
    if (std::search(rest.begin(), rest.end(), word.begin(), word.end(), same) != rest.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace

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

std::optional<SqlCommand> classify_sql(std::string_view sql) {
  std::string_view word = first_word(sql);
  bool candidate = is_candidate_word(word);
  if (!candidate && !may_hide_command(sql)) return std::nullopt;
  auto stmts = parse_statements(sql);
  if (!stmts || stmts->empty()) return std::nullopt;
  if (stmts->size() > 1) {
    SqlCommand combined{.kind = SqlCommand::Kind::kCombined};
    bool ours = false;
    for (const auto& stmt : *stmts) {
      auto one = classify_node(stmt);
      ours = ours || one.has_value();
      combined.drops_all = combined.drops_all || (one && one->drops_all);
    }
    if (!ours) return std::nullopt;
    return combined;
  }
  if (!candidate) return std::nullopt;
  auto cmd = classify_node(stmts->front());
  if (!cmd || cmd->drops_all) return cmd;
  // Find where the name is written, to splice Usher's name in its place.
  size_t pos = skip_space(sql, 0) + word.size();
  pos = skip_space(sql, pos);
  std::string name;
  size_t end = read_identifier(sql, pos, name);
  if (cmd->kind == SqlCommand::Kind::kDeallocate && end != std::string_view::npos &&
      name == "prepare" && sql[pos] != '"') {
    // DEALLOCATE PREPARE name; but "DEALLOCATE prepare" names a statement.
    std::string next;
    size_t next_end = read_identifier(sql, skip_space(sql, end), next);
    if (next_end != std::string_view::npos) {
      name = std::move(next);
      end = next_end;
    }
  }
  if (end == std::string_view::npos || name != cmd->name) return std::nullopt;
  cmd->tail = sql.substr(end);
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
