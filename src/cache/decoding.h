// The output of PostgreSQL's built-in test_decoding plugin, as far as the
// invalidation stream needs it: which tables each committed transaction
// changed. One line arrives per XLogData message:
//
//   BEGIN [xid]
//   table public.orders: INSERT: id[integer]:1 ...
//   table "Sales"."Q1", public.t: TRUNCATE: (no-flags)
//   message: transactional: 1 prefix: ..., sz: 3 content:...
//   COMMIT [xid]
//
// Table names are quote_qualified_identifier()'s: each part plain or in
// double quotes (a quote inside doubled). Only a line's start matters, so
// a caller may pass just the first bytes of a huge line (a row with a
// gigabyte column): a table line counts only when ": ACTION:" follows its
// names, which a line cut within them lacks (it is then kUnknown).
//
// Pure: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.h"

namespace usher::cache {

// A transaction that touches more distinct tables than this is reported as
// a catalog change (a flush of the database) rather than held in memory.
inline constexpr size_t kMaxTablesPerTransaction = 10000;

enum class LineKind { kBegin, kCommit, kTable, kMessage, kUnknown };

struct DecodedLine {
  LineKind kind = LineKind::kUnknown;
  // kTable: the tables named, as table ids (schema NUL name), in line order.
  std::vector<std::string> tables;
  // kTable: the names as the line spells them ("public.t, \"A\".b").
  std::string_view names;
};
DecodedLine decode_line(std::string_view line);

// What one committed transaction changed.
struct DecodedCommit {
  // Sorted and deduplicated; empty when catalog_change.
  std::vector<std::string> tables;
  // No table changed that the stream shows (DDL, GRANT, ANALYZE...), or
  // the tables could not all be told (too many, an unreadable line): to
  // the cache, a catalog change.
  bool catalog_change = false;
};

// Follows test_decoding's lines through BEGIN ... COMMIT. Its memory is
// bounded whatever the transaction's size: a table counts once, and past
// kMaxTablesPerTransaction none are kept.
class TransactionDecoder {
 public:
  // One line, or its first bytes. A value when it was a COMMIT;
  // an error for lines out of order (a BEGIN inside a transaction, a change
  // or COMMIT outside one, an unknown line outside one), after which the
  // stream cannot be trusted.
  Result<std::optional<DecodedCommit>> feed(std::string_view line);
  bool in_transaction() const { return in_transaction_; }

 private:
  void add_tables(std::vector<std::string>& tables);

  bool in_transaction_ = false;
  bool unreadable_ = false;  // too many tables, or a line not understood
  std::unordered_set<std::string> tables_;
  // The raw name part of the last table line: a transaction that changes a
  // million rows of one table costs a comparison per row, not a parse.
  std::string last_names_;
};

}  // namespace usher::cache
