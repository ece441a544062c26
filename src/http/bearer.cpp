#include "http/bearer.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <cctype>

namespace usher::http {
namespace {

constexpr std::string_view kScheme = "bearer";

std::array<unsigned char, SHA256_DIGEST_LENGTH> digest(std::string_view s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view token) {
  if (token.empty() || authorization.size() <= kScheme.size()) return false;
  // The scheme is case-insensitive (RFC 9110, 11.1), then one or more spaces.
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::string_view given = authorization.substr(kScheme.size());
  if (given.front() != ' ') return false;
  while (!given.empty() && given.front() == ' ')
    given.remove_prefix(1);
  while (!given.empty() && given.back() == ' ')
    given.remove_suffix(1);
  const auto a = digest(given);
  const auto b = digest(token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace usher::http
