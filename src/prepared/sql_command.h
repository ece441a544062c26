// Recognises the SQL statements that act on prepared statements by name:
// PREPARE, EXECUTE (alone, or inside EXPLAIN or CREATE TABLE AS), DEALLOCATE
// [PREPARE] name | ALL, and DISCARD ALL. A cheap look at the words of a
// query turns away nearly every other one; only a candidate goes through
// PostgreSQL's own parser and lexer (libpg_query), so comments, case,
// quoting and standard_conforming_strings cannot fool it, and the name's
// position in the text comes from the lexer's tokens (sql/parser.h).
//
// Pure: no I/O. The parser runs in this thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "sql/lexical.h"

namespace usher::prepared {

using sql::SqlReading;

// A candidate longer than this is not parsed whole: PostgreSQL's scanner
// splits it (about 25 ns a byte), and only its statements that may name a
// prepared statement are parsed, each up to this size. Parsing costs about
// 250 bytes of memory and 0.7 us of CPU per byte of SQL.
inline constexpr size_t kMaxParsedText = 64 * 1024;

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

}  // namespace usher::prepared
