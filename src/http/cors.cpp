#include "http/cors.h"

#include <algorithm>

#include "admin/show.h"
#include "config/http_origin.h"

namespace usher::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Whether every item of a comma list is one of `allowed`'s items.
bool all_in(std::string_view asked, std::string_view allowed) {
  while (!asked.empty()) {
    const size_t comma = asked.find(',');
    const std::string_view item = trim(asked.substr(0, comma));
    asked = comma == std::string_view::npos ? std::string_view() : asked.substr(comma + 1);
    if (item.empty()) continue;
    bool found = false;
    std::string_view rest = allowed;
    while (!rest.empty() && !found) {
      const size_t c = rest.find(',');
      found = admin::strcasecmp_view(item, trim(rest.substr(0, c)));
      rest = c == std::string_view::npos ? std::string_view() : rest.substr(c + 1);
    }
    if (!found) return false;
  }
  return true;
}

enum class Match { kNone, kListed, kAny };

Match match(const CorsPolicy& policy, std::string_view origin) {
  if (origin.empty()) return Match::kNone;
  // Browsers send origins in lower case; the list is stored so. "null" (a
  // sandboxed page, a file) is never listed: the loader refuses it.
  if (std::find(policy.origins.begin(), policy.origins.end(), origin) != policy.origins.end())
    return Match::kListed;
  if (std::find(policy.origins.begin(), policy.origins.end(), config::kAnyOrigin) !=
      policy.origins.end())
    return Match::kAny;
  return Match::kNone;
}

}  // namespace

void add_cors_headers(const CorsPolicy& policy, std::string_view origin, Headers& out) {
  switch (match(policy, origin)) {
    case Match::kNone:
      return;
    case Match::kAny:
      out.emplace_back("Access-Control-Allow-Origin", "*");
      return;
    case Match::kListed:
      out.emplace_back("Access-Control-Allow-Origin", std::string(origin));
      // The answer differs by Origin: a shared cache must not give it to
      // another page.
      out.emplace_back("Vary", "Origin");
      if (policy.allow_credentials) out.emplace_back("Access-Control-Allow-Credentials", "true");
      return;
  }
}

bool is_preflight(const Request& r) {
  return r.method == "OPTIONS" && !r.origin.empty() && !r.cors_method.empty();
}

Response answer_preflight(const CorsPolicy& policy, const Request& r) {
  Response out;
  out.status = 204;
  out.content_type.clear();
  // A method or header we would refuse gets no CORS headers: the browser
  // then refuses the request itself, before it is sent.
  if (!all_in(r.cors_method, kCorsMethods) || !all_in(r.cors_headers, kCorsHeaders)) return out;
  add_cors_headers(policy, r.origin, out.headers);
  if (out.headers.empty()) return out;
  out.headers.emplace_back("Access-Control-Allow-Methods", std::string(kCorsMethods));
  out.headers.emplace_back("Access-Control-Allow-Headers", std::string(kCorsHeaders));
  out.headers.emplace_back("Access-Control-Max-Age", std::string(kCorsMaxAge));
  return out;
}

}  // namespace usher::http
