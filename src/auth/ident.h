// auth_ident_file: user name maps (pg_ident.conf) for hba rules with
// map=NAME, parsed and checked. Pure: the caller reads the file.
//
//   map-name   system-username   database-username
//
// A map lets a system user name (the Unix peer's account under peer, the
// certificate's CN under cert) log in as a database user. PgBouncer's
// subset, plus PostgreSQL's regular expressions in system-username: one
// starting with '/' is searched for in the system user name (anchor it
// with ^ and $), and "\1" in database-username is replaced by its first
// capture. database-username is a name or the keyword all; PostgreSQL's
// +group and /regex there, and include lines, are refused (Usher cannot see
// the server's roles). Names compare exactly, as in PostgreSQL.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::auth {

struct IdentEntry {
  std::string map;
  std::string system_user;                    // the name, or the regex without '/'
  std::shared_ptr<const std::regex> pattern;  // set when system_user is a regex
  std::string database_user;                  // may hold "\1" with a pattern
  bool all = false;                           // database-username: all
  int line = 0;
};

// Errors are "<file>:<line>: <why>" with SQLSTATE F0000.
Result<std::vector<IdentEntry>> parse_ident(std::string_view text, const std::string& file);

// Whether map `map` lets `system_user` log in as `database_user`.
bool ident_allows(const std::vector<IdentEntry>& entries, std::string_view map,
                  std::string_view system_user, std::string_view database_user);

}  // namespace usher::auth
