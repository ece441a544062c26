// SQL as PostgreSQL's lexer reads it, for the cheap looks that come before
// any parsing: blanks and comments, the first word, identifiers as the
// server folds them, and what a client encoding does to backslashes. Shared
// by everything that decides on a query's text (prepared statements today;
// the cache and routing next).
//
// Pure: no I/O, no parser.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace usher::sql {

// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
inline constexpr size_t kMaxIdentifier = 63;

// What the server will read a query with, beyond its bytes.
struct SqlReading {
  bool standard_conforming_strings = true;  // with it off, 'it\'s' is one literal
  // The client encoding may have a backslash as the second byte of a
  // character (SJIS, BIG5, GBK, UHC, GB18030, JOHAB): what the server reads
  // after converting such text is not what its bytes say.
  bool backslash_in_multibyte = false;
};

// Whether `client_encoding` (as PostgreSQL reports it) is one of those.
bool backslash_in_multibyte(std::string_view client_encoding);

// Skips blanks, -- comments and (nested) /* */ comments from `pos`.
size_t skip_space(std::string_view sql, size_t pos);

// Whether `word` (letters only) is `lowercase` in any case.
bool is_word(std::string_view word, std::string_view lowercase);

// Whether `lowercase` (letters) appears in `text` in any case: ASCII folding
// with c | 0x20, which also maps a few symbols, so a parser must decide.
bool contains_word(std::string_view text, std::string_view lowercase);

// The first word of `sql` (after blanks and comments), as written, at most
// 16 letters; empty when there is none.
std::string_view first_word(std::string_view sql);

// Whether the first word of `sql` is `lowercase`, in any case.
bool starts_with_word(std::string_view sql, std::string_view lowercase);

// An identifier as PostgreSQL reads it from a token's text: "quoted" kept
// as written (with "" for a quote), otherwise ASCII-lowercased; then cut to
// kMaxIdentifier bytes without splitting a UTF-8 character. Empty for a
// token that is not a plain or quoted identifier (U&"..." forms).
std::string fold_identifier(std::string_view token);

}  // namespace usher::sql
