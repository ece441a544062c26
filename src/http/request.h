// An HTTP request as the endpoint's handlers see it, and their answer:
// plain values, so that routing, authentication and CORS are decided
// without sockets (and tested so). server.cpp converts from and to Beast.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace usher::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // as sent: "GET", "POST", ...
  std::string path;    // the target up to '?', not decoded
  std::string query;   // after '?', not decoded
  // The only headers the endpoint reads; empty when absent.
  std::string origin;
  std::string authorization;
  std::string host;          // the Host header
  std::string cors_method;   // Access-Control-Request-Method
  std::string cors_headers;  // Access-Control-Request-Headers
  std::string peer;          // the client's address and port, for the log
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
  // HEAD: the headers of GET, no body.
  bool head_only = false;
};

inline constexpr std::string_view kJson = "application/json";
// Prometheus' text exposition format, version 0.0.4.
inline constexpr std::string_view kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace usher::http
