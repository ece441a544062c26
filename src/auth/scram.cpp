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

namespace usher::auth {

namespace {

constexpr std::string_view kSecretPrefix = "SCRAM-SHA-256$";
// PostgreSQL's SCRAM_RAW_NONCE_LEN: 18 bytes, 24 base64 characters, no padding.
constexpr size_t kRawNonceLength = 18;
// Longest server "e=" value we quote back in an error message.
constexpr size_t kMaxQuotedServerError = 128;

// OpenSSL wants a real pointer even for zero-length input; string_view may
// hold nullptr.
const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.empty() ? "" : s.data());
}

std::string_view as_view(const ScramKey& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

// The cryptographic primitives below fail only if OpenSSL itself is broken
// (no SHA-256 provider, no entropy). There is no safe answer then, so we
// crash loudly instead of authenticating with garbage.
[[noreturn]] void crypto_failure() {
  std::abort();
}

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

// SaltedPassword := Hi(password, salt, i), RFC 5802's Hi being PBKDF2 with
// HMAC-SHA-256 and a 32-byte output.
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

// RFC 5802: printable = %x21-2B / %x2D-7E (visible ASCII except ',').
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

// RFC 5802 saslname: ',' and '=' are escaped as "=2C" and "=3D".
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
  return make_error("08P01", "malformed SCRAM message: " + std::string(detail));
}

Error out_of_order(std::string_view what) {
  return make_error("08P01", "unexpected SCRAM " + std::string(what) + " at this point");
}

std::string describe_char(char c) {
  if (c >= 0x21 && c <= 0x7e) return std::string("\"") + c + "\"";
  static constexpr char kDigits[] = "0123456789abcdef";
  auto u = static_cast<uint8_t>(c);
  return std::string("0x") + kDigits[u >> 4] + kDigits[u & 0x0f];
}

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
bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

std::string password_failed(std::string_view user) {
  return "password authentication failed for user \"" + std::string(user) + "\"";
}

}  // namespace

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

// ---------------------------------------------------------------------------
// ScramServer

ScramServer::ScramServer(std::string user, ScramSecret secret, NonceSource nonce)
    : user_(std::move(user)), secret_(std::move(secret)), nonce_source_(std::move(nonce)) {}

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

ScramServer ScramServer::from_password(std::string user, std::string_view password,
                                       NonceSource nonce) {
  ScramSecret secret = password_secret(user, password);
  return ScramServer(std::move(user), std::move(secret), std::move(nonce));
}

Result<ScramServer> ScramServer::from_stored(std::string user, std::string_view stored,
                                             NonceSource nonce) {
  if (stored.empty()) {
    return make_error("28P01", "user \"" + user + "\" has an empty password");
  }
  if (stored.starts_with(kSecretPrefix)) {
    auto secret = parse_scram_secret(stored);
    if (!secret) {
      return make_error("28P01", "user \"" + user + "\": " + secret.error().message);
    }
    return ScramServer(std::move(user), std::move(*secret), std::move(nonce));
  }
  if (is_md5_secret(stored)) {
    return make_error("28P01", "user \"" + user +
                                   "\" has an MD5 password, which cannot be used for SCRAM "
                                   "authentication");
  }
  return from_password(std::move(user), stored, std::move(nonce));
}

ScramServer ScramServer::mock(std::string user, std::string_view mock_seed, NonceSource nonce) {
  ScramSecret secret;
  secret.iterations = kScramDefaultIterations;
  ScramKey digest = sha256(std::string(mock_seed) + user);
  secret.salt = std::string(as_view(digest).substr(0, kScramDefaultSaltLength));
  // Random keys: no proof can match them, and mock_ fails the exchange even
  // if one somehow did.
  secret.stored_key = random_key();
  secret.server_key = random_key();
  ScramServer server(std::move(user), std::move(secret), std::move(nonce));
  server.mock_ = true;
  return server;
}

Error ScramServer::fail(Error error) {
  // Only a stray message can arrive after success; it is refused but does
  // not undo an exchange that already completed.
  if (state_ != State::kSucceeded) state_ = State::kFailed;
  return error;
}

