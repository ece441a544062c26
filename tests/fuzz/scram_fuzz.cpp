// libFuzzer target for everything in src/auth that reads untrusted bytes:
// SCRAM messages on both sides of the exchange, stored SCRAM secrets, base64.
// Beyond "never crash", it checks a few invariants and traps when one breaks:
// round trips of base64 and secrets, ClientKey present exactly on success,
// and that an honest client and server always agree whatever the password
// and user name.
//
// The input is split at the first '\n' into two messages (first, final).
// Nonces are fixed so the fuzzer can learn to echo them and get past the
// nonce checks into proof handling.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/base64.h"
#include "auth/md5.h"
#include "auth/scram.h"

namespace {

namespace auth = usher::auth;

constexpr std::string_view kClientNonce = "cnonce";
constexpr std::string_view kServerNonce = "snonce";
// Channel-binding data as a TLS connection would give it.
constexpr std::string_view kEndPoint = "0123456789abcdef0123456789abcdef";
// Few iterations: the fuzzer runs thousands of exchanges a second.
constexpr int kIterations = 2;
// A server-first-message may ask for any iteration count; cap what a
// password-mode client will compute so one input cannot stall the run.
constexpr int kMaxIterations = 64;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

auth::NonceSource fixed_nonce(std::string_view nonce) {
  return [n = std::string(nonce)] { return n; };
}

auth::ScramClientOptions client_options(std::string username = {}) {
  return auth::ScramClientOptions{.username = std::move(username),
                                  .nonce = fixed_nonce(kClientNonce),
                                  .max_iterations = kMaxIterations};
}

const auth::ScramSecret& secret() {
  static const auth::ScramSecret kSecret =
      auth::make_scram_secret("pencil", "fuzzsalt", kIterations);
  return kSecret;
}

bool run_exchange(auth::ScramClient& client, auth::ScramServer& server) {
  auto server_first = server.handle_client_first(client.client_first());
  if (!server_first) return false;
  auto client_final = client.handle_server_first(*server_first);
  if (!client_final) return false;
  auto server_final = server.handle_client_final(*client_final);
  if (!server_final) return false;
  return client.verify_server_final(*server_final).ok();
}

// The ClientKey for "pencil", recovered the way the pooler does it.
const auth::ScramKey& client_key() {
  static const auth::ScramKey kKey = [] {
    auth::ScramServer server("fuzz", secret());
    auth::ScramClient client("pencil");
    check(run_exchange(client, server));
    return *server.client_key();
  }();
  return kKey;
}

void check_server_outcome(const auth::ScramServer& server) {
  check(server.succeeded() == server.client_key().has_value());
}

void fuzz_server(std::string_view first, std::string_view final_message, std::string_view whole) {
  {
    auth::ScramServer server("fuzz", secret(), fixed_nonce(kServerNonce));
    if (server.handle_client_first(first).ok()) (void)server.handle_client_final(final_message);
    check_server_outcome(server);
  }
  {
    // The whole input as client-final after a valid client-first, and once
    // more behind a valid prefix so extensions and proofs get reached.
    auth::ScramServer server("fuzz", secret(), fixed_nonce(kServerNonce));
    check(server.handle_client_first("n,,n=,r=cnonce").ok());
    (void)server.handle_client_final(whole);
    check_server_outcome(server);

    auth::ScramServer prefixed("fuzz", secret(), fixed_nonce(kServerNonce));
    check(prefixed.handle_client_first("n,,n=,r=cnonce").ok());
    (void)prefixed.handle_client_final("c=biws,r=cnoncesnonce," + std::string(whole));
    check_server_outcome(prefixed);
  }
  {
    // Channel binding offered; the first byte's low bit picks -PLUS.
    auth::ScramServer server("fuzz", secret(), fixed_nonce(kServerNonce));
    server.offer_channel_binding(std::string(kEndPoint));
    const bool plus = !first.empty() && (first[0] & 1) != 0;
    if (server
            .select_mechanism(plus ? auth::kScramSha256PlusMechanism : auth::kScramSha256Mechanism)
            .ok() &&
        server.handle_client_first(first).ok()) {
      (void)server.handle_client_final(final_message);
    }
    check_server_outcome(server);
  }
}

void fuzz_client(std::string_view first, std::string_view final_message) {
  {
    auth::ScramClient client("pencil", client_options());
    client.client_first();
    if (client.handle_server_first(first).ok()) (void)client.verify_server_final(final_message);
  }
  {
    auth::ScramClient client(client_key(), secret().server_key, secret(), client_options());
    client.client_first();
    if (client.handle_server_first(first).ok()) (void)client.verify_server_final(final_message);
  }
  {
    auth::ScramClient client(client_key(), secret().server_key, std::nullopt, client_options());
    client.client_first();
    std::string server_first = "r=cnonce" + std::string(first);
    if (client.handle_server_first(server_first).ok()) {
      (void)client.verify_server_final(final_message);
    }
  }
}

void fuzz_round_trips(std::string_view data) {
  auto decoded = auth::base64_decode(data);
  if (decoded) check(auth::base64_decode(auth::base64_encode(*decoded)) == decoded);
  check(auth::base64_decode(auth::base64_encode(data)) == std::string(data));

  auto parsed = auth::parse_scram_secret(data);
  check(parsed.ok() == auth::is_scram_secret(data));
  if (parsed) {
    auto again = auth::parse_scram_secret(auth::format_scram_secret(*parsed));
    check(again.ok() && *again == *parsed);
  }
}

// Any password and user name: an honest client and server must agree, and
// so must md5_salted_response and md5_verify.
void fuzz_honest_exchange(std::string_view password, std::string_view user) {
  if (password.size() > 64 || user.size() > 64) return;
  // A user name travels in client-first-message, where NUL is never valid
  // (nor in a PostgreSQL role name); the password never travels.
  if (user.find('\0') != std::string_view::npos) return;
  auth::ScramServer server(std::string(user), auth::make_scram_secret(password, "salt", 1));
  auth::ScramClient client(std::string(password), client_options(std::string(user)));
  check(run_exchange(client, server));
  check(server.succeeded() && client.succeeded());
  if (!user.empty()) {
    // Bound to any end point (the user name's bytes), both sides agree too.
    auth::ScramServer bound(std::string(user), auth::make_scram_secret(password, "salt", 1));
    bound.offer_channel_binding(std::string(user));
    auth::ScramClientOptions options = client_options(std::string(user));
    options.end_point = std::string(user);
    auth::ScramClient binder(std::string(password), options);
    check(bound.select_mechanism(binder.select_mechanism(bound.mechanisms())).ok());
    check(binder.binds_channel() && run_exchange(binder, bound));
  }

  const auth::Md5Salt salt{1, 2, 3, 4};
  bool md5_ok =
      auth::md5_verify(password, user, salt, auth::md5_salted_response(password, user, salt));
  check(md5_ok == !(password.empty() || auth::is_scram_secret(password)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  size_t newline = whole.find('\n');
  std::string_view first = whole.substr(0, newline);
  std::string_view final_message =
      newline == std::string_view::npos ? std::string_view() : whole.substr(newline + 1);

  fuzz_server(first, final_message, whole);
  fuzz_client(first, final_message);
  fuzz_round_trips(whole);
  fuzz_honest_exchange(first, final_message);
  return 0;
}
