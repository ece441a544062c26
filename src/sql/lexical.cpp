#include "sql/lexical.h"

#include <algorithm>

namespace usher::sql {

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

bool is_word(std::string_view word, std::string_view lowercase) {
  return std::equal(word.begin(), word.end(), lowercase.begin(), lowercase.end(),
                    [](char c, char lower) { return (c | 0x20) == lower; });
}

bool contains_word(std::string_view text, std::string_view lowercase) {
  auto same = [](char c, char lower) { return (c | 0x20) == lower; };
  return std::search(text.begin(), text.end(), lowercase.begin(), lowercase.end(), same) !=
         text.end();
}

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

}  // namespace usher::sql
