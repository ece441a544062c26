#include "auth/md5.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>

#include "auth/scram.h"

namespace usher::auth {

namespace {

constexpr std::string_view kMd5Prefix = "md5";
constexpr size_t kMd5HexLen = 32;

std::string to_hex(const unsigned char* bytes, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(len * 2, '\0');
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace

std::string md5_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // An empty string_view may carry a null data pointer; give OpenSSL a real one.
  const char* ptr = data.empty() ? "" : data.data();
  if (EVP_Digest(ptr, data.size(), digest, &len, EVP_md5(), nullptr) != 1 || len != 16) {
    std::abort();  // MD5 unavailable (FIPS-only OpenSSL): no answer would be correct.
  }
  return to_hex(digest, len);
}

bool is_md5_secret(std::string_view text) {
  if (text.size() != kMd5Prefix.size() + kMd5HexLen || !text.starts_with(kMd5Prefix)) return false;
  for (char c : text.substr(kMd5Prefix.size())) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return false;
  }
  return true;
}

std::string md5_password_secret(std::string_view user, std::string_view password) {
  std::string input;
  input.reserve(password.size() + user.size());
  input.append(password).append(user);
  std::string secret = std::string(kMd5Prefix) + md5_hex(input);
  OPENSSL_cleanse(input.data(), input.size());
  return secret;
}

std::string md5_salted_response(std::string_view secret_or_password, std::string_view user,
                                Md5Salt salt) {
  std::string inner;
  if (is_md5_secret(secret_or_password)) {
    inner = std::string(secret_or_password.substr(kMd5Prefix.size()));
  } else {
    inner = md5_password_secret(user, secret_or_password).substr(kMd5Prefix.size());
  }
  inner.append(reinterpret_cast<const char*>(salt.data()), salt.size());
  return std::string(kMd5Prefix) + md5_hex(inner);
}

bool md5_verify(std::string_view stored_secret, std::string_view user, Md5Salt salt,
                std::string_view client_response) {
  if (stored_secret.empty() || is_scram_secret(stored_secret)) return false;
  std::string expected = md5_salted_response(stored_secret, user, salt);
  // The length is public (always 35 for a well-formed answer); only the
  // content comparison must not leak how many leading bytes matched.
  if (client_response.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), client_response.data(), expected.size()) == 0;
}

}  // namespace usher::auth
