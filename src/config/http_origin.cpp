#include "config/http_origin.h"

#include <algorithm>
#include <cctype>

#include "config/values.h"

namespace usher::config {
namespace {

constexpr std::string_view kExpected =
    "an origin as browsers send it, scheme://host[:port] with scheme http or https, or *";
// A DNS name is at most 253 characters; an IPv6 literal in brackets less.
constexpr size_t kMaxHost = 253;
constexpr long kMaxPort = 65535;

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > kMaxHost) return false;
  if (h.front() == '[') {
    // An IPv6 literal: hex digits, colons and dots (a v4 tail) in brackets.
    if (h.size() < 4 || h.back() != ']') return false;
    return std::all_of(h.begin() + 1, h.end() - 1, [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  }
  return std::all_of(h.begin(), h.end(), host_char) && h.front() != '.' && h.back() != '.';
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || p.front() == '0') return false;
  if (!std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stol(std::string(p)) <= kMaxPort;
}

}  // namespace

Result<std::string> normalize_origin(std::string_view text) {
  if (text == kAnyOrigin) return std::string(kAnyOrigin);
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t sep = s.find("://");
  if (sep == std::string::npos) return config_error(std::string(kExpected));
  const std::string_view scheme = std::string_view(s).substr(0, sep);
  if (scheme != "http" && scheme != "https") return config_error(std::string(kExpected));
  std::string_view rest = std::string_view(s).substr(sep + 3);
  // The port follows the last colon that is not inside an IPv6 literal.
  std::string_view host = rest;
  const size_t bracket = rest.rfind(']');
  const size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = rest.substr(0, colon);
    if (!valid_port(rest.substr(colon + 1))) return config_error(std::string(kExpected));
  }
  if (!valid_host(host)) return config_error(std::string(kExpected));
  // A browser leaves out the scheme's default port: so must the list, or
  // the origin would never match.
  const std::string_view default_port = scheme == "https" ? ":443" : ":80";
  if (host.size() < rest.size() && rest.substr(host.size()) == default_port)
    return s.substr(0, sep + 3 + host.size());
  return s;
}

}  // namespace usher::config
