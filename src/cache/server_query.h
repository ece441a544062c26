// The few exchanges the invalidation stream has with a server besides
// following the stream itself: a simple Query whose rows it keeps, and the
// start of COPY BOTH mode. Both read the socket message by message, with
// every message and the rows as a whole bounded.
#pragma once

#include <boost/asio.hpp>
#include <string_view>

#include "cache/catalog.h"
#include "common/result.h"
#include "pool/server_connection.h"

namespace usher::cache {

namespace asio = boost::asio;

// The largest message other than CopyData the stream reads whole.
inline constexpr uint32_t kMaxServerMessage = 1 << 20;

// Runs `sql` as one simple Query and returns its rows, or the server's
// error. `budget`: the bytes the rows may take (see RowsReader), less what
// they took on return. `max_message`: the largest DataRow accepted.
asio::awaitable<Result<Rows>> query_rows(pool::ServerConnection& conn, std::string_view sql,
                                         size_t& budget, uint32_t max_message);

// After START_REPLICATION was sent: waits for CopyBothResponse; the
// server's ErrorResponse (a slot in use, a bad option) as the error.
asio::awaitable<Status> await_copy_both(pool::ServerConnection& conn);

// Sends Terminate if the socket takes it at once (it is about to close, so
// no waiting), so that the server logs a goodbye rather than a lost client.
void say_goodbye(pool::ServerConnection& conn);

}  // namespace usher::cache
