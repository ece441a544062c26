#include "config/table_name.h"

#include <utility>

#include "config/values.h"

namespace usher::config {

namespace {

constexpr char kQuote = '"';
constexpr char kDot = '.';

// PostgreSQL's scanner: any byte with the high bit set is a letter, so
// identifiers in UTF-8 need no quotes.
bool is_high_bit(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || is_high_bit(c);
}
bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

Error bad_name(std::string_view why) {
  return config_error("expected name or schema.name (" + std::string(why) + ")");
}

// Reads one identifier from the front of `text`, consuming it.
Result<std::string> read_part(std::string_view& text) {
  std::string part;
  if (!text.empty() && text.front() == kQuote) {
    size_t pos = 1;
    bool closed = false;
    while (pos < text.size()) {
      const char c = text[pos];
      if (c == kQuote && pos + 1 < text.size() && text[pos + 1] == kQuote) {
        part += kQuote;
        pos += 2;
      } else if (c == kQuote) {
        ++pos;
        closed = true;
        break;
      } else if (c == '\0') {
        return bad_name("a name cannot contain a NUL byte");
      } else {
        part += c;
        ++pos;
      }
    }
    if (!closed) return bad_name("unterminated quoted name");
    if (part.empty()) return bad_name("empty quoted name");
    text.remove_prefix(pos);
  } else {
    if (text.empty() || !is_ident_start(text.front())) {
      return bad_name("a name starts with a letter or _, or is double-quoted");
    }
    size_t pos = 0;
    while (pos < text.size() && is_ident_char(text[pos]))
      ++pos;
    part = to_lower(text.substr(0, pos));
    text.remove_prefix(pos);
  }
  if (part.size() > kMaxIdentifierBytes) {
    return bad_name("a name has at most " + std::to_string(kMaxIdentifierBytes) + " bytes");
  }
  return part;
}

// True when the part reads back unquoted as itself.
bool is_plain(std::string_view part) {
  if (part.empty() || !is_ident_start(part.front())) return false;
  for (char c : part) {
    if (!is_ident_char(c) || (c >= 'A' && c <= 'Z')) return false;
  }
  return true;
}

std::string quote_if_needed(std::string_view part) {
  if (is_plain(part)) return std::string(part);
  std::string out(1, kQuote);
  for (char c : part) {
    if (c == kQuote) out += kQuote;
    out += c;
  }
  out += kQuote;
  return out;
}

}  // namespace

Result<TableName> parse_table_name(std::string_view text) {
  std::string_view rest = trim(text);
  auto first = read_part(rest);
  if (!first.ok()) return first.take_error();
  TableName table;
  if (rest.empty()) {
    table.name = std::move(*first);
    return table;
  }
  if (rest.front() != kDot) return bad_name("unexpected character after a name");
  rest.remove_prefix(1);
  auto second = read_part(rest);
  if (!second.ok()) return second.take_error();
  if (!rest.empty()) {
    return bad_name(rest.front() == kDot ? "at most one schema, no database"
                                         : "unexpected character after a name");
  }
  table.schema = std::move(*first);
  table.name = std::move(*second);
  return table;
}

std::string format_table_name(const TableName& table) {
  if (table.schema.empty()) return quote_if_needed(table.name);
  return quote_if_needed(table.schema) + kDot + quote_if_needed(table.name);
}

Result<std::string> normalize_table_name(std::string_view text) {
  auto table = parse_table_name(text);
  if (!table.ok()) return table.take_error();
  return format_table_name(*table);
}

}  // namespace usher::config
