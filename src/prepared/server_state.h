// What one server connection holds of the prepared-statement machinery: the
// shared statements it has prepared (a bounded LRU), which client's unnamed
// statement it holds, and whether its statements can still be vouched for.
#pragma once

#include <cstdint>

#include "prepared/server_statements.h"

namespace usher::prepared {

struct ServerState {
  ServerStatements statements;
  // The client whose unnamed statement the server holds (0: none, or one
  // no client owns: a simple Query replaces the unnamed statement).
  uint64_t unnamed_owner = 0;
  // The server ran something that changed its prepared statements in a way
  // Usher did not arrange (a PREPARE or DEALLOCATE it could not see, say in
  // a DO block), so `statements` may be wrong: before another client gets
  // the server, Usher runs DEALLOCATE ALL and starts from an empty list.
  bool needs_reset = false;

  // After DEALLOCATE ALL or DISCARD ALL: the server has no named statement.
  void all_deallocated() {
    statements.clear();
    needs_reset = false;
  }
};

}  // namespace usher::prepared
