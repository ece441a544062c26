// The dashboard's files, built into the binary from src/http/dashboard/
// and Debian's Chart.js by cmake/embed.cmake: the page needs nothing from
// the network or the disk at run time.
#pragma once

#include <string_view>

namespace usher::http {

struct Asset {
  std::string_view path;  // the URL path it is served at
  std::string_view content_type;
  std::string_view body;
};

// nullptr for a path that is no asset.
const Asset* find_asset(std::string_view path);

// What the page may load and run: its own files, nothing inline, no
// frames around it (clickjacking), no form posts elsewhere.
inline constexpr std::string_view kDashboardPolicy =
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'; "
    "base-uri 'none'";

}  // namespace usher::http
