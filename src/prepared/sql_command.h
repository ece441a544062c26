// Recognises the SQL statements that act on prepared statements: PREPARE,
// EXECUTE, DEALLOCATE [PREPARE] name | ALL, and DISCARD ALL. A cheap look
// at the first word turns away every other query; only a candidate goes
// through PostgreSQL's own parser (libpg_query), so comments, case and
// quoting cannot fool it. A query of several statements is recognised only
// as kCombined, when one of them is such a statement.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace usher::prepared {

struct SqlCommand {
  enum class Kind {
    kPrepare,
    kExecute,
    kDeallocate,
    kDeallocateAll,
    kDiscardAll,
    kCombined,  // several statements, one of them among the above
  };
  Kind kind;
  std::string name;        // as PostgreSQL folds it (kPrepare, kExecute, kDeallocate)
  std::string_view tail;   // the text after the name: "(int) AS ..." or "(1, 2)"
  bool drops_all = false;  // DISCARD ALL or DEALLOCATE ALL, alone or combined
};

std::optional<SqlCommand> classify_sql(std::string_view sql);

// Whether `sql` (a server_reset_query) is DISCARD ALL or DEALLOCATE ALL.
// Remembers the last answer per thread: the reset query rarely changes and
// may run at every transaction end.
bool drops_all_statements(const std::string& sql);

// The first word of `sql` (after blanks and comments), as written, at most
// 16 letters; empty when there is none.
std::string_view first_word(std::string_view sql);

// Whether the first word of `sql` is `lowercase`, in any case.
bool starts_with_word(std::string_view sql, std::string_view lowercase);

}  // namespace usher::prepared
