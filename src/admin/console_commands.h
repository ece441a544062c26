// The console's commands: console.cpp reads a query (PgBouncer's grammar)
// and console_commands.cpp runs it; the HTTP endpoint (http/) runs the same
// commands for its actions.
#pragma once

#include <boost/asio.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "admin/control.h"
#include "common/result.h"
#include "protocol/sqlstate.h"

namespace usher::session {
struct ClientConnection;
}

namespace usher::admin {

// PgBouncer's console grammar (admin.c): "WORD [WORD] [;]" or
// "SET key =|TO value", case-insensitive, where a WORD is [0-9a-z_]+ or a
// "double-quoted" identifier. Usher's own: CACHE FLUSH [db [table]] and
// CACHE EXPLAIN db statement. Its buffers bound the lengths; longer ones
// are "bad arguments".
inline constexpr size_t kMaxCommandLength = 15;
inline constexpr size_t kMaxArgLength = 63;
inline constexpr size_t kMaxSetValueLength = 255;

// Every console error is 08P01 (PgBouncer sends no other code), except a
// failed RELOAD (1.25).
inline constexpr std::string_view kConsoleError = protocol::sqlstate::protocol_violation;
inline constexpr std::string_view kConfigFileError = protocol::sqlstate::config_file_error;

struct Command {
  std::string name;  // lower case
  std::string arg;   // as written, unquoted
  // CACHE FLUSH [db [table]]: the words after `arg` (a table may be
  // schema.name).
  std::vector<std::string> more;
  // CACHE EXPLAIN db statement: the statement, as written.
  std::string statement;
};

struct SetCommand {
  std::string key;
  std::string value;
};

Error invalid_command(std::string_view query);
Error console_error(const std::string& message);

// A command's CommandComplete tag (an empty tag: the reply is already in
// `out`), or the error to send.
using Reply = Result<std::string>;
// Runs `cmd`; `query` is as the client sent it, for "invalid command".
boost::asio::awaitable<Reply> run_command(session::ClientConnection& s, Control& control,
                                          std::string_view query, const Command& cmd,
                                          std::string& out);
// The same for a caller that is no console client (the HTTP endpoint),
// with admin rights or a stats user's.
boost::asio::awaitable<Reply> run_command(bool admin, Control& control, std::string_view query,
                                          const Command& cmd, std::string& out);
boost::asio::awaitable<Reply> run_set(session::ClientConnection& s, Control& control,
                                      const SetCommand& set, std::string& out);

}  // namespace usher::admin
