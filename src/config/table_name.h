// Table names in the query cache's include and exclude lists
// (query_cache_tables, query_cache_exclude_tables): "name" or
// "schema.name", each part an SQL identifier. An unquoted part is folded to
// lower case, as PostgreSQL folds it in a query, so "Orders" means the table
// orders; a double-quoted part keeps its case and may hold any character
// but NUL ("" inside stands for one quote): "Orders" in quotes means the
// table created as "Orders".
//
// The lists are stored in canonical text (format_table_name()): a part is
// quoted only when it must be, so the common "public.orders" stays as
// written; a consumer splits an item with parse_table_name(), never by
// searching for the dot (a quoted part may contain one).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace usher::config {

struct TableName {
  std::string schema;  // empty: the name in any schema
  std::string name;
  friend bool operator==(const TableName&, const TableName&) = default;
};

// PostgreSQL's NAMEDATALEN - 1: it truncates longer identifiers, so a
// longer part could never match the name of a table as the catalog has it.
inline constexpr size_t kMaxIdentifierBytes = 63;

// The error message is only the "expected ..." part.
Result<TableName> parse_table_name(std::string_view text);

std::string format_table_name(const TableName& table);

// parse_table_name() then format_table_name(): the canonical text.
Result<std::string> normalize_table_name(std::string_view text);

}  // namespace usher::config
