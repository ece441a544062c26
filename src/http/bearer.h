// The bearer token of the HTTP endpoint (http_auth_token_file): RFC 6750's
// "Authorization: Bearer <token>", compared in constant time. Pure.
#pragma once

#include <string_view>

namespace usher::http {

// Whether `authorization` (the header's value) carries `token`. An empty
// token (none configured) matches nothing. The comparison is of SHA-256
// digests with CRYPTO_memcmp, so that neither the content nor the length
// of the token shows in the time it takes.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace usher::http
