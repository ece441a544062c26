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
// A candidate longer than this is not parsed whole: PostgreSQL's scanner
// splits it (about 25 ns a byte), and only its statements that may name a
// prepared statement are parsed, each up to this size. Parsing costs about
// 250 bytes of memory and 0.7 us of CPU per byte of SQL.
inline constexpr size_t kMaxParsedText = 64 * 1024;

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

struct SqlCommand {
  enum class Kind {
    kPrepare,        // PREPARE name [(types)] AS statement
    kExecute,        // EXECUTE name [(args)], alone or inside EXPLAIN / CREATE TABLE AS
    kDeallocate,     // DEALLOCATE [PREPARE] name
    kDeallocateAll,  // DEALLOCATE [PREPARE] ALL
    kDiscardAll,
    kCombined,  // several statements, one of which names a prepared statement
    // The remaining kinds are never passed on as they are (any of them may
    // hide a statement that names a prepared statement):
    kUnlocatable,  // names one, but the lexer's tokens do not show where (U&"...")
    kUnparsable,   // a candidate PostgreSQL's parser refuses: `error`, `position`
    kAmbiguous,    // read differently by standard_conforming_strings, or encoding
    kTooLarge,     // a statement that may name one is over kMaxParsedText
  };
  Kind kind = Kind::kPrepare;
  std::string name;  // as PostgreSQL folds and truncates it
  // Where the name is written (kPrepare, kExecute, kDeallocate), in bytes.
  size_t name_begin = 0;
  size_t name_end = 0;
  bool multiple = false;   // one of several statements (kDeallocateAll, kDiscardAll)
  bool drops_all = false;  // DEALLOCATE ALL or DISCARD ALL, alone or among others
  std::string error;       // kUnparsable: the parser's message
  int position = 0;        // kUnparsable: where (1-based, in characters; 0: unknown)
};

// Nothing when `sql` certainly names no prepared statement.
std::optional<SqlCommand> classify_sql(std::string_view sql, SqlReading reading = {});

// classify_sql()'s first, cheap look (a few compares; most queries stop
// here): false when `sql` certainly names no prepared statement.
bool is_candidate(std::string_view sql);

// Whether a command must never reach a server as the client wrote it:
// everything but DEALLOCATE ALL and DISCARD ALL (which name none).
bool names_statement(const SqlCommand& cmd);

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
