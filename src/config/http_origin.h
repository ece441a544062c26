// Origins in http_cors_origins: "scheme://host[:port]" as a browser sends
// it in an Origin header (RFC 6454 serialisation: http or https, no path,
// no user, no trailing slash), or "*" for any origin. Stored lower case, so
// that a request's Origin is matched by plain comparison, which is what
// "an exact allow-list" must mean: no prefix, suffix or pattern matching
// that "https://example.com.evil.net" could satisfy.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace usher::config {

inline constexpr std::string_view kAnyOrigin = "*";

// The canonical form of one list item; the error is the "expected ..."
// part of the loader's message.
Result<std::string> normalize_origin(std::string_view text);

}  // namespace usher::config
