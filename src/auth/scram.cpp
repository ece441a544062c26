// SCRAM-SHA-256's primitives and secrets (scram.h explains the whole;
// scram_server.cpp and scram_client.cpp have the two ends of the exchange).
#include "auth/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "auth/base64.h"
#include "auth/md5.h"
#include "auth/scram_common.h"
#include "protocol/sqlstate.h"

namespace usher::auth {

namespace {

// PostgreSQL's SCRAM_RAW_NONCE_LEN: 18 bytes, 24 base64 characters, no padding.
constexpr size_t kRawNonceLength = 18;

// OpenSSL wants a real pointer even for zero-length input; string_view may
// hold nullptr.
const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.empty() ? "" : s.data());
}

// The cryptographic primitives below fail only if OpenSSL itself is broken
// (no SHA-256 provider, no entropy). There is no safe answer then, so we
// crash loudly instead of authenticating with garbage.
[[noreturn]] void crypto_failure() {
  std::abort();
}

}  // namespace

ScramKey sha256(std::string_view data) {
  ScramKey out{};
  unsigned int len = 0;
  if (EVP_Digest(bytes_of(data), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    crypto_failure();
  }
  return out;
}

ScramKey hmac_sha256(std::string_view key, std::string_view data) {
  ScramKey out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), bytes_of(key), static_cast<int>(key.size()), bytes_of(data), data.size(),
           out.data(), &len) == nullptr ||
      len != out.size()) {
    crypto_failure();
  }
  return out;
}

ScramKey salted_password(std::string_view password, std::string_view salt, int iterations) {
  ScramKey out{};
  if (PKCS5_PBKDF2_HMAC(password.empty() ? "" : password.data(), static_cast<int>(password.size()),
                        bytes_of(salt), static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    crypto_failure();
  }
  return out;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    crypto_failure();
  }
  return out;
}

ScramKey random_key() {
  ScramKey out{};
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) crypto_failure();
  return out;
}

ScramKey xor_keys(const ScramKey& a, std::string_view b) {
  ScramKey out{};
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = a[i] ^ static_cast<uint8_t>(b[i]);
  return out;
}

