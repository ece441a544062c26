// ScramServer: a connecting client verified against a stored secret, in
// PostgreSQL's dialect of SCRAM (scram.h).
#include <string>
#include <utility>

#include "auth/base64.h"
#include "auth/md5.h"
#include "auth/scram.h"
#include "auth/scram_common.h"
#include "protocol/sqlstate.h"

namespace usher::auth {

namespace {

std::string password_failed(std::string_view user) {
  return "password authentication failed for user \"" + std::string(user) + "\"";
}

}  // namespace

// ---------------------------------------------------------------------------
// ScramServer

ScramServer::ScramServer(std::string user, ScramSecret secret, NonceSource nonce)
    : user_(std::move(user)), secret_(std::move(secret)), nonce_source_(std::move(nonce)) {}

ScramServer ScramServer::from_password(std::string user, std::string_view password,
                                       NonceSource nonce) {
  ScramSecret secret = password_secret(user, password);
  return ScramServer(std::move(user), std::move(secret), std::move(nonce));
}

Result<ScramServer> ScramServer::from_stored(std::string user, std::string_view stored,
                                             NonceSource nonce) {
  if (stored.empty()) {
    return make_error(protocol::sqlstate::invalid_password,
                      "user \"" + user + "\" has an empty password");
  }
  if (stored.starts_with(kSecretPrefix)) {
    auto secret = parse_scram_secret(stored);
    if (!secret) {
      return make_error(protocol::sqlstate::invalid_password,
                        "user \"" + user + "\": " + secret.error().message);
    }
    return ScramServer(std::move(user), std::move(*secret), std::move(nonce));
  }
  if (is_md5_secret(stored)) {
    return make_error(protocol::sqlstate::invalid_password,
                      "user \"" + user +
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
      return fail(make_error(protocol::sqlstate::protocol_violation,
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
    return fail(make_error(protocol::sqlstate::feature_not_supported,
                           "client uses authorization identity, but it is not supported"));
  }
  if (msg.size() < 3 || msg[2] != ',') {
    return fail(malformed("comma expected at the end of the GS2 header"));
  }
  std::string_view bare = msg.substr(3);
  if (!bare.empty() && bare[0] == 'm') {
    return fail(make_error(protocol::sqlstate::feature_not_supported,
                           "client requires an unsupported SCRAM extension"));
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
  if (!valid || mock_)
    return fail(make_error(protocol::sqlstate::invalid_password, password_failed(user_)));

  client_key_ = client_key;
  state_ = State::kSucceeded;
  return "v=" + base64_encode(as_view(hmac_sha256(as_view(secret_.server_key), auth_message)));
}

}  // namespace usher::auth
