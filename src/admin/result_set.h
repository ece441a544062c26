// A small result set for the admin console: typed columns (so drivers get
// numbers as numbers, as from PgBouncer), text-format values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace usher::admin {

inline constexpr int32_t kText = 25, kInt4 = 23, kInt8 = 20, kNumeric = 1700;

struct Column {
  std::string name;
  int32_t type_oid;
};

class ResultSet {
 public:
  explicit ResultSet(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // Values in column order; std::nullopt is SQL NULL.
  void add(std::vector<std::optional<std::string>> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size(); }
  const std::vector<Column>& columns() const { return columns_; }
  const std::vector<std::vector<std::optional<std::string>>>& rows() const { return rows_; }
  // RowDescription, the DataRows and CommandComplete "SHOW".
  void write(std::string& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

}  // namespace usher::admin
