// Standard base64 (RFC 4648 section 4, "+/" alphabet, '=' padding), as SCRAM
// messages and PostgreSQL's stored SCRAM secrets use it. Pure functions, no
// allocation beyond the returned string.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace usher::auth {

// Encodes arbitrary bytes; the result is always padded to a multiple of 4.
std::string base64_encode(std::string_view bytes);

// Decodes strictly: only the standard alphabet, a length that is a multiple of
// 4, at most two '=' and only at the very end. Anything else (whitespace,
// URL-safe characters, truncation) returns nullopt, because every base64 value
// we read comes from a peer or a secret that PostgreSQL itself produced, and
// a lenient decoder would only widen what a fuzzer or an attacker can reach.
// The unused low bits of the last group are ignored, as PostgreSQL's decoder
// does, so a non-canonical encoding decodes rather than fails.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace usher::auth
