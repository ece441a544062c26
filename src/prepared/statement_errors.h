// PostgreSQL's words for the prepared-statement errors the translator
// answers itself, so that they read as the server's own.
#pragma once

#include <string>
#include <string_view>

namespace usher::prepared {

inline std::string not_found(std::string_view name) {
  return "prepared statement \"" + std::string(name) + "\" does not exist";
}

inline std::string already_exists(std::string_view name) {
  return "prepared statement \"" + std::string(name) + "\" already exists";
}

inline constexpr std::string_view kUnnamedNotFound = "unnamed prepared statement does not exist";

}  // namespace usher::prepared
