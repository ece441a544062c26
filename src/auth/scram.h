// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, for both ends:
// ScramServer verifies a connecting client against a stored secret, and
// ScramClient logs Usher into PostgreSQL. Pure code: no I/O, no sockets; the
// caller moves the messages in and out of SASLInitialResponse, SASLResponse,
// AuthenticationSASLContinue and AuthenticationSASLFinal.
//
// PostgreSQL's dialect of SCRAM:
//  - Channel binding is RFC 5929's tls-server-end-point, the only type
//    PostgreSQL knows: the hash of the server's TLS certificate
//    (net::TlsSession::server_end_point()), carried in the GS2 header
//    "p=tls-server-end-point,," and checked in client-final's "c=". It ties
//    the exchange to this TLS connection, so that a man in the middle
//    holding a certificate the client wrongly trusts cannot relay the
//    exchange to the real server. Without it the GS2 header is "n,," (no
//    TLS) or "y,," (the client could bind, but the server offered no
//    -PLUS): a server that did offer -PLUS refuses "y" as a downgrade.
//  - The user name in client-first-message is ignored (the startup packet
//    names the user); libpq sends "n=" and some drivers "n=*". An
//    authorization identity ("a=") is rejected, as PostgreSQL does.
//  - Passwords should be SASLprep-normalised. We pass them through as they
//    are: for ASCII passwords that is exactly SASLprep's result, and for
//    non-ASCII passwords it is what PostgreSQL does whenever SASLprep fails.
//    A non-ASCII password that SASLprep would change (non-ASCII spaces, soft
//    hyphens, compatibility characters, decomposed accents) yields a secret
//    different from PostgreSQL's.
//
// Error codes: 08P01 (protocol_violation) for malformed or out-of-order
// messages, 28P01 (invalid_password) for a wrong password, 0A000 for features
// PostgreSQL also refuses (authzid, mandatory extensions), 28000 where the
// exchange is well formed but cannot succeed for another reason (a server
// signature or secret mismatch). Bytes from the network never crash these
// classes; a failed exchange stays failed, and a stray message after success
// is refused without undoing it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::auth {

// The SASL mechanism names, as listed in AuthenticationSASL.
inline constexpr std::string_view kScramSha256Mechanism = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256PlusMechanism = "SCRAM-SHA-256-PLUS";
// The channel-binding type, and the GS2 header that names it.
inline constexpr std::string_view kTlsServerEndPoint = "tls-server-end-point";
inline constexpr std::string_view kBindingGs2Header = "p=tls-server-end-point,,";
// PostgreSQL's default scram_iterations and salt length.
inline constexpr int kScramDefaultIterations = 4096;
inline constexpr size_t kScramDefaultSaltLength = 16;
// The most PBKDF2 rounds Usher computes when a server asks (ScramClient in
// password mode). PostgreSQL allows up to INT_MAX, which would cost minutes
// of CPU; a million (about a quarter of a second) is 244 times its default,
// far more than anyone sets, and bounds what a server Usher does not trust
// yet, one that has not proved it knows the secret, can make it compute.
inline constexpr int kScramMaxServerIterations = 1'000'000;

using ScramKey = std::array<uint8_t, 32>;

// What PostgreSQL stores in pg_authid.rolpassword (and what userlist.txt may
// hold): enough to verify a client, not enough to compute a ClientKey.
struct ScramSecret {
  int iterations = 0;
  std::string salt;  // raw bytes
  ScramKey stored_key{};
  ScramKey server_key{};

  friend bool operator==(const ScramSecret&, const ScramSecret&) = default;
};

// Parses "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64
// ServerKey>". Iterations must be a positive int, the salt non-empty and both
// keys exactly 32 bytes. Errors carry an empty sqlstate (config problems, not
// wire errors).
Result<ScramSecret> parse_scram_secret(std::string_view text);

// True when parse_scram_secret would succeed.
bool is_scram_secret(std::string_view text);

// Derives the secret PostgreSQL would store for `password` with this salt and
// iteration count (PBKDF2-HMAC-SHA256, `iterations` rounds). `iterations` must
// be >= 1 and `raw_salt` non-empty (programming errors: aborts). Costs
// `iterations` HMACs, about a millisecond at 4096: cache the result per user
// rather than deriving it per login.
ScramSecret make_scram_secret(std::string_view password, std::string_view raw_salt,
                              int iterations = kScramDefaultIterations);

// As above with a fresh random 16-byte salt.
ScramSecret make_scram_secret(std::string_view password);

// SaltedPassword := Hi(password, salt, iterations): PBKDF2-HMAC-SHA256, the
// costly step of both sides of SCRAM. Same preconditions as
// make_scram_secret.
ScramKey scram_salted_password(std::string_view password, std::string_view raw_salt,
                               int iterations);

// Whether ScramServer::from_stored() takes `stored` as a plaintext password
// (not empty, not an MD5 secret, not starting with "SCRAM-SHA-256$").
bool is_plaintext_password(std::string_view stored);

