#include "cache/decoding.h"

#include <algorithm>
#include <array>

#include "cache/catalog.h"
#include "protocol/sqlstate.h"

namespace usher::cache {
namespace {

constexpr std::string_view kBeginWord = "BEGIN";
constexpr std::string_view kCommitWord = "COMMIT";
constexpr std::string_view kTablePrefix = "table ";
constexpr std::string_view kMessagePrefix = "message: ";
constexpr std::string_view kNamesEnd = ": ";
constexpr std::string_view kNamesSeparator = ", ";
constexpr std::array<std::string_view, 4> kActions = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};

// "WORD" alone, or "WORD <digits>..." (an xid, maybe more after it).
// "COMMIT PREPARED 'gid'" (two-phase decoding, which the stream does not
// ask for) is not a COMMIT.
bool is_keyword_line(std::string_view line, std::string_view word) {
  if (!line.starts_with(word)) return false;
  if (line.size() == word.size()) return true;
  return line.size() > word.size() + 1 && line[word.size()] == ' ' &&
         line[word.size() + 1] >= '0' && line[word.size() + 1] <= '9';
}

// One part of a qualified name at `pos`, which it moves past. False when
// the line does not hold a whole part there.
bool read_name_part(std::string_view line, size_t& pos, std::string& out) {
  out.clear();
  if (pos >= line.size()) return false;
  if (line[pos] == '"') {
    for (size_t i = pos + 1; i < line.size(); ++i) {
      if (line[i] != '"') {
        out.push_back(line[i]);
        continue;
      }
      if (i + 1 < line.size() && line[i + 1] == '"') {  // "" stands for one quote
        out.push_back('"');
        ++i;
        continue;
      }
      pos = i + 1;
      // A NUL would make the id ambiguous; PostgreSQL's names have none.
      return !out.empty() && out.find('\0') == std::string::npos;
    }
    return false;  // no closing quote within the line
  }
  size_t end = line.find_first_of(std::string_view(".,: \"\0", 6), pos);
  if (end == std::string_view::npos || end == pos) return false;
  out.assign(line.substr(pos, end - pos));
  pos = end;
  return true;
}

// Whether one of test_decoding's actions, then ':', starts at `pos`.
bool action_at(std::string_view line, size_t pos) {
  std::string_view rest = line.substr(std::min(pos, line.size()));
  return std::any_of(kActions.begin(), kActions.end(), [&](std::string_view action) {
    return rest.starts_with(action) && rest.substr(action.size()).starts_with(':');
  });
}

// "table " already matched: the names, then ": ACTION:".
DecodedLine decode_table_line(std::string_view line) {
  DecodedLine out;
  size_t pos = kTablePrefix.size();
  std::string schema, name;
  while (true) {
    if (!read_name_part(line, pos, schema)) return {};
    if (pos >= line.size() || line[pos] != '.') return {};
    ++pos;
    if (!read_name_part(line, pos, name)) return {};
    out.tables.push_back(table_id(schema, name));
    std::string_view rest = line.substr(pos);
    if (rest.starts_with(kNamesSeparator)) {
      pos += kNamesSeparator.size();
      continue;
    }
    if (!rest.starts_with(kNamesEnd) || !action_at(line, pos + kNamesEnd.size())) return {};
    out.names = line.substr(kTablePrefix.size(), pos - kTablePrefix.size());
    out.kind = LineKind::kTable;
    return out;
  }
}

Error out_of_order(std::string_view what) {
  return make_error(protocol::sqlstate::protocol_violation,
                    "the replication stream sent " + std::string(what) +
                        "; its decoded transactions cannot be followed");
}

}  // namespace

DecodedLine decode_line(std::string_view line) {
  if (is_keyword_line(line, kBeginWord)) return {LineKind::kBegin, {}, {}};
  if (is_keyword_line(line, kCommitWord)) return {LineKind::kCommit, {}, {}};
  if (line.starts_with(kMessagePrefix)) return {LineKind::kMessage, {}, {}};
  if (line.starts_with(kTablePrefix)) return decode_table_line(line);
  return {};
}

Result<std::optional<DecodedCommit>> TransactionDecoder::feed(std::string_view line) {
  // The common case first: another row of the table the last line named.
  if (in_transaction_ && !last_names_.empty() && line.starts_with(kTablePrefix)) {
    std::string_view rest = line.substr(kTablePrefix.size());
    if (rest.starts_with(last_names_) && rest.substr(last_names_.size()).starts_with(kNamesEnd) &&
        action_at(rest, last_names_.size() + kNamesEnd.size())) {
      return std::optional<DecodedCommit>();
    }
  }
  DecodedLine decoded = decode_line(line);
  switch (decoded.kind) {
    case LineKind::kBegin:
      if (in_transaction_) return out_of_order("BEGIN inside a transaction");
      in_transaction_ = true;
      unreadable_ = false;
      last_names_.clear();
      return std::optional<DecodedCommit>();
    case LineKind::kCommit: {
      if (!in_transaction_) return out_of_order("COMMIT outside a transaction");
      DecodedCommit commit;
      if (unreadable_ || tables_.empty()) {
        commit.catalog_change = true;
      } else {
        commit.tables.assign(tables_.begin(), tables_.end());
        std::sort(commit.tables.begin(), commit.tables.end());
      }
      in_transaction_ = false;
      // Gives the memory back: a transaction of many tables leaves no big
      // table of buckets behind.
      std::unordered_set<std::string>().swap(tables_);
      last_names_.clear();
      return std::optional<DecodedCommit>(std::move(commit));
    }
    case LineKind::kTable:
      if (!in_transaction_) return out_of_order("a change outside a transaction");
      add_tables(decoded.tables);
      last_names_.assign(decoded.names);
      return std::optional<DecodedCommit>();
    case LineKind::kMessage:
      // pg_logical_emit_message(): content only, no table changes, inside
      // a transaction (transactional) or outside it (not).
      return std::optional<DecodedCommit>();
    case LineKind::kUnknown:
      if (!in_transaction_)
        return out_of_order("a line it does not understand outside a transaction");
      // Inside a transaction, something changed that cannot be named: the
      // commit flushes the database.
      unreadable_ = true;
      std::unordered_set<std::string>().swap(tables_);
      last_names_.clear();
      return std::optional<DecodedCommit>();
  }
  return std::optional<DecodedCommit>();
}

void TransactionDecoder::add_tables(std::vector<std::string>& tables) {
  if (unreadable_) return;
  for (auto& id : tables) {
    if (tables_.size() >= kMaxTablesPerTransaction && !tables_.contains(id)) {
      unreadable_ = true;
      std::unordered_set<std::string>().swap(tables_);
      return;
    }
    tables_.insert(std::move(id));
  }
}

}  // namespace usher::cache
