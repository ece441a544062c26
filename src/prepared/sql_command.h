// Recognises the SQL statements that act on prepared statements by name:
// PREPARE, EXECUTE (alone, or inside EXPLAIN or CREATE TABLE AS), DEALLOCATE
// [PREPARE] name | ALL, and DISCARD ALL. A cheap look at the words of a
// query turns away nearly every other one; only a candidate goes through
// PostgreSQL's own parser and lexer (libpg_query), so comments, case,
// quoting and standard_conforming_strings cannot fool it, and the name's
// position in the text comes from the lexer's tokens.
//
// Pure: no I/O. The parser runs in this thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace usher::prepared {

// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
inline constexpr size_t kMaxIdentifier = 63;

struct SqlCommand {
  enum class Kind {
    kPrepare,        // PREPARE name [(types)] AS statement
    kExecute,        // EXECUTE name [(args)], alone or inside EXPLAIN / CREATE TABLE AS
    kDeallocate,     // DEALLOCATE [PREPARE] name
    kDeallocateAll,  // DEALLOCATE [PREPARE] ALL
    kDiscardAll,
    kCombined,  // several statements, one of which names a prepared statement
    // Names a prepared statement, but the lexer's tokens do not show where
    // (a Unicode-escaped identifier, say): never passed on as it is.
    kUnlocatable,
  };
  Kind kind = Kind::kPrepare;
  std::string name;  // as PostgreSQL folds and truncates it
  // Where the name is written (kPrepare, kExecute, kDeallocate), in bytes.
  size_t name_begin = 0;
  size_t name_end = 0;
  bool multiple = false;   // one of several statements (kDeallocateAll, kDiscardAll)
  bool drops_all = false;  // DEALLOCATE ALL or DISCARD ALL, alone or among others
};

// `standard_conforming_strings`: as the server that will run `sql` has it
// (with it off, 'it\'s' is one string literal).
std::optional<SqlCommand> classify_sql(std::string_view sql,
                                       bool standard_conforming_strings = true);

// Whether `sql` (a server_reset_query) is DISCARD ALL or DEALLOCATE ALL.
// Remembers the last answer per thread: the reset query rarely changes and
// may run at every transaction end.
bool drops_all_statements(const std::string& sql);

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

}  // namespace usher::prepared
