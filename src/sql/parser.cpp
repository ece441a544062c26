#include "sql/parser.h"

#include <pg_query.h>

// libpg_query's copy of PostgreSQL's GUC (a thread-local there, as all of
// its globals): how its lexer reads backslashes in '...' literals.
extern "C" {
extern __thread bool standard_conforming_strings;
}

namespace usher::sql {

namespace json = boost::json;

namespace {

// JSON levels: two or three per level of the statement's tree.
constexpr unsigned kMaxTreeDepth = 3000;

// The statements of libpg_query's JSON parse tree (none for a text of
// comments only); false when the tree cannot be read.
bool read_statements(const char* parse_tree, std::vector<json::object>& out) {
  if (parse_tree == nullptr) return false;
  boost::system::error_code ec;
  json::parse_options options;
  // Copying and freeing a tree recurse once per level, on the worker's
  // stack: a client's `SELECT 1+1+...+1` of a few hundred kilobytes would
  // otherwise be a tree deep enough to overflow it. Deeper trees are
  // refused as unreadable, which every user of the parser treats as "pass
  // through, decide nothing" (the cache's walker stops well before this).
  options.max_depth = kMaxTreeDepth;
  json::value tree = json::parse(parse_tree, ec, {}, options);
  if (ec || !tree.is_object()) return false;
  json::value* stmts = tree.as_object().if_contains("stmts");
  if (stmts == nullptr) return true;
  if (!stmts->is_array()) return false;
  for (auto& entry : stmts->as_array()) {
    json::value* stmt = entry.is_object() ? entry.as_object().if_contains("stmt") : nullptr;
    if (stmt == nullptr || !stmt->is_object()) return false;
    out.push_back(std::move(stmt->as_object()));  // same storage: no deep copy
  }
  return true;
}

ParseError error_of(const PgQueryError* e) {
  return {e->message ? e->message : "syntax error", e->cursorpos};
}

}  // namespace

LexerMode::LexerMode(bool on) : saved_(standard_conforming_strings) {
  standard_conforming_strings = on;
}

LexerMode::~LexerMode() {
  standard_conforming_strings = saved_;
}

Parsed parse(const std::string& text) {
  Parsed out;
  PgQueryParseResult r = pg_query_parse(text.c_str());
  if (r.error != nullptr) {
    out.error = error_of(r.error);
  } else if (!read_statements(r.parse_tree, out.statements)) {
    out.error = ParseError{"statement too complex for Usher to inspect", 0};
  }
  pg_query_free_parse_result(r);
  return out;
}

std::vector<Token> scan(const std::string& text) {
  std::vector<Token> tokens;
  PgQueryScanResult r = pg_query_scan(text.c_str());
  if (r.error == nullptr) {
    PgQuery__ScanResult* s = pg_query__scan_result__unpack(
        nullptr, r.pbuf.len, reinterpret_cast<const uint8_t*>(r.pbuf.data));
    if (s != nullptr) {
      for (size_t i = 0; i < s->n_tokens; ++i) {
        PgQuery__Token t = s->tokens[i]->token;
        if (t == PG_QUERY__TOKEN__SQL_COMMENT || t == PG_QUERY__TOKEN__C_COMMENT) continue;
        tokens.push_back({s->tokens[i]->start, s->tokens[i]->end, t});
      }
      pg_query__scan_result__free_unpacked(s, nullptr);
    }
  }
  pg_query_free_scan_result(r);
  return tokens;
}

Split split(const std::string& text) {
  Split out;
  PgQuerySplitResult r = pg_query_split_with_scanner(text.c_str());
  if (r.error != nullptr) {
    out.error = error_of(r.error);
  } else {
    for (int i = 0; i < r.n_stmts; ++i) {
      const PgQuerySplitStmt* st = r.stmts[i];
      if (st->stmt_location < 0 || st->stmt_len < 0 ||
          size_t(st->stmt_location) + size_t(st->stmt_len) > text.size()) {
        out.statements.push_back(text);  // not expected: the whole text stands for it
        continue;
      }
      out.statements.emplace_back(text.data() + st->stmt_location, size_t(st->stmt_len));
    }
  }
  pg_query_free_split_result(r);
  return out;
}

}  // namespace usher::sql
