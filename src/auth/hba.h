// auth_hba_file: the subset of pg_hba.conf that PgBouncer reads, parsed and
// matched. Pure: the caller reads the files (the main one and every @file
// it names) and supplies who is connecting.
//
//   local | host | hostssl | hostnossl   database[,...]   user[,...]
//   [address[/bits] | address mask | all]   method   [options]
//
// databases: names, "all", "sameuser", "replication" (never matches: Usher
// has no replication clients), @file; users: names, "all", @file (a
// "+group" is refused: Usher cannot see the server's roles); methods: trust,
// reject, password, md5, scram-sha-256, cert, peer; the option map=NAME on
// cert and peer rules names an auth_ident_file map (auth/ident.h), other
// options are ignored. Quoted words are
// names, never keywords ("all" in quotes is a database called all). The
// first rule that matches decides; none matching rejects.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::auth {

enum class HbaMethod { kTrust, kReject, kPassword, kMd5, kScramSha256, kCert, kPeer };
std::string_view hba_method_name(HbaMethod m);

struct HbaName {
  std::string text;
  bool keyword = false;  // unquoted all/sameuser/replication
};

struct HbaRule {
  enum class Type { kLocal, kHost, kHostSsl, kHostNoSsl } type = Type::kLocal;
  std::vector<HbaName> databases;
  std::vector<HbaName> users;
  bool any_address = true;
  bool v6 = false;
  std::array<uint8_t, 16> address{};
  std::array<uint8_t, 16> mask{};
  HbaMethod method = HbaMethod::kReject;
  std::string map;  // map=: the auth_ident_file map of peer and cert rules
  int line = 0;
};

// Reads an @file's text (relative names resolve against the hba file's
// directory); nullopt when it cannot.
using HbaIncludeReader = std::function<std::optional<std::string>(const std::string& name)>;

// Errors name `file` and the line: "<file>:<line>: <why>".
Result<std::vector<HbaRule>> parse_hba(std::string_view text, const std::string& file,
                                       const HbaIncludeReader& read_include);

struct HbaClient {
  bool unix_socket = false;
  bool tls = false;
  bool v6 = false;
  std::array<uint8_t, 16> address{};  // IPv4 in the first 4 bytes
  std::string database;
  std::string user;
};
// Parses "1.2.3.4" or "::1" into a client's address; false if neither.
bool hba_client_address(std::string_view text, HbaClient& client);

// The first rule that applies, or nullptr.
const HbaRule* match_hba(const std::vector<HbaRule>& rules, const HbaClient& client);

}  // namespace usher::auth