Result<std::string> ScramServer::handle_client_first(std::string_view msg) {
  if (state_ != State::kAwaitClientFirst) return fail(out_of_order("client-first-message"));
  if (has_nul(msg)) return fail(malformed("NUL byte in client-first-message"));

  // gs2-header: gs2-cbind-flag "," [authzid] ","
  if (msg.empty()) return fail(malformed("empty client-first-message"));
  switch (msg[0]) {
    case 'n':  // client does not support channel binding
    case 'y':  // client supports it but thinks we do not: true, we never offer -PLUS
      break;
    case 'p':
      return fail(make_error("08P01",
                             "malformed SCRAM message: the client selected SCRAM-SHA-256 "
                             "without channel binding, but the SCRAM message includes channel "
                             "binding data"));
    default:
      return fail(malformed("unexpected channel-binding flag " + describe_char(msg[0])));
  }
  if (msg.size() < 2 || msg[1] != ',') {
    return fail(malformed("comma expected after the channel-binding flag"));
  }
  if (msg.size() > 2 && msg[2] == 'a') {
    return fail(make_error("0A000", "client uses authorization identity, but it is not supported"));
  }
  if (msg.size() < 3 || msg[2] != ',') {
    return fail(malformed("comma expected at the end of the GS2 header"));
  }
  std::string_view bare = msg.substr(3);
  if (!bare.empty() && bare[0] == 'm') {
    return fail(make_error("0A000", "client requires an unsupported SCRAM extension"));
  }

  AttrReader reader(bare);
  // The user name is ignored: the startup packet already named the user.
  if (auto name = reader.read('n'); !name) return fail(name.take_error());
  auto client_nonce = reader.read('r');
  if (!client_nonce) return fail(client_nonce.take_error());
  if (!is_printable_nonce(*client_nonce)) {
    return fail(malformed("client nonce is empty or has non-printable characters"));
  }
  while (!reader.at_end()) {  // optional extensions: none supported, all ignored
    if (auto ext = reader.read_any(); !ext) return fail(ext.take_error());
  }

  gs2_header_ = std::string(msg.substr(0, 3));
  client_first_bare_ = std::string(bare);
  nonce_ = std::string(*client_nonce) + make_nonce(nonce_source_);
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(secret_.salt) +
                  ",i=" + std::to_string(secret_.iterations);
  state_ = State::kAwaitClientFinal;
  return server_first_;
}

Result<std::string> ScramServer::handle_client_final(std::string_view msg) {
  if (state_ != State::kAwaitClientFinal) return fail(out_of_order("client-final-message"));
  if (has_nul(msg)) return fail(malformed("NUL byte in client-final-message"));

  AttrReader reader(msg);
  auto binding = reader.read('c');
  if (!binding) return fail(binding.take_error());
  // Without channel binding, c= must echo the GS2 header exactly: "biws" for
  // "n,," and "eSws" for "y,,". A different flag here would be a downgrade.
  if (*binding != base64_encode(gs2_header_)) {
    return fail(malformed("unexpected channel-binding attribute in client-final-message"));
  }
  auto nonce = reader.read('r');
  if (!nonce) return fail(nonce.take_error());
  if (*nonce != nonce_) return fail(malformed("nonce does not match"));

  // Extensions may precede the proof; the proof must be last.
  size_t proof_start = 0;
  std::string_view proof_b64;
  for (;;) {
    if (reader.at_end()) return fail(malformed("client-final-message has no proof"));
    proof_start = reader.pos();
    auto attr = reader.read_any();
    if (!attr) return fail(attr.take_error());
    if (attr->first == 'p') {
      proof_b64 = attr->second;
      break;
    }
  }
  if (!reader.at_end()) return fail(malformed("garbage at the end of client-final-message"));
  auto proof = base64_decode(proof_b64);
  if (!proof || proof->size() != ScramKey{}.size()) {
    return fail(malformed("client proof is not 32 bytes of base64"));
  }

  // proof_start > 0: c= and r= came before it, and the ',' before "p=" is not
  // part of client-final-message-without-proof.
  std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(msg.substr(0, proof_start - 1));
  ScramKey client_signature = hmac_sha256(as_view(secret_.stored_key), auth_message);
  ScramKey client_key = xor_keys(client_signature, *proof);
  bool valid = keys_equal(sha256(as_view(client_key)), secret_.stored_key);
  if (!valid || mock_) return fail(make_error("28P01", password_failed(user_)));

  client_key_ = client_key;
  state_ = State::kSucceeded;
  return "v=" + base64_encode(as_view(hmac_sha256(as_view(secret_.server_key), auth_message)));
}

// ---------------------------------------------------------------------------
// ScramClient

ScramClient::ScramClient(std::string password, ScramClientOptions options)
    : password_(std::move(password)), options_(std::move(options)) {}

ScramClient::ScramClient(const ScramKey& client_key, const ScramKey& server_key,
                         std::optional<ScramSecret> expected, ScramClientOptions options)
    : client_key_(client_key),
      server_key_(server_key),
      expected_(std::move(expected)),
      options_(std::move(options)) {}

Error ScramClient::fail(Error error) {
  // Only a stray message can arrive after success; it is refused but does
  // not undo an exchange that already completed.
  if (state_ != State::kSucceeded) state_ = State::kFailed;
  return error;
}

std::string ScramClient::client_first() {
  if (state_ == State::kInitial) {
    client_nonce_ = make_nonce(options_.nonce);
    client_first_bare_ = "n=" + escape_saslname(options_.username) + ",r=" + client_nonce_;
    state_ = State::kAwaitServerFirst;
  }
  // We never use channel binding, so the GS2 header is always "n,,".
  return "n,," + client_first_bare_;
}

