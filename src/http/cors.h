// CORS for the HTTP endpoint (the Fetch standard's CORS protocol): an
// exact allow-list of origins (http_cors_origins), credentials only when
// http_cors_allow_credentials is on, never "*" with credentials (the
// loader refuses the pair), and nothing at all for an origin not listed,
// so that a browser keeps the answer from that page. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"

namespace usher::http {

struct CorsPolicy {
  const std::vector<std::string>& origins;  // canonical (config/http_origin.h)
  bool allow_credentials = false;
};

// What a preflight may ask for: the endpoint's methods and the headers its
// callers send.
inline constexpr std::string_view kCorsMethods = "GET, HEAD, POST";
inline constexpr std::string_view kCorsHeaders = "Authorization, Content-Type";
// How long a browser may keep a preflight's answer.
inline constexpr std::string_view kCorsMaxAge = "600";

// The CORS headers for an answer to a request from `origin` (an empty
// origin: a request that is not cross-origin, none).
void add_cors_headers(const CorsPolicy& policy, std::string_view origin, Headers& out);

// OPTIONS with Origin and Access-Control-Request-Method.
bool is_preflight(const Request& request);
// The answer to a preflight: 204, with the CORS headers only when the
// origin is listed and the method and headers asked for are allowed.
Response answer_preflight(const CorsPolicy& policy, const Request& request);

}  // namespace usher::http
