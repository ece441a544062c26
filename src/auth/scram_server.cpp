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

void ScramServer::offer_channel_binding(std::string end_point) {
  end_point_ = std::move(end_point);
}

std::vector<std::string_view> ScramServer::mechanisms() const {
  if (end_point_.empty()) return {kScramSha256Mechanism};
  return {kScramSha256PlusMechanism, kScramSha256Mechanism};
}

Status ScramServer::select_mechanism(std::string_view mechanism) {
  if (state_ != State::kAwaitClientFirst) return fail(out_of_order("mechanism selection"));
  plus_selected_ = !end_point_.empty() && mechanism == kScramSha256PlusMechanism;
  if (!plus_selected_ && mechanism != kScramSha256Mechanism) {
    return fail(make_error(protocol::sqlstate::protocol_violation,
                           "client selected an invalid SASL authentication mechanism"));
  }
  return ok_status();
}

// gs2-header: gs2-cbind-flag "," [authzid] ","; gs2-cbind-flag is "n", "y"
// or "p=" cb-name. Returns its length. PostgreSQL's words for each refusal.
Result<size_t> ScramServer::read_gs2_header(std::string_view msg) const {
  if (msg.empty()) return malformed("empty client-first-message");
  size_t flag_end = 1;
  switch (msg[0]) {
    case 'n':  // no channel binding
    case 'y':  // the client could bind, but thinks we cannot
      if (plus_selected_) {
        return malformed(
            "the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include "
            "channel binding data");
      }
      if (msg[0] == 'y' && !end_point_.empty()) {
        return make_error(protocol::sqlstate::invalid_authorization_specification,
                          "SCRAM channel binding negotiation error: the client supports SCRAM "
                          "channel binding but thinks the server does not; however, this server "
                          "does support channel binding");
      }
      break;
    case 'p': {
      if (!plus_selected_) {
        return malformed(
            "the client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
            "includes channel binding data");
      }
      AttrReader reader(msg);
      auto type = reader.read('p');
      if (!type) return type.take_error();
      if (*type != kTlsServerEndPoint) {
        return make_error(
            protocol::sqlstate::protocol_violation,
            "unsupported SCRAM channel-binding type \"" + std::string(type->substr(0, 64)) + "\"");
      }
      flag_end = 2 + type->size();
      break;
    }
    default:
      return malformed("unexpected channel-binding flag " + describe_char(msg[0]));
  }
  if (msg.size() <= flag_end || msg[flag_end] != ',') {
    return malformed("comma expected after the channel-binding flag");
  }
  if (msg.size() > flag_end + 1 && msg[flag_end + 1] == 'a') {
    return make_error(protocol::sqlstate::feature_not_supported,
                      "client uses authorization identity, but it is not supported");
  }
  if (msg.size() <= flag_end + 1 || msg[flag_end + 1] != ',') {
    return malformed("comma expected at the end of the GS2 header");
  }
  return flag_end + 2;
}

Result<std::string> ScramServer::handle_client_first(std::string_view msg) {
  if (state_ != State::kAwaitClientFirst) return fail(out_of_order("client-first-message"));
  if (has_nul(msg)) return fail(malformed("NUL byte in client-first-message"));
  auto header_size = read_gs2_header(msg);
  if (!header_size) return fail(header_size.take_error());
  std::string_view bare = msg.substr(*header_size);
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

  gs2_header_ = std::string(msg.substr(0, *header_size));
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
  if (plus_selected_) {
    // The GS2 header and the hash of the certificate this client sees: a
    // different hash means another TLS connection, a man in the middle.
    if (*binding != base64_encode(gs2_header_ + end_point_)) {
      return fail(make_error(protocol::sqlstate::invalid_authorization_specification,
                             "SCRAM channel binding check failed"));
    }
  } else if (*binding != base64_encode(gs2_header_)) {
    // Without channel binding, c= echoes the GS2 header exactly: "biws" for
    // "n,," and "eSws" for "y,,". A different flag here would be a downgrade.
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