bool keys_equal(const ScramKey& a, const ScramKey& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

std::string make_nonce(const NonceSource& source) {
  std::string nonce = source ? source() : base64_encode(random_bytes(kRawNonceLength));
  if (!is_printable_nonce(nonce)) std::abort();  // a broken injected source is a bug
  return nonce;
}

std::string escape_saslname(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<int> parse_positive_int(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;  // from_chars would accept a '-'
  }
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

std::optional<ScramKey> decode_key(std::string_view b64) {
  auto raw = base64_decode(b64);
  if (!raw || raw->size() != ScramKey{}.size()) return std::nullopt;
  ScramKey key{};
  for (size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<uint8_t>((*raw)[i]);
  return key;
}

Error malformed(std::string_view detail) {
  return make_error(protocol::sqlstate::protocol_violation,
                    "malformed SCRAM message: " + std::string(detail));
}

Error out_of_order(std::string_view what) {
  return make_error(protocol::sqlstate::protocol_violation,
                    "unexpected SCRAM " + std::string(what) + " at this point");
}

std::string describe_char(char c) {
  if (c >= 0x21 && c <= 0x7e) return std::string("\"") + c + "\"";
  static constexpr char kDigits[] = "0123456789abcdef";
  auto u = static_cast<uint8_t>(c);
  return std::string("0x") + kDigits[u >> 4] + kDigits[u & 0x0f];
}

// ---------------------------------------------------------------------------
// Secrets

Result<ScramSecret> parse_scram_secret(std::string_view text) {
  auto invalid = [](std::string_view why) {
    return make_error("", "invalid SCRAM secret: " + std::string(why));
  };
  if (!text.starts_with(kSecretPrefix)) return invalid("must start with \"SCRAM-SHA-256$\"");
  std::string_view rest = text.substr(kSecretPrefix.size());
  size_t dollar = rest.find('$');
  if (dollar == std::string_view::npos) return invalid("missing '$' before the keys");
  std::string_view params = rest.substr(0, dollar);
  std::string_view keys = rest.substr(dollar + 1);
  size_t colon = params.find(':');
  if (colon == std::string_view::npos) return invalid("missing ':' after the iteration count");
  size_t key_colon = keys.find(':');
  if (key_colon == std::string_view::npos) return invalid("missing ':' between the keys");

  ScramSecret secret;
  auto iterations = parse_positive_int(params.substr(0, colon));
  if (!iterations) return invalid("iteration count is not a positive integer");
  secret.iterations = *iterations;
  auto salt = base64_decode(params.substr(colon + 1));
  if (!salt || salt->empty()) return invalid("salt is not valid base64");
  secret.salt = std::move(*salt);
  auto stored_key = decode_key(keys.substr(0, key_colon));
  if (!stored_key) return invalid("StoredKey is not 32 bytes of base64");
  secret.stored_key = *stored_key;
  auto server_key = decode_key(keys.substr(key_colon + 1));
  if (!server_key) return invalid("ServerKey is not 32 bytes of base64");
  secret.server_key = *server_key;
  return secret;
}

bool is_scram_secret(std::string_view text) {
  return parse_scram_secret(text).ok();
}

ScramSecret make_scram_secret(std::string_view password, std::string_view raw_salt,
                              int iterations) {
  if (iterations < 1 || raw_salt.empty()) std::abort();  // caller bug, see header
  ScramKey salted = salted_password(password, raw_salt, iterations);
  ScramSecret secret;
  secret.iterations = iterations;
  secret.salt = std::string(raw_salt);
  secret.stored_key = sha256(as_view(hmac_sha256(as_view(salted), "Client Key")));
  secret.server_key = hmac_sha256(as_view(salted), "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  return secret;
}

ScramKey scram_salted_password(std::string_view password, std::string_view raw_salt,
                               int iterations) {
  if (iterations < 1 || raw_salt.empty()) std::abort();  // caller bug, see header
  return salted_password(password, raw_salt, iterations);
}

ScramSecret make_scram_secret(std::string_view password) {
  return make_scram_secret(password, random_bytes(kScramDefaultSaltLength),
                           kScramDefaultIterations);
}

std::string format_scram_secret(const ScramSecret& secret) {
  return std::string(kSecretPrefix) + std::to_string(secret.iterations) + ":" +
         base64_encode(secret.salt) + "$" + base64_encode(as_view(secret.stored_key)) + ":" +
         base64_encode(as_view(secret.server_key));
}

namespace {

// Secrets derived from plaintext passwords, one per user. Deriving costs
// about a millisecond, and paying it at every login turns a reconnect storm
// into seconds of CPU. PostgreSQL itself hands a user the same salt at every
// login, so reusing one reveals nothing new. Replaced when the password
// changes (a reload), so the cache is never larger than the user list.
struct PasswordSecrets {
  std::mutex mu;
  std::unordered_map<std::string, std::pair<std::string, ScramSecret>> by_user;
};

PasswordSecrets& password_secrets() {
  static PasswordSecrets cache;
  return cache;
}

}  // namespace

std::optional<ScramSecret> cached_password_secret(const std::string& user,
                                                  std::string_view password) {
  PasswordSecrets& cache = password_secrets();
  std::lock_guard lock(cache.mu);
  auto it = cache.by_user.find(user);
  if (it != cache.by_user.end() && it->second.first == password) return it->second.second;
  return std::nullopt;
}

ScramSecret password_secret(const std::string& user, std::string_view password) {
  if (auto cached = cached_password_secret(user, password)) return *cached;
  ScramSecret secret = make_scram_secret(password);  // outside the lock: it is slow
  PasswordSecrets& cache = password_secrets();
  std::lock_guard lock(cache.mu);
  cache.by_user[user] = {std::string(password), secret};
  return secret;
}

bool is_plaintext_password(std::string_view stored) {
  return !stored.empty() && !stored.starts_with(kSecretPrefix) && !is_md5_secret(stored);
}

}  // namespace usher::auth
