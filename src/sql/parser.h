// PostgreSQL's own parser, lexer and statement splitter (libpg_query, that
// of PostgreSQL 15), for the decisions a look at the words cannot settle
// (sql/lexical.h comes first, and turns nearly every query away).
//
// Pure: no I/O. Everything runs in the calling thread; libpg_query keeps
// its state in thread-locals.
#pragma once

#include <pg_query/pg_query.pb-c.h>

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace usher::sql {

struct ParseError {
  std::string message;
  int position = 0;  // 1-based, in characters; 0: unknown
};

// Sets libpg_query's standard_conforming_strings (how its lexer reads
// backslashes in '...' literals) for the life of this object.
class LexerMode {
 public:
  explicit LexerMode(bool standard_conforming_strings);
  ~LexerMode();
  LexerMode(const LexerMode&) = delete;
  LexerMode& operator=(const LexerMode&) = delete;

 private:
  bool saved_;
};

// The statements of `text`, each its parse-tree node as JSON
// ({"PrepareStmt": {...}}), none for a text of comments only; or the
// parser's error (also for a tree too deep to read).
struct Parsed {
  std::vector<boost::json::object> statements;
  std::optional<ParseError> error;
};
Parsed parse(const std::string& text);

// PostgreSQL's lexer over `text`, comments left out; empty when it fails.
struct Token {
  int32_t start = 0;  // byte offsets into the text
  int32_t end = 0;
  PgQuery__Token kind = PG_QUERY__TOKEN__NUL;
};
std::vector<Token> scan(const std::string& text);

// `text` cut into statements by PostgreSQL's scanner, without parsing
// (about 25 ns a byte): views into `text`, or the scanner's error.
struct Split {
  std::vector<std::string_view> statements;
  std::optional<ParseError> error;
};
Split split(const std::string& text);

}  // namespace usher::sql
