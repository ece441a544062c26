// What a statement does, as far as its parse tree shows, for the result
// cache (cache/policy.h decides with the catalog): whether it only reads,
// what it reads and calls, and what it writes. Default-deny: anything the
// walker does not know makes the statement a refusal, never a read.
//
// Pure: no I/O. Runs the libpg_query parser (sql/parser.h) in the calling
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace usher::sql {

// A name as the server folds it; `schema` empty when unqualified.
struct QualifiedName {
  std::string schema;
  std::string name;
  bool operator==(const QualifiedName&) const = default;
};

enum class StatementKind : uint8_t {
  kRead,         // SELECT / VALUES / TABLE with no data-modifying part
  kWrite,        // INSERT, UPDATE, DELETE, MERGE, COPY FROM, SELECT INTO, DML in a CTE,
                 // CALL, DO, EXECUTE, EXPLAIN ANALYZE, and every DDL, GRANT, TRUNCATE...
  kTransaction,  // BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE,
                 // PREPARE TRANSACTION, COMMIT PREPARED (kWrite: it commits others' work)
  kSetting,      // SET, RESET, DISCARD (see `setting`)
  kHarmless,     // SHOW, LISTEN, UNLISTEN, NOTIFY, DEALLOCATE, CLOSE, FETCH/MOVE, LOCK,
                 // CHECKPOINT: change neither data nor what results look like
  kUnknown,      // anything else, and every parse failure: counts as a write
};

// Why a statement is not a cacheable read (the empty string: it is, as far
// as the tree shows). Fixed names: they are counted per statement.
namespace refusal {
inline constexpr std::string_view kParseError = "parse error";
inline constexpr std::string_view kMultipleStatements = "multiple statements";
inline constexpr std::string_view kNotRead = "not a read";
inline constexpr std::string_view kLocking = "FOR UPDATE/SHARE";
inline constexpr std::string_view kSelectInto = "SELECT INTO";
inline constexpr std::string_view kModifyingCte = "data-modifying CTE";
inline constexpr std::string_view kTableSample = "TABLESAMPLE without REPEATABLE";
inline constexpr std::string_view kSqlValueFunction = "CURRENT_* value function";
inline constexpr std::string_view kSystemColumn = "system column";
inline constexpr std::string_view kTimeLiteral = "time-dependent literal";  // 'now', 'today'...
inline constexpr std::string_view kCatalogCast = "reg* cast";
inline constexpr std::string_view kParameter = "parameter reference";
inline constexpr std::string_view kUnsupportedNode = "unsupported construct";
inline constexpr std::string_view kNoCacheHint = "usher:no-cache";
}  // namespace refusal

struct Analysis {
  StatementKind kind = StatementKind::kUnknown;
  std::string_view refusal;              // one of sql::refusal, or empty
  std::vector<QualifiedName> relations;  // read: every RangeVar, CTE names excluded, deduplicated
  std::vector<QualifiedName> functions;  // every FuncCall (incl. in FROM), deduplicated
  std::vector<QualifiedName> operators;  // every operator name (A_Expr, incl. ANY/ALL, LIKE ...)
  std::vector<QualifiedName> written;    // kWrite: target relations the tree names
  // kSetting: the setting's name, lowercased ("search_path", "role",
  // "session_authorization", "timezone"...); "all" for RESET ALL / DISCARD ALL.
  std::string setting;
};

// Analyses `text` (one simple Query's string, or one Parse's). Several
// statements: kind is kWrite if any of them may write, else the strongest
// other kind, and refusal is kMultipleStatements. The parse runs with
// `standard_conforming_strings` as the session has it.
Analysis analyze(std::string_view text, bool standard_conforming_strings);

// The text for a cache key: PostgreSQL's tokens joined by one space,
// comments and whitespace left out (so `/* x */ SELECT  1` and `SELECT 1`
// agree), constants and their order kept exactly; empty when the lexer
// fails. Unlike a fingerprint this keeps every constant, alias and column
// order.
std::string key_text(std::string_view text, bool standard_conforming_strings);

// The key text and, from the same tokens, the statement's shape for
// statistics: every constant (number, string, bit string) replaced by $n,
// numbered after the statement's own parameters, keywords in upper case
// and unquoted names in lower case, so that reads differing only in their
// constants or case share it (`SELECT * FROM t WHERE id = $1`).
// Both empty when the lexer fails.
struct StatementTexts {
  std::string key;
  std::string normalized;
};
StatementTexts statement_texts(std::string_view text, bool standard_conforming_strings);

// A stable 64-bit hash (FNV-1a) of a normalized text: what SHOW
// CACHE_QUERIES calls the statement's fingerprint.
uint64_t fingerprint(std::string_view normalized);

// Per-query control from SQL comments: /* usher:no-cache */ and
// /* usher:cache ttl=30s */ (units ms, s, m, h; a bare number is seconds).
struct CacheHint {
  bool no_cache = false;
  int64_t ttl_ms = -1;  // -1: none given
};
CacheHint cache_hint(std::string_view text);

}  // namespace usher::sql
