// PostgreSQL's MD5 password scheme (AUTH_REQ_MD5). Pure functions, no I/O.
//
// PostgreSQL stores an MD5 password as "md5" + md5hex(password + username)
// and, given a 4-byte salt from AuthenticationMD5Password, expects the client
// to answer "md5" + md5hex(md5hex(password + username) + salt). The stored
// form is therefore password-equivalent: whoever has it can log in, which is
// also what lets a pooler holding only the secret answer a server's challenge.
//
// MD5 comes from OpenSSL; if it is unavailable (OpenSSL in FIPS-only mode)
// these functions abort rather than return a value that would silently accept
// or reject everyone.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace usher::auth {

using Md5Salt = std::array<uint8_t, 4>;

// Lowercase hex MD5 of `data` (32 characters).
std::string md5_hex(std::string_view data);

// True for PostgreSQL's stored form: "md5" followed by exactly 32 lowercase
// hex digits (the test PostgreSQL's get_password_type uses). A plaintext
// password that happens to look like this is treated as a secret, as
// PostgreSQL and PgBouncer do.
bool is_md5_secret(std::string_view text);

// "md5" + md5hex(password + user): what PostgreSQL stores in pg_authid.
std::string md5_password_secret(std::string_view user, std::string_view password);

// The client's answer to AuthenticationMD5Password. `secret_or_password` may
// be a plaintext password or an is_md5_secret() value (then its hex part is
// used directly). The caller must not pass a SCRAM secret: it would be taken
// as a plaintext password.
std::string md5_salted_response(std::string_view secret_or_password, std::string_view user,
                                Md5Salt salt);

// Checks a client's PasswordMessage against what we store for the user
// (plaintext or MD5 secret), in constant time. Returns false for an empty
// stored password (PostgreSQL never authenticates one, and libpq never sends
// one) and for a SCRAM secret (MD5 cannot be checked against it; PostgreSQL
// switches such users to SCRAM, which is the caller's decision).
bool md5_verify(std::string_view stored_secret, std::string_view user, Md5Salt salt,
                std::string_view client_response);

}  // namespace usher::auth
