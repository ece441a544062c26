// What the cache makes of one statement text (sql::analyze() and the
// catalog's resolve(), then the key text), memoised per worker so that a
// hit costs a hash lookup and not a parse. Not thread-safe: one per worker.
// Bounded: at most kMaxEntries texts of at most kMaxText bytes each, least
// recently used dropped first; a longer text is analysed every time.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/catalog.h"
#include "cache/query_stats.h"
#include "sql/analysis.h"

namespace usher::cache {

// Refusals of the cache's own (besides sql:: and catalog ones).
namespace refusal {
inline constexpr std::string_view kCatalogLoading = "catalog not loaded";
}

struct StatementInfo {
  sql::StatementKind kind = sql::StatementKind::kUnknown;
  std::string_view refusal;         // empty: a cacheable read
  std::vector<std::string> tables;  // a cacheable read: the tables it depends on
  // A write (proxy invalidation): the tables it may change; nullopt: unknown.
  std::optional<std::vector<std::string>> written;
  std::string key_text;    // sql::key_text()
  int64_t ttl_ms = -1;     // /* usher:cache ttl=... */
  bool may_write = false;  // changes data, or might (kWrite, kUnknown)
  // May change the catalog: a write the tree names no table for (DDL,
  // GRANT, CALL, DO, EXECUTE...).
  bool may_change_catalog = false;
  bool commits = false;         // COMMIT, END, ROLLBACK, ABORT (also ... AND CHAIN)
  bool chains = false;          // ... AND CHAIN: a transaction stays open
  bool copies = false;          // COPY: the server may take CopyData next
  bool hides_settings = false;  // leaves settings Usher cannot know (SET ROLE, set_config...)
  // Where its calls are counted (SHOW CACHE_QUERIES): reads and statements
  // the parser cannot read; null for the rest.
  std::shared_ptr<QueryRecord> stats;
};

class StatementMemo {
 public:
  static constexpr size_t kMaxEntries = 4096;
  static constexpr size_t kMaxText = 16 * 1024;

  // `catalog` null: decided on the tree alone, and no read is cacheable.
  std::shared_ptr<const StatementInfo> get(
      uint32_t db, const std::shared_ptr<const Catalog>& catalog, std::string_view text,
      bool standard_conforming_strings, bool need_targets, const std::vector<std::string>& include,
      const std::vector<std::string>& exclude, QueryStats* stats);
  size_t size() const { return map_.size(); }

 private:
  struct Entry {
    std::string key;  // db, flags, text
    // Which catalog decided it: weak, so that an entry neither keeps an
    // old catalog alive nor mistakes a new one at the same address for it.
    std::weak_ptr<const Catalog> catalog;
    std::shared_ptr<const StatementInfo> info;
  };
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> map_;
};

// Longer statements are not parsed (see decide()): at most about one
// tree level per two bytes, which the parser's recursion takes on a
// worker's stack.
inline constexpr size_t kMaxAnalysedText = 16 * 1024;

// Decides one statement (what StatementMemo memoises). A write and
// transaction control are told by their first word where that is enough
// (one statement, no set_config, no PREPARED): parsing costs tens of
// microseconds and every statement with its own constants is a new text.
// `need_targets` (proxy invalidation): a write's tables are needed, so
// writes are parsed. `stats` (may be null): where the statement's record
// is found.
StatementInfo decide(const Catalog* catalog, std::string_view text,
                     bool standard_conforming_strings, bool need_targets,
                     const std::vector<std::string>& include,
                     const std::vector<std::string>& exclude, QueryStats* stats);

// A single SELECT that calls nothing (no parenthesis at all) and has no
// INTO, so cannot write but through a view: what a read inside a
// transaction that has written, never cached, needs to be known as,
// without a parse. Split as the client's standard_conforming_strings has it.
bool plain_select(std::string_view text, bool standard_conforming_strings);

}  // namespace usher::cache
