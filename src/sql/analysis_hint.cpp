// cache_hint(): the usher: directives in a query's comments. Comments are
// found where PostgreSQL's lexer puts them, between its tokens, so the
// same words inside a string literal or a quoted name are never read.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "sql/analysis.h"
#include "sql/lexical.h"
#include "sql/parser.h"

namespace usher::sql {

namespace {

constexpr std::string_view kPrefix = "usher:";
constexpr std::string_view kNoCache = "no-cache";
constexpr std::string_view kCache = "cache";
constexpr std::string_view kTtl = "ttl=";
constexpr int64_t kMsPerSecond = 1000;
constexpr int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr int64_t kMsPerHour = 60 * kMsPerMinute;
// A longer TTL is taken as this one: past it, "until invalidated" is the
// honest reading, and the arithmetic stays far from overflow.
constexpr int64_t kMaxTtlMs = 365 * 24 * kMsPerHour;

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// "30s", "500ms", "2m", "1h", "45" (seconds): milliseconds, clamped to
// 0..kMaxTtlMs; -1 for anything else.
int64_t parse_ttl(std::string_view v) {
  size_t digits = 0;
  int64_t n = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') {
    n = std::min<int64_t>(n * 10 + (v[digits] - '0'), kMaxTtlMs + 1);
    ++digits;
  }
  if (digits == 0) return -1;
  std::string_view unit = v.substr(digits);
  int64_t scale = 0;
  if (unit.empty() || is_word(unit, "s")) {
    scale = kMsPerSecond;
  } else if (is_word(unit, "ms")) {
    scale = 1;
  } else if (is_word(unit, "m")) {
    scale = kMsPerMinute;
  } else if (is_word(unit, "h")) {
    scale = kMsPerHour;
  } else {
    return -1;
  }
  return std::min(n * scale, kMaxTtlMs);
}

// Reads the directives in one comment's text.
void read_comment(std::string_view body, CacheHint& hint) {
  auto same = [](char c, char lower) { return (c | 0x20) == lower; };
  for (auto at = body.begin();; ++at) {
    at = std::search(at, body.end(), kPrefix.begin(), kPrefix.end(), same);
    if (at == body.end()) return;
    size_t pos = size_t(at - body.begin());
    if (pos > 0 && is_word_char(body[pos - 1])) continue;  // xusher:...
    size_t word_end = pos + kPrefix.size();
    while (word_end < body.size() && is_word_char(body[word_end]))
      ++word_end;
    std::string_view word = body.substr(pos + kPrefix.size(), word_end - pos - kPrefix.size());
    if (is_word(word, kNoCache)) {
      hint.no_cache = true;
    } else if (is_word(word, kCache) && hint.ttl_ms < 0) {
      size_t opt = word_end;
      while (opt < body.size() && is_blank(body[opt]))
        ++opt;
      std::string_view rest = body.substr(opt);
      if (rest.size() < kTtl.size() || !is_word(rest.substr(0, kTtl.size() - 1), "ttl") ||
          rest[kTtl.size() - 1] != '=') {
        continue;
      }
      rest.remove_prefix(kTtl.size());
      size_t end = 0;
      while (end < rest.size() && (is_word_char(rest[end]) || rest[end] == '.'))
        ++end;
      hint.ttl_ms = parse_ttl(rest.substr(0, end));
    }
  }
}

// The comments in `gap`, text the lexer found no token in: blanks and
// comments only (or, where the lexer failed, anything after them).
void read_gap(std::string_view gap, CacheHint& hint) {
  size_t pos = 0;
  while (pos < gap.size()) {
    if (is_blank(gap[pos])) {
      ++pos;
    } else if (gap.substr(pos, 2) == "--") {
      size_t end = std::min(gap.find_first_of("\n\r", pos), gap.size());
      read_comment(gap.substr(pos + 2, end - pos - 2), hint);
      pos = end;
    } else if (gap.substr(pos, 2) == "/*") {
      // As PostgreSQL's lexer: /* */ comments nest.
      size_t end = pos + 2;
      int depth = 1;
      while (end < gap.size() && depth > 0) {
        if (gap.substr(end, 2) == "/*") {
          ++depth;
          end += 2;
        } else if (gap.substr(end, 2) == "*/") {
          --depth;
          end += 2;
        } else {
          ++end;
        }
      }
      size_t body_end = depth == 0 ? end - 2 : end;
      read_comment(gap.substr(pos + 2, body_end - pos - 2), hint);
      pos = end;
    } else {
      return;
    }
  }
}

}  // namespace

CacheHint cache_hint(std::string_view text) {
  CacheHint hint;
  // Nearly every query stops here, before the lexer.
  if (!contains_word(text, kPrefix) || text.find('\0') != std::string_view::npos) return hint;
  std::vector<Token> tokens = scan(std::string(text));
  size_t from = 0;
  for (const Token& t : tokens) {
    if (t.start < 0 || t.end < t.start || size_t(t.end) > text.size() || size_t(t.start) < from) {
      return CacheHint{};
    }
    read_gap(text.substr(from, size_t(t.start) - from), hint);
    from = size_t(t.end);
  }
  read_gap(text.substr(from), hint);
  return hint;
}

}  // namespace usher::sql