// The secret ScramServer::from_password() uses for a plaintext password:
// derived with a random salt and 4096 rounds the first time, then cached per
// user while the password stays the same. cached_password_secret() only
// looks (cheap); password_secret() derives when needed (about a millisecond
// of CPU: a caller on an event loop runs it elsewhere, net/offload_pool.h).
std::optional<ScramSecret> cached_password_secret(const std::string& user,
                                                  std::string_view password);
ScramSecret password_secret(const std::string& user, std::string_view password);

// The inverse of parse_scram_secret.
std::string format_scram_secret(const ScramSecret& secret);

// Returns a nonce: 1 or more printable ASCII characters (0x21-0x7e) other than
// ','. The default (an empty function) is 18 random bytes in base64, as
// PostgreSQL does. Tests inject fixed nonces; a nonce that breaks the rule is
// a programming error and aborts.
using NonceSource = std::function<std::string()>;

// Usher as the SCRAM server, verifying a client that connects to it. One
// object per authentication attempt; not thread-safe.
class ScramServer {
 public:
  // `user` only names the user in error messages.
  ScramServer(std::string user, ScramSecret secret, NonceSource nonce = {});

  // For a plaintext password: derives a secret with a random 16-byte salt and
  // 4096 iterations (a millisecond of CPU; see make_scram_secret) the first
  // time, and reuses it for that user while the password stays the same.
  static ScramServer from_password(std::string user, std::string_view password,
                                   NonceSource nonce = {});

  // From whatever the auth file or auth_query returned: a SCRAM secret is
  // used as is, anything else but an MD5 secret or an empty string as a
  // plaintext password. An MD5 secret cannot drive SCRAM and an empty
  // password never authenticates: both give 28P01 with a message meant for
  // the log; send the client the generic "password authentication failed".
  static Result<ScramServer> from_stored(std::string user, std::string_view stored,
                                         NonceSource nonce = {});

  // An exchange that looks normal but always fails with 28P01 at the end,
  // for a user that does not exist or has no usable secret, so that a client
  // cannot tell which (PostgreSQL's "mock authentication"). The salt is
  // derived from `mock_seed` (one random value per process) and the user
  // name, so it is stable across attempts as a real one would be.
  static ScramServer mock(std::string user, std::string_view mock_seed, NonceSource nonce = {});

  // Offers SCRAM-SHA-256-PLUS besides SCRAM-SHA-256, bound to `end_point`:
  // this TLS connection's tls-server-end-point data (not empty). Before
  // mechanisms() and handle_client_first().
  void offer_channel_binding(std::string end_point);

  // For AuthenticationSASL: -PLUS first when offered, as PostgreSQL lists
  // them.
  std::vector<std::string_view> mechanisms() const;

  // The mechanism SASLInitialResponse names; SCRAM-SHA-256 when not called.
  // One not offered fails with 08P01.
  Status select_mechanism(std::string_view mechanism);

  // Takes the SASLInitialResponse data, returns server-first-message for
  // AuthenticationSASLContinue. Errors: 08P01 malformed or out of order, or
  // a GS2 header that contradicts the mechanism; 28000 "y" (the client
  // thinks we offer no binding) when we offered it, a downgrade; 0A000
  // authzid or a mandatory extension.
  Result<std::string> handle_client_first(std::string_view client_first);

  // Takes the SASLResponse data, returns server-final-message ("v=...") for
  // AuthenticationSASLFinal. Errors: 08P01 malformed (including a nonce
  // mismatch or a "c=" that does not echo the GS2 header), 28000 "SCRAM
  // channel binding check failed" for binding data of another certificate,
  // 28P01 "password authentication failed for user ..." for a wrong proof.
  Result<std::string> handle_client_final(std::string_view client_final);

  bool succeeded() const { return state_ == State::kSucceeded; }

  // After success: the client's ClientKey (ClientProof XOR ClientSignature).
  // With secret().server_key it lets ScramClient log into a PostgreSQL server
  // that holds the same secret, without the password (PgBouncer's trick for
  // SCRAM secrets in auth_file). Password-equivalent: never log it.
  std::optional<ScramKey> client_key() const { return client_key_; }

  const ScramSecret& secret() const { return secret_; }

 private:
  enum class State { kAwaitClientFirst, kAwaitClientFinal, kSucceeded, kFailed };

  Error fail(Error error);
  Result<size_t> read_gs2_header(std::string_view client_first) const;

  std::string user_;
  ScramSecret secret_;
  NonceSource nonce_source_;
  bool mock_ = false;
  State state_ = State::kAwaitClientFirst;
  std::string end_point_;          // offered channel binding data; empty: none
  bool plus_selected_ = false;     // the client chose SCRAM-SHA-256-PLUS
  std::string gs2_header_;         // "n,,", "y,," or kBindingGs2Header
  std::string client_first_bare_;  // for AuthMessage
  std::string server_first_;       // for AuthMessage
  std::string nonce_;              // client nonce + server nonce
  std::optional<ScramKey> client_key_;
};

