// Authenticating clients against auth_file secrets, by auth_type:
//   trust, any      no password asked
//   plain           cleartext password, checked against a plain, md5 or SCRAM secret
//   md5             MD5 challenge; a user whose secret is SCRAM gets SCRAM instead
//   scram-sha-256   SCRAM with a plain or SCRAM secret; over TLS also
//                   SCRAM-SHA-256-PLUS (channel binding)
//   cert            a client certificate, verified (client_tls_sslmode
//                   verify-ca/verify-full), whose CN is the user name
//   hba             the method of auth_hba_file's first matching rule (those
//                   above, reject, or peer: the Unix peer's OS user name);
//                   cert and peer rules with map= take the names
//                   auth_ident_file's map allows instead of the same name
// A wrong password or unknown user gets 28P01 with PostgreSQL's message;
// which of the two it was is only logged. Failed password checks are counted
// per client address, and an address with too many waits before each check
// (auth/login_throttle.h).
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "auth/ident.h"
#include "auth/md5.h"
#include "auth/scram.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "session/login.h"

namespace usher::session {

namespace {

constexpr uint32_t kMaxAuthMessage = 65536;

Error auth_failed(const std::string& user) {
  return make_error(protocol::sqlstate::invalid_password,
                    "password authentication failed for user \"" + user + "\"");
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// A random value per process, so mock SCRAM salts are stable per user name
// but unpredictable (PostgreSQL does the same).
const std::string& mock_seed() {
  static const std::string seed = [] {
    std::string s(16, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size()));
    return s;
  }();
  return seed;
}

}  // namespace

asio::awaitable<Result<net::Message>> Login::read_auth_message() {
  auto msg = co_await net::read_message(c_.stream, c_.in, kMaxAuthMessage);
  if (!msg) {
    c_.closed = true;
    co_return msg.take_error();
  }
  if (msg->header.type != protocol::PqMsg_PasswordMessage) {
    co_return make_error(
        protocol::sqlstate::protocol_violation,
        std::string("expected password response, got message type ") + msg->header.type);
  }
  co_return msg;
}

asio::awaitable<Status> Login::authenticate() {
  c_.admin = c_.database == config::kConsoleDatabase;
  // PgBouncer's rule, whatever auth_type: the kernel vouches for this
  // peer, which could read Usher's files anyway.
  if (c_.admin && c_.user == config::kConsoleUser &&
      net::unix_peer_uid(c_.stream.socket()) == ::getuid()) {
    c_.console_owner = true;
    if (c_.config->log_connections) {
      spdlog::info("C-{}: {}/{}@unix pgbouncer access from unix socket",
                   static_cast<const void*>(&c_), c_.database, c_.user);
    }
    co_return ok_status();
  }
  std::string ident_map;
  auto method = auth_method(ident_map);
  if (!method) co_return method.take_error();
  auto it = c_.config->auth_users.find(c_.user);
  bool known = it != c_.config->auth_users.end();
  std::string_view stored = known ? std::string_view(it->second) : std::string_view();
  const bool checks_password =
      *method == Method::kPlain || *method == Method::kMd5 || *method == Method::kScramSha256;
  auth::LoginThrottle& throttle = c_.ctx.login_throttle();
  if (checks_password) {
    auto delay = throttle.delay(c_.addr, Clock::now());
    if (delay.count() > 0) {
      asio::steady_timer timer(c_.worker.io, delay);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  // A user auth_file does not list may be one auth_query finds (not for the
  // console, whose users are the operator's own, nor under auth_type any).
  std::string queried;
  if (!known && !c_.admin && *method != Method::kAny && *method != Method::kReject) {
    auto secret = co_await query_secret();
    if (!secret) co_return secret.take_error();
    if (*secret) {
      queried = std::move(**secret);
      known = true;
      stored = queried;
    }
  }
  Status st = ok_status();
  switch (*method) {
    case Method::kTrust:
      // No password, but the user must be one we know (PgBouncer's rule).
      if (!known && !c_.config->auth_file.empty()) st = auth_failed(c_.user);
      break;
    case Method::kAny:
      break;
    case Method::kReject:
      st = hba_refusal("pg_hba.conf rejects connection");
      break;
    case Method::kCert:
      st = auth_cert(ident_map);
      break;
    case Method::kPeer:
      st = auth_peer(ident_map);
      break;
    case Method::kPlain:
      st = co_await auth_cleartext(stored);
      break;
    case Method::kMd5:
      if (auth::is_scram_secret(stored)) {
        st = co_await auth_scram(stored, known);
      } else {
        st = co_await auth_md5(stored);
        // auth_file's md5 secrets are the pool's already; a queried one
        // answers the server's md5 challenge as well as Usher's.
        if (st && !queried.empty()) learned_.password = queried;
      }
      break;
    case Method::kScramSha256:
      st = co_await auth_scram(stored, known);
      break;
  }
  if (checks_password && !st && st.error().sqlstate == protocol::sqlstate::invalid_password &&
      throttle.failed(c_.addr, Clock::now())) {
    const auto& limits = throttle.limits();
    spdlog::warn(
        "client address {} throttled: {} failed logins within {} s; each password check from it "
        "now waits first, {} ms doubling up to {} ms",
        c_.addr, limits.free_failures,
        std::chrono::duration_cast<std::chrono::seconds>(limits.window).count(),
        limits.first_delay.count(), limits.max_delay.count());
  }
  if (!st) co_return st;
  // Rights after the password (PgBouncer 1.18 checks them first): refusing
  // first would tell anyone, without a password, which names are admins.
  // Under auth_type = any, which checks no one, anyone may read the
  // console, as in PgBouncer; only admin_users may change anything.
  if (c_.admin && !contains(c_.config->admin_users, c_.user) &&
      !contains(c_.config->stats_users, c_.user) &&
      c_.config->auth_type != config::AuthType::kAny) {
    co_return make_error(protocol::sqlstate::invalid_authorization_specification,
                         "not allowed");  // PgBouncer's text
  }
  co_return ok_status();
}

Result<Login::Method> Login::auth_method(std::string& ident_map) const {
  using config::AuthType;
  switch (c_.config->auth_type) {
    case AuthType::kTrust:
      return Method::kTrust;
    case AuthType::kAny:
      return Method::kAny;
    case AuthType::kPlain:
      return Method::kPlain;
    case AuthType::kMd5:
      return Method::kMd5;
    case AuthType::kScramSha256:
      return Method::kScramSha256;
    case AuthType::kCert:
      return Method::kCert;
    case AuthType::kHba:
      break;
    default:
      return make_error(protocol::sqlstate::invalid_authorization_specification,
                        "authentication method not supported by Usher");
  }
  auth::HbaClient who;
  who.unix_socket = net::is_unix(c_.stream.socket());
  who.tls = c_.stream.tls() != nullptr;
  if (!who.unix_socket && !auth::hba_client_address(c_.addr, who)) return hba_refusal("no address");
  who.database = c_.database;
  who.user = c_.user;
  const auth::HbaRule* rule = auth::match_hba(c_.config->hba_rules, who);
  if (!rule) return hba_refusal("no pg_hba.conf entry");
  ident_map = rule->map;
  switch (rule->method) {
    case auth::HbaMethod::kTrust:
      return Method::kTrust;
    case auth::HbaMethod::kReject:
      return Method::kReject;
    case auth::HbaMethod::kPassword:
      return Method::kPlain;
    case auth::HbaMethod::kMd5:
      return Method::kMd5;
    case auth::HbaMethod::kScramSha256:
      return Method::kScramSha256;
    case auth::HbaMethod::kCert:
      return Method::kCert;
    case auth::HbaMethod::kPeer:
      return Method::kPeer;
  }
  return Method::kReject;
}

// PostgreSQL's words, so that runbooks match: "<what> for host "...", user
// "...", database "...", SSL encryption / no encryption".
Error Login::hba_refusal(std::string_view what) const {
  const bool unix_socket = net::is_unix(c_.stream.socket());
  std::string m(what);
  m += unix_socket ? " for host \"[local]\"" : " for host \"" + c_.addr + "\"";
  m += ", user \"" + c_.user + "\", database \"" + c_.database + "\"";
  if (!unix_socket) m += c_.stream.tls() ? ", SSL encryption" : ", no encryption";
  return make_error(protocol::sqlstate::invalid_authorization_specification, m);
}

bool Login::system_user_allowed(std::string_view system_user, const std::string& ident_map) const {
  if (ident_map.empty()) return system_user == c_.user;
  if (auth::ident_allows(c_.config->ident_entries, ident_map, system_user, c_.user)) return true;
  // PostgreSQL's log line; the client hears only that authentication failed.
  spdlog::info("C-{}: no match in usermap \"{}\" for user \"{}\" authenticated as \"{}\"",
               static_cast<const void*>(&c_), ident_map, c_.user, system_user);
  return false;
}

Status Login::auth_cert(const std::string& ident_map) const {
  // Verified by the handshake when client_tls_sslmode is verify-ca or
  // verify-full; a certificate under weaker modes is not checked, so it
  // proves nothing.
  const net::TlsSession* tls = c_.stream.tls();
  if (!tls || !net::tls_verifies(tls->mode()) || !tls->peer_verified()) {
    return make_error(protocol::sqlstate::invalid_authorization_specification,
                      "certificate authentication failed for user \"" + c_.user +
                          "\": no verified client certificate (client_tls_sslmode must be "
                          "verify-ca or verify-full)");
  }
  if (!system_user_allowed(tls->peer_common_name(), ident_map)) {
    return make_error(protocol::sqlstate::invalid_authorization_specification,
                      "certificate authentication failed for user \"" + c_.user +
                          (ident_map.empty() ? "\": the certificate's CN is not the user name"
                                             : "\": the certificate's CN is not mapped to it"));
  }
  return ok_status();
}

Status Login::auth_peer(const std::string& ident_map) const {
  auto uid = net::unix_peer_uid(c_.stream.socket());
  std::string name;
  if (uid) {
    std::vector<char> buf(4096);
    passwd pw{};
    passwd* found = nullptr;
    if (getpwuid_r(*uid, &pw, buf.data(), buf.size(), &found) == 0 && found) name = pw.pw_name;
  }
  if (name.empty() || !system_user_allowed(name, ident_map)) {
    return make_error(protocol::sqlstate::invalid_authorization_specification,
                      "Peer authentication failed for user \"" + c_.user + "\"");
  }
  return ok_status();
}

asio::awaitable<Status> Login::auth_cleartext(std::string_view stored) {
  std::string out;
  protocol::write_authentication_cleartext(out);
  auto st = co_await c_.send(out);
  if (!st) co_return st;
  auto msg = co_await read_auth_message();
  if (!msg) co_return msg.take_error();
  auto password = protocol::parse_password_message(msg->body);
  if (!password) co_return password.take_error();
  std::string given(*password);
  c_.in.consume(msg->header.total());
  bool ok = false;
  if (stored.empty() || given.empty()) {
    ok = false;
  } else if (auth::is_scram_secret(stored)) {
    auto secret = auth::parse_scram_secret(stored);
    if (secret) {
      // PBKDF2 with the secret's rounds: off the worker, whose other clients
      // would otherwise wait (a secret may ask for millions of rounds).
      auto derive = [given, salt = secret->salt, iterations = secret->iterations] {
        return auth::make_scram_secret(given, salt, iterations);
      };
      auth::ScramSecret derived = co_await c_.ctx.offload().run(std::move(derive));
      ok = derived == *secret;
    }
  } else if (auth::is_md5_secret(stored)) {
    std::string computed = auth::md5_password_secret(c_.user, given);
    ok = computed.size() == stored.size() &&
         CRYPTO_memcmp(computed.data(), stored.data(), stored.size()) == 0;
  } else {
    ok = given.size() == stored.size() &&
         CRYPTO_memcmp(given.data(), stored.data(), stored.size()) == 0;
  }
  if (!ok) co_return auth_failed(c_.user);
  // A secret cannot log in to a server that asks for SCRAM; the password
  // the client just proved can.
  if (!auth::is_plaintext_password(stored)) learned_.password = std::move(given);
  co_return ok_status();
}

asio::awaitable<Status> Login::auth_md5(std::string_view stored) {
  auth::Md5Salt salt;
  RAND_bytes(salt.data(), static_cast<int>(salt.size()));
  std::string out;
  protocol::write_authentication_md5(out, salt.data());
  auto st = co_await c_.send(out);
  if (!st) co_return st;
  auto msg = co_await read_auth_message();
  if (!msg) co_return msg.take_error();
  auto response = protocol::parse_password_message(msg->body);
  if (!response) co_return response.take_error();
  bool ok = !stored.empty() && auth::md5_verify(stored, c_.user, salt, *response);
  c_.in.consume(msg->header.total());
  if (!ok) co_return auth_failed(c_.user);
  co_return ok_status();
}

asio::awaitable<Status> Login::auth_scram(std::string_view stored, bool known) {
  // An unknown user, or one whose secret cannot drive SCRAM, goes through
  // a mock exchange so the client cannot tell the cases apart.
  std::optional<auth::ScramServer> server;
  if (known && auth::is_plaintext_password(stored)) {
    // A plaintext password needs a secret derived from it (PBKDF2), once per
    // user: off the worker when it is not cached yet.
    auto secret = auth::cached_password_secret(c_.user, stored);
    if (!secret) {
      auto derive = [user = c_.user, password = std::string(stored)] {
        return auth::password_secret(user, password);
      };
      secret = co_await c_.ctx.offload().run(std::move(derive));
    }
    server.emplace(c_.user, std::move(*secret));
  } else if (known) {
    auto s = auth::ScramServer::from_stored(c_.user, stored);
    if (s) {
      server.emplace(std::move(*s));
    } else {
      spdlog::warn("user \"{}\": {}", c_.user, s.error().message);
    }
  }
  if (!server) server.emplace(auth::ScramServer::mock(c_.user, mock_seed()));
  // Over TLS, SCRAM-SHA-256-PLUS too (libpq's channel_binding=require
  // needs it), bound to the certificate this client was shown.
  if (const net::TlsSession* tls = c_.stream.tls()) {
    if (std::string end_point = tls->server_end_point(); !end_point.empty())
      server->offer_channel_binding(std::move(end_point));
  }

  std::string out;
  protocol::write_authentication_sasl(out, server->mechanisms());
  auto st = co_await c_.send(out);
  if (!st) co_return st;

  auto msg = co_await read_auth_message();
  if (!msg) co_return msg.take_error();
  auto initial = protocol::parse_sasl_initial_response(msg->body);
  if (!initial) co_return initial.take_error();
  if (auto chosen = server->select_mechanism(initial->mechanism); !chosen) co_return chosen;
  auto server_first = server->handle_client_first(initial->data);
  c_.in.consume(msg->header.total());
  if (!server_first) co_return server_first.take_error();
  out.clear();
  protocol::write_authentication_sasl_continue(out, *server_first);
  st = co_await c_.send(out);
  if (!st) co_return st;

  msg = co_await read_auth_message();
  if (!msg) co_return msg.take_error();
  auto server_final = server->handle_client_final(protocol::as_chars(msg->body));
  c_.in.consume(msg->header.total());
  if (!server_final) {
    if (server_final.error().sqlstate == protocol::sqlstate::invalid_password)
      co_return auth_failed(c_.user);
    co_return server_final.take_error();
  }
  out.clear();
  protocol::write_authentication_sasl_final(out, *server_final);
  st = co_await c_.send(out);
  if (!st) co_return st;
  if (auth::is_scram_secret(stored) && server->client_key()) {
    LearnedCredentials& l = learned_;
    l.has_scram_keys = true;
    l.client_key = *server->client_key();
    l.server_key = server->secret().server_key;
  }
  co_return ok_status();
}

}  // namespace usher::session
