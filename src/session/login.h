// A client's way in: the startup packet exchange, authentication, and
// joining its pool. Lives only while the client logs in (a local of the
// session's login coroutine), so nothing of it stays with an idle client.
//
//   startup.cpp      TLS (SSLRequest or direct), GSSENCRequest declined,
//                    CancelRequest forwarded, StartupMessage and `options` read
//   client_auth.cpp  passwords checked against auth_file by auth_type
//   auth_query.cpp   secrets of users auth_file does not list, from the server
//   login.cpp        the pool joined, the welcome (AuthenticationOk ... ReadyForQuery)
#pragma once

#include <array>
#include <boost/asio.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "net/message_io.h"
#include "protocol/cancel_key.h"
#include "protocol/startup.h"
#include "session/client_connection.h"

namespace usher::session {

class Login {
 public:
  Login(ClientConnection& conn, Membership& membership) : c_(conn), m_(membership) {}

  // The packets before authentication. false: the connection was a
  // CancelRequest, and is done.
  asio::awaitable<Result<bool>> startup();
  // Checks the client's password (or lets it in, by auth_type).
  asio::awaitable<Status> authenticate();
  // Finds the pool, takes the client's places in the limits, and sends
  // what PostgreSQL sends at the end of a login.
  asio::awaitable<Status> join_pool();

 private:
  // startup.cpp
  Status apply_startup_params(const protocol::StartupMessage& m);
  Status apply_options(std::string_view options);
  // A startup parameter (or one inside `options`) this client may set.
  bool tracked_at_login(std::string_view name) const;
  asio::awaitable<void> forward_cancel(protocol::CancelKey key);
  // The handshake as the server; `direct`: no SSLRequest came first.
  asio::awaitable<Status> start_tls(const std::shared_ptr<const net::TlsContext>& tls, bool direct);

  // client_auth.cpp
  // How this client proves who it is: auth_type, or its hba rule's method.
  enum class Method { kTrust, kAny, kReject, kPlain, kMd5, kScramSha256, kCert, kPeer };
  // `ident_map`: the matching hba rule's map= (empty: none).
  Result<Method> auth_method(std::string& ident_map) const;
  Error hba_refusal(std::string_view what) const;
  // Whether `system_user` (the certificate's CN, the peer's account) may
  // log in as the client's user: the same name, or one `ident_map` allows.
  bool system_user_allowed(std::string_view system_user, const std::string& ident_map) const;
  Status auth_cert(const std::string& ident_map) const;
  Status auth_peer(const std::string& ident_map) const;
  asio::awaitable<Status> auth_cleartext(std::string_view stored);
  asio::awaitable<Status> auth_md5(std::string_view stored);
  asio::awaitable<Status> auth_scram(std::string_view stored, bool user_known);
  asio::awaitable<Result<net::Message>> read_auth_message();

  // auth_query.cpp: auth_user/auth_query, the secret of a user auth_file
  // does not list, from the server; nullopt when the server knows no such
  // login (or no lookup is configured for this database).
  asio::awaitable<Result<std::optional<std::string>>> query_secret();

  ClientConnection& c_;
  Membership& m_;

  // What authentication learned that can log the client's user in to the
  // server when no password is configured for it: handed to the pool in
  // join_pool().
  struct LearnedCredentials {
    // SCRAM keys recovered from the client's proof (SCRAM pass-through).
    bool has_scram_keys = false;
    std::array<uint8_t, 32> client_key{};
    std::array<uint8_t, 32> server_key{};
    // The cleartext password the client proved under auth_type = plain, or
    // an md5 secret from auth_query that the client proved under md5.
    std::string password;
  };
  LearnedCredentials learned_;
};

}  // namespace usher::session
