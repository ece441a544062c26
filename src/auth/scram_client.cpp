// ScramClient: Usher logging in to PostgreSQL with SCRAM-SHA-256, with a
// password or with the keys recovered from a client's exchange (scram.h).
#include <openssl/crypto.h>

#include <algorithm>
#include <string>
#include <utility>

#include "auth/base64.h"
#include "auth/scram.h"
#include "auth/scram_common.h"
#include "protocol/sqlstate.h"

namespace usher::auth {

namespace {

// Longest server "e=" value we quote back in an error message.
constexpr size_t kMaxQuotedServerError = 128;

}  // namespace

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

std::string_view ScramClient::select_mechanism(const std::vector<std::string_view>& offered) {
  auto has = [&](std::string_view m) {
    return std::find(offered.begin(), offered.end(), m) != offered.end();
  };
  plus_ = !options_.end_point.empty() && has(kScramSha256PlusMechanism);
  if (plus_) return kScramSha256PlusMechanism;
  return has(kScramSha256Mechanism) ? kScramSha256Mechanism : std::string_view();
}

std::string ScramClient::client_first() {
  if (state_ == State::kInitial) {
    client_nonce_ = make_nonce(options_.nonce);
    client_first_bare_ = "n=" + escape_saslname(options_.username) + ",r=" + client_nonce_;
    // "y": we could bind, the server offered no -PLUS. A server that does
    // support binding then knows someone stripped it from the list.
    gs2_header_ =
        plus_ ? std::string(kBindingGs2Header) : (options_.end_point.empty() ? "n,," : "y,,");
    state_ = State::kAwaitServerFirst;
  }
  return gs2_header_ + client_first_bare_;
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
    return make_error(protocol::sqlstate::invalid_authorization_specification,
                      "server asks for " + std::to_string(*iterations) +
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
            protocol::sqlstate::invalid_authorization_specification,
            "the server's SCRAM secret (salt or iteration count) differs from the one the client "
            "authenticated against; the server's password does not match the auth file"));
      }
      if (!keys_equal(sha256(as_view(*client_key_)), expected_->stored_key) ||
          !keys_equal(server_key_, expected_->server_key)) {
        return fail(make_error(protocol::sqlstate::invalid_authorization_specification,
                               "SCRAM client keys do not belong to the expected secret"));
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

  // c= carries the GS2 header and, when binding, the certificate's hash.
  std::string binding = plus_ ? gs2_header_ + options_.end_point : gs2_header_;
  std::string without_proof = "c=" + base64_encode(binding) + ",r=" + std::string(first->nonce);
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
    return fail(make_error(protocol::sqlstate::invalid_password,
                           "SCRAM authentication failed: server error \"" + quoted + "\""));
  }
  auto verifier = reader.read('v');
  if (!verifier) return fail(verifier.take_error());
  while (!reader.at_end()) {
    if (auto ext = reader.read_any(); !ext) return fail(ext.take_error());
  }
  auto signature = decode_key(*verifier);
  if (!signature) return fail(malformed("server signature is not 32 bytes of base64"));
  if (!keys_equal(*signature, server_signature_)) {
    return fail(make_error(protocol::sqlstate::invalid_authorization_specification,
                           "incorrect SCRAM server signature: the server does not know the "
                           "user's secret"));
  }
  state_ = State::kSucceeded;
  return ok_status();
}

}  // namespace usher::auth