Result<ScramClient::ServerFirst> ScramClient::parse_server_first(std::string_view msg) const {
  if (state_ != State::kAwaitServerFirst) return out_of_order("server-first-message");
  if (has_nul(msg)) return malformed("NUL byte in server-first-message");
  if (!msg.empty() && msg[0] == 'm') {
    return malformed("server requires an unsupported SCRAM extension");
  }

  AttrReader reader(msg);
  auto nonce = reader.read('r');
  if (!nonce) return nonce.take_error();
  // The server's nonce must extend ours; otherwise this answers someone else.
  if (nonce->size() <= client_nonce_.size() || !nonce->starts_with(client_nonce_) ||
      !is_printable_nonce(*nonce)) {
    return malformed("server nonce does not extend the client nonce");
  }
  auto salt_b64 = reader.read('s');
  if (!salt_b64) return salt_b64.take_error();
  auto salt = base64_decode(*salt_b64);
  if (!salt || salt->empty()) return malformed("salt is not valid base64");
  auto iterations_text = reader.read('i');
  if (!iterations_text) return iterations_text.take_error();
  auto iterations = parse_positive_int(*iterations_text);
  if (!iterations) return malformed("iteration count is not a positive integer");
  while (!reader.at_end()) {  // extensions: none supported, all ignored
    if (auto ext = reader.read_any(); !ext) return ext.take_error();
  }
  // Checked before any PBKDF2: the server has proved nothing yet.
  if (!client_key_ && *iterations > options_.max_iterations) {
    return make_error("28000", "server asks for " + std::to_string(*iterations) +
                                   " SCRAM iterations, more than the limit of " +
                                   std::to_string(options_.max_iterations));
  }
  return ServerFirst{*nonce, std::move(*salt), *iterations};
}

Result<ScramSaltRequest> ScramClient::salt_request(std::string_view msg) const {
  if (client_key_) return out_of_order("salt request in key mode");
  auto first = parse_server_first(msg);
  if (!first) return first.take_error();
  return ScramSaltRequest{std::move(first->salt), first->iterations};
}

Result<std::string> ScramClient::handle_server_first(std::string_view msg,
                                                     std::optional<ScramKey> precomputed) {
  auto first = parse_server_first(msg);
  if (!first) return fail(first.take_error());

  ScramKey client_key{};
  ScramKey server_key{};
  if (client_key_) {
    // Keys from a client's exchange: salt and iterations play no part in the
    // proof, but the server can only accept it if it stores the very secret
    // the keys came from. Say so now rather than get a bare 28P01 later.
    if (expected_) {
      if (first->salt != expected_->salt || first->iterations != expected_->iterations) {
        return fail(make_error(
            "28000",
            "the server's SCRAM secret (salt or iteration count) differs from the one the client "
            "authenticated against; the server's password does not match the auth file"));
      }
      if (!keys_equal(sha256(as_view(*client_key_)), expected_->stored_key) ||
          !keys_equal(server_key_, expected_->server_key)) {
        return fail(make_error("28000", "SCRAM client keys do not belong to the expected secret"));
      }
    }
    client_key = *client_key_;
    server_key = server_key_;
  } else {
    ScramKey salted =
        precomputed ? *precomputed : salted_password(password_, first->salt, first->iterations);
    client_key = hmac_sha256(as_view(salted), "Client Key");
    server_key = hmac_sha256(as_view(salted), "Server Key");
    OPENSSL_cleanse(salted.data(), salted.size());
  }

  // "biws" = base64("n,,")
  std::string without_proof = "c=biws,r=" + std::string(first->nonce);
  std::string auth_message = client_first_bare_ + "," + std::string(msg) + "," + without_proof;
  ScramKey stored_key = sha256(as_view(client_key));
  ScramKey client_signature = hmac_sha256(as_view(stored_key), auth_message);
  ScramKey proof = xor_keys(client_key, as_view(client_signature));
  server_signature_ = hmac_sha256(as_view(server_key), auth_message);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());
  state_ = State::kAwaitServerFinal;
  return without_proof + ",p=" + base64_encode(as_view(proof));
}

Status ScramClient::verify_server_final(std::string_view msg) {
  if (state_ != State::kAwaitServerFinal) return fail(out_of_order("server-final-message"));
  if (has_nul(msg)) return fail(malformed("NUL byte in server-final-message"));

  AttrReader reader(msg);
  if (reader.peek() == 'e') {
    auto error = reader.read('e');
    if (!error) return fail(error.take_error());
    std::string quoted(error->substr(0, kMaxQuotedServerError));
    return fail(
        make_error("28P01", "SCRAM authentication failed: server error \"" + quoted + "\""));
  }
  auto verifier = reader.read('v');
  if (!verifier) return fail(verifier.take_error());
  while (!reader.at_end()) {
    if (auto ext = reader.read_any(); !ext) return fail(ext.take_error());
  }
  auto signature = decode_key(*verifier);
  if (!signature) return fail(malformed("server signature is not 32 bytes of base64"));
  if (!keys_equal(*signature, server_signature_)) {
    return fail(make_error("28000",
                           "incorrect SCRAM server signature: the server does not know the "
                           "user's secret"));
  }
  state_ = State::kSucceeded;
  return ok_status();
}

}  // namespace usher::auth
