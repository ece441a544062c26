// What SCRAM-SHA-256's secrets (scram.cpp), ScramServer (scram_server.cpp)
// and ScramClient (scram_client.cpp) share: RFC 5802's primitives over
// OpenSSL, nonces, and a cursor over SCRAM messages. Internal to auth/.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "auth/scram.h"
#include "common/result.h"

namespace usher::auth {

inline constexpr std::string_view kSecretPrefix = "SCRAM-SHA-256$";

inline std::string_view as_view(const ScramKey& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

// The cryptographic primitives crash loudly if OpenSSL fails (scram.cpp).
ScramKey sha256(std::string_view data);
ScramKey hmac_sha256(std::string_view key, std::string_view data);
// SaltedPassword := Hi(password, salt, i), RFC 5802's Hi being PBKDF2 with
// HMAC-SHA-256 and a 32-byte output.
ScramKey salted_password(std::string_view password, std::string_view salt, int iterations);
std::string random_bytes(size_t n);
ScramKey random_key();
ScramKey xor_keys(const ScramKey& a, std::string_view b);
bool keys_equal(const ScramKey& a, const ScramKey& b);  // in constant time

// RFC 5802: printable = %x21-2B / %x2D-7E (visible ASCII except ',').
bool is_printable_nonce(std::string_view nonce);
// From `source`, or random when it is empty.
std::string make_nonce(const NonceSource& source);
// RFC 5802 saslname: ',' and '=' are escaped as "=2C" and "=3D".
std::string escape_saslname(std::string_view name);
std::optional<int> parse_positive_int(std::string_view text);
std::optional<ScramKey> decode_key(std::string_view b64);

Error malformed(std::string_view detail);
Error out_of_order(std::string_view what);
std::string describe_char(char c);

// A consume-and-advance cursor over "attr=value,attr=value" (RFC 5802
// section 7). A value runs to the next ',' or the end; the ',' is consumed
// with it. A trailing ',' with nothing after it is malformed.
class AttrReader {
 public:
  explicit AttrReader(std::string_view text) : text_(text) {}

  bool at_end() const { return pos_ == text_.size(); }
  size_t pos() const { return pos_; }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  Result<std::string_view> read(char attr) {
    if (at_end()) {
      return malformed("expected attribute " + describe_char(attr) + " but found end of message");
    }
    if (text_[pos_] != attr) {
      return malformed("expected attribute " + describe_char(attr) + " but found " +
                       describe_char(text_[pos_]));
    }
    return read_value();
  }

  // Any attribute; used for extensions we ignore and to find "p=".
  Result<std::pair<char, std::string_view>> read_any() {
    if (at_end()) return malformed("expected an attribute but found end of message");
    char attr = text_[pos_];
    bool alpha = (attr >= 'a' && attr <= 'z') || (attr >= 'A' && attr <= 'Z');
    if (!alpha) return malformed("attribute expected, but found " + describe_char(attr));
    auto value = read_value();
    if (!value) return value.take_error();
    return std::pair<char, std::string_view>(attr, *value);
  }

 private:
  Result<std::string_view> read_value() {
    char attr = text_[pos_];
    if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '=') {
      return malformed("expected '=' after attribute " + describe_char(attr));
    }
    size_t start = pos_ + 2;
    size_t comma = text_.find(',', start);
    if (comma == std::string_view::npos) {
      pos_ = text_.size();
      return text_.substr(start);
    }
    if (comma + 1 == text_.size()) return malformed("message ends with ','");
    pos_ = comma + 1;
    return text_.substr(start, comma - start);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// Messages are C strings to PostgreSQL; a NUL inside one is never valid and
// would make our view of the message differ from the peer's.
inline bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

}  // namespace usher::auth
