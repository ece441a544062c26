// Prepared statements as Usher shares them between clients.
//
// A client's statement names are its own (client_statements.h). Behind each
// name is a Statement: the text and parameter types that define it, and the
// name Usher prepares it under on server connections. Two clients that
// prepare the same text with the same parameter types share one Statement,
// so a server connection prepares it once for both. Equality is the full
// text and types, never a hash alone.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace usher::prepared {

// How the statement is created on a server.
enum class Origin : uint8_t {
  kProtocol,  // a Parse message: `query` and `param_types` (raw OIDs)
  kSql,       // SQL PREPARE: `query` is what follows the name ("(int) AS ...")
};

struct Statement {
  uint64_t id = 0;
  Origin origin = Origin::kProtocol;
  std::string server_name;  // "usher_<id>": never reused, so a name means one text
  std::string query;
  std::string param_types;
  // How the server read the text: the same bytes mean another statement
  // under another client_encoding or standard_conforming_strings, so they
  // are part of what identifies a statement (see reading_of()).
  std::string reading;
};
using StatementPtr = std::shared_ptr<const Statement>;

// Whether a client's name has the form of Usher's server names. Such a name
// that the client never prepared must not be passed on: the server would
// find another client's statement under it.
inline bool is_server_name(std::string_view name) {
  return name.starts_with("usher_");
}

// One per pool: the statements its clients currently hold. Thread-safe.
// Entries live while a client or a server connection holds them. The table
// holds a hash and a weak pointer per statement, never its text, so a
// statement's memory goes as soon as its last holder lets go; expired
// entries are swept as the table grows.
class StatementRegistry {
 public:
  StatementPtr intern(Origin origin, std::string_view reading, std::string_view query,
                      std::string_view param_types);
  size_t size();  // live statements, for SHOW PREPARED_STATEMENTS

 private:
  std::mutex mutex_;
  std::unordered_multimap<uint64_t, std::weak_ptr<const Statement>> by_hash_;
  size_t sweep_at_ = 64;
};

// Ids are global, so a server name is unique across pools and reloads.
uint64_t next_statement_id();

}  // namespace usher::prepared
