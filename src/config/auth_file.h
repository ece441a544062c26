// userlist.txt, the auth_file: one user per line,
//
//   "username" "secret" anything else is ignored
//
// Both fields are double-quoted, with "" for a literal quote inside. Blank
// lines and lines starting with ';' or '#' are skipped. The secret is kept
// verbatim: a plain-text password, "md5" + 32 hex digits, or
// "SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>" (see
// classify_secret). When a user appears twice, the later line wins, as in
// PgBouncer.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace usher::config {

// Errors: the file cannot be read; a malformed line ("file:line: ...").
Result<std::map<std::string, std::string>> load_auth_file(const std::string& path);

// The same for text already in memory; file_name is used in messages only.
Result<std::map<std::string, std::string>> parse_auth_file(std::string_view text,
                                                           const std::string& file_name);

enum class SecretKind { kPlain, kMd5, kScramSha256 };

// How a stored secret must be used. Only the shape is checked: a string that
// is not exactly md5 + 32 lowercase hex digits, nor a well-formed SCRAM
// secret, is a plain-text password (PostgreSQL decides the same way).
SecretKind classify_secret(std::string_view secret);

}  // namespace usher::config