struct ScramClientOptions {
  // Sent in "n=". PostgreSQL ignores it and libpq sends it empty; it matters
  // only for reproducing RFC test vectors. Escaped per RFC 5802 ("=2C", "=3D").
  std::string username;
  NonceSource nonce;
  // Refuse a server-first-message asking for more PBKDF2 rounds than this
  // (password mode only). PostgreSQL allows up to INT_MAX; lower it where a
  // server that is not trusted could make us burn CPU (Usher's own logins
  // use kScramMaxServerIterations).
  int max_iterations = std::numeric_limits<int>::max();
  // The connection's tls-server-end-point data (the server certificate's
  // hash); empty without TLS. With it, select_mechanism() takes -PLUS when
  // the server offers it, and the GS2 header says "y" when it does not.
  std::string end_point;
};

// What deriving the SaltedPassword for a server-first-message takes.
struct ScramSaltRequest {
  std::string salt;  // raw bytes
  int iterations = 0;
};

// Usher as the SCRAM client, logging into PostgreSQL. One object per
// authentication attempt; not thread-safe.
class ScramClient {
 public:
  // With a plaintext password (used as is; see the SASLprep note above).
  explicit ScramClient(std::string password, ScramClientOptions options = {});

  // With the keys recovered from a client's successful exchange
  // (ScramServer::client_key() and secret().server_key). This works only if
  // the server holds the same secret. When `expected` is given (the secret
  // the keys came from), a server-first-message whose salt or iteration count
  // differs fails with 28000 and a message saying so, rather than a confusing
  // password failure from the server; a ClientKey that does not hash to
  // expected->stored_key, or a ServerKey that differs, fails the same way.
  ScramClient(const ScramKey& client_key, const ScramKey& server_key,
              std::optional<ScramSecret> expected = std::nullopt, ScramClientOptions options = {});

  // Picks from AuthenticationSASL's list: SCRAM-SHA-256-PLUS when offered
  // and options.end_point is set, else SCRAM-SHA-256. Empty when neither is
  // offered. Before client_first(); without it the client does not bind.
  std::string_view select_mechanism(const std::vector<std::string_view>& offered);

  // True when the exchange binds the channel (-PLUS was selected).
  bool binds_channel() const { return plus_; }

  // client-first-message with its GS2 header ("n,,n=,r=<nonce>", or "y,,"
  // or kBindingGs2Header), for SASLInitialResponse. Calling it again returns
  // the same message.
  std::string client_first();

  // Takes AuthenticationSASLContinue data, returns client-final-message for
  // SASLResponse. Errors: 08P01 malformed or out of order (including a nonce
  // that does not extend ours), 28000 keys/secret mismatch (see above) or
  // more iterations than options.max_iterations.
  //
  // In password mode this runs PBKDF2 (scram_salted_password) unless
  // `salted_password` is given. A caller that must not block reads the salt
  // and rounds with salt_request(), computes the SaltedPassword elsewhere and
  // passes it here.
  Result<std::string> handle_server_first(std::string_view server_first,
                                          std::optional<ScramKey> salted_password = std::nullopt);

  // True in password mode, where handle_server_first() needs PBKDF2.
  bool uses_password() const { return !client_key_; }
  // The salt and rounds a server-first-message asks for, validated as
  // handle_server_first() would (the same errors) without changing state.
  // Password mode only (08P01 otherwise).
  Result<ScramSaltRequest> salt_request(std::string_view server_first) const;

  // Takes AuthenticationSASLFinal data. "v=" must carry the server signature
  // we expect (else 28000: the server does not know the secret). "e=..." gives
  // 28P01 with the server's error. PostgreSQL itself reports a wrong password
  // with an ErrorResponse instead, which the caller sees before this point.
  Status verify_server_final(std::string_view server_final);

  bool succeeded() const { return state_ == State::kSucceeded; }

 private:
  enum class State { kInitial, kAwaitServerFirst, kAwaitServerFinal, kSucceeded, kFailed };

  struct ServerFirst {
    std::string_view nonce;
    std::string salt;
    int iterations = 0;
  };
  // Parses and checks a server-first-message (state, nonce, iteration cap).
  Result<ServerFirst> parse_server_first(std::string_view msg) const;
  Error fail(Error error);

  std::string password_;
  std::optional<ScramKey> client_key_;  // set in key mode
  ScramKey server_key_{};               // key mode: given; password mode: derived
  std::optional<ScramSecret> expected_;
  ScramClientOptions options_;
  bool plus_ = false;  // SCRAM-SHA-256-PLUS selected
  State state_ = State::kInitial;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string client_nonce_;
  ScramKey server_signature_{};
};

}  // namespace usher::auth
