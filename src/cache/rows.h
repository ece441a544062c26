// The answer to one simple Query, read into text rows: what the stream
// needs from the catalog queries and from CREATE_REPLICATION_SLOT. Fed one
// backend message at a time by whoever reads the socket; bounded, as a
// catalog (or a server) may be bigger than anyone planned for.
//
// Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "cache/catalog.h"
#include "common/result.h"

namespace usher::cache {

class RowsReader {
 public:
  // `max_bytes`: what the rows may take in memory, values and their
  // bookkeeping together; past it, feed() fails.
  explicit RowsReader(size_t max_bytes) : max_bytes_(max_bytes) {}

  // One backend message of the answer: true once ReadyForQuery ended it.
  // Fails on a malformed message, a message no simple Query of a
  // statement with rows is answered with (COPY), or rows over the limit;
  // the connection is then of no further use. A NULL reads as "".
  Result<bool> feed(char type, std::span<const uint8_t> body);

  // After ReadyForQuery: the DataRows of the answer, or the server's first
  // ErrorResponse.
  Result<Rows> take();
  size_t bytes() const { return bytes_; }

 private:
  size_t max_bytes_;
  size_t bytes_ = 0;
  Rows rows_;
  std::optional<Error> error_;
};

}  // namespace usher::cache
