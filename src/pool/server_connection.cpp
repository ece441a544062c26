#include "pool/server_connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "auth/md5.h"
#include "auth/scram.h"
#include "net/message_io.h"
#include "net/resolve.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::pool {
namespace {

using asio::as_tuple;
using asio::use_awaitable;
constexpr uint32_t kMaxLoginMessage = 1 << 20;

Error server_error(const std::string& what) {
  return make_error(protocol::sqlstate::connection_failure, what);
}

// Where a login stands in its authentication exchange.
struct AuthExchange {
  std::string end_point;  // the TLS connection's channel-binding data; empty: none
  std::unique_ptr<auth::ScramClient> scram;
  ServerAuth method = ServerAuth::kNone;  // what the server asked for
  bool authenticated = false;             // AuthenticationOk, accepted
};

// Refuses a method weaker than the pool has seen its server use.
Status check_method(const ServerTarget& t, ServerAuth asked, ServerAuth weakest_allowed) {
  if (t.channel_binding == ChannelBinding::kRequire && asked != ServerAuth::kScram) {
    return make_error(protocol::sqlstate::invalid_authorization_specification,
                      "channel binding required (server_channel_binding = require), but the "
                      "server asked for " +
                          std::string(server_auth_name(asked)));
  }
  if (asked >= weakest_allowed) return ok_status();
  std::string message = "server asked for " + std::string(server_auth_name(asked)) +
                        ", but it used " + std::string(server_auth_name(weakest_allowed)) +
                        " before; refused, as a server that downgrades authentication may be an "
                        "impostor collecting passwords";
  spdlog::warn("server {}:{} (user {}): {}", t.host, t.port, t.user, message);
  return make_error(protocol::sqlstate::invalid_authorization_specification, std::move(message));
}

// Answers one authentication request from the server. Returns an empty
// string when the request needs no answer (AuthenticationOk, SASLFinal).
// `salted`: the SaltedPassword for a SASLContinue in password mode, computed
// off the event loop by the caller.
Result<std::string> answer_auth(const ServerTarget& t, const protocol::AuthenticationRequest& req,
                                AuthExchange& ex, ServerAuth weakest_allowed,
                                std::optional<auth::ScramKey> salted) {
  std::string out;
  auto ask = [&](ServerAuth method) {
    ex.method = method;
    return check_method(t, method, weakest_allowed);
  };
  switch (static_cast<protocol::AuthCode>(req.code)) {
    case protocol::AuthCode::kOk: {
      // The server signature in SASLFinal is what proves the server knows
      // the secret; an AuthenticationOk that skips it proves nothing.
      if (ex.scram && !ex.scram->succeeded()) {
        return make_error(protocol::sqlstate::protocol_violation,
                          "server sent AuthenticationOk before completing SCRAM authentication, "
                          "without proving it knows the password");
      }
      if (ex.method == ServerAuth::kNone) {  // trust: no request came first
        if (auto st = ask(ServerAuth::kNone); !st) return st.take_error();
      }
      ex.authenticated = true;
      return out;
    }
    case protocol::AuthCode::kCleartextPassword:
      if (auto st = ask(ServerAuth::kCleartext); !st) return st.take_error();
      if (t.password.empty() || auth::is_md5_secret(t.password)) {
        return make_error(
            protocol::sqlstate::protocol_violation,
            "server asked for a cleartext password, and none is configured for user \"" + t.user +
                "\"");
      }
      protocol::write_password_message(out, t.password);
      return out;
    case protocol::AuthCode::kMd5Password:
      if (auto st = ask(ServerAuth::kMd5); !st) return st.take_error();
      if (t.password.empty()) {
        return make_error(
            protocol::sqlstate::protocol_violation,
            "server asked for an md5 password, and none is configured for user \"" + t.user + "\"");
      }
      protocol::write_password_message(out,
                                       auth::md5_salted_response(t.password, t.user, req.md5_salt));
      return out;
    case protocol::AuthCode::kSasl: {
      if (auto st = ask(ServerAuth::kScram); !st) return st.take_error();
      const auth::ScramClientOptions options{.max_iterations = auth::kScramMaxServerIterations,
                                             .end_point = ex.end_point};
      if (t.has_scram_keys) {
        ex.scram = std::make_unique<auth::ScramClient>(t.scram_client_key, t.scram_server_key,
                                                       std::nullopt, options);
      } else if (!t.password.empty() && !auth::is_md5_secret(t.password)) {
        ex.scram = std::make_unique<auth::ScramClient>(t.password, options);
      } else {
        return make_error(
            protocol::sqlstate::protocol_violation,
            "server asked for SCRAM authentication, and no password is configured for user \"" +
                t.user + "\"");
      }
      std::string_view mechanism = ex.scram->select_mechanism(req.mechanisms);
      if (mechanism.empty())
        return make_error(protocol::sqlstate::protocol_violation,
                          "server offers no SASL mechanism Usher supports");
      if (t.channel_binding == ChannelBinding::kRequire && !ex.scram->binds_channel()) {
        return make_error(protocol::sqlstate::invalid_authorization_specification,
                          ex.end_point.empty()
                              ? "channel binding required, but the connection to the server is "
                                "not TLS or its certificate allows none"
                              : "channel binding required, but the server does not offer "
                                "SCRAM-SHA-256-PLUS");
      }
      protocol::write_sasl_initial_response(out, mechanism, ex.scram->client_first());
      return out;
    }
    case protocol::AuthCode::kSaslContinue: {
      if (!ex.scram)
        return make_error(protocol::sqlstate::protocol_violation,
                          "unexpected SASLContinue from server");
      auto final = ex.scram->handle_server_first(req.data, salted);
      if (!final) return final.take_error();
      protocol::write_sasl_response(out, *final);
      return out;
    }
    case protocol::AuthCode::kSaslFinal: {
      if (!ex.scram)
        return make_error(protocol::sqlstate::protocol_violation,
                          "unexpected SASLFinal from server");
      auto st = ex.scram->verify_server_final(req.data);
      if (!st) return st.take_error();
      return out;
    }
  }
  return make_error(
      protocol::sqlstate::protocol_violation,
      "unsupported authentication method " + std::to_string(req.code) + " requested by server");
}

// SSLRequest, then the handshake when the server says 'S'. The answer is
// read alone, one byte: whatever a server (or someone in between) sent
// after it in clear text must not be taken as part of the encrypted stream.
asio::awaitable<Status> negotiate_tls(ServerConnection& conn, const ServerTarget& t) {
  // allow asks as prefer does, as PgBouncer does (libpq's allow would try
  // plain first and TLS only after a refusal).
  const net::SslMode mode = t.tls->mode();
  std::string out;
  protocol::write_ssl_request(out);
  Status st = co_await net::write_all(conn.stream(), out);
  if (!st) co_return server_error("could not send to server: " + st.error().message);
  char answer = 0;
  auto [ec, n] =
      co_await conn.socket().async_read_some(asio::buffer(&answer, 1), as_tuple(use_awaitable));
  if (ec) co_return server_error("server closed the connection during TLS negotiation");
  if (answer == 'S') {
    st = co_await conn.stream().start_tls(t.tls, t.host);
    if (!st) co_return server_error("server TLS: " + st.error().message);
    conn.tls_info = conn.stream().tls()->describe();
    co_return ok_status();
  }
  if (answer != 'N') {
    co_return make_error(protocol::sqlstate::protocol_violation,
                         "unexpected answer to SSLRequest from server");
  }
  if (net::tls_required(mode))
    co_return server_error(
        "server refused TLS (server_tls_sslmode = " + std::string(net::sslmode_name(mode)) + ")");
  co_return ok_status();
}

asio::awaitable<Status> login(ServerConnection& conn, const ServerTarget& t,
                              const LoginContext& ctx) {
  std::string out;
  std::vector<std::pair<std::string, std::string>> params = {{"user", t.user},
                                                             {"database", t.dbname}};
  for (const auto& p : t.startup_params)
    params.push_back(p);
  protocol::write_startup_message(out, params);
  AuthExchange ex;
  // The certificate's hash, once per login, and only where it may be used.
  // Under require, SASL without -PLUS is refused before any SCRAM runs.
  const net::TlsSession* tls = conn.stream().tls();
  if (tls && t.channel_binding != ChannelBinding::kDisable) ex.end_point = tls->server_end_point();
  while (true) {
    if (!out.empty()) {
      const asio::const_buffer buffer(out.data(), out.size());
      auto [ec, n] = co_await net::write_all(conn.stream(), std::span(&buffer, 1));
      if (ec) co_return server_error("could not send to server: " + ec.message());
      out.clear();
    }
    auto msg = co_await net::read_message(conn.stream(), conn.in(), kMaxLoginMessage);
    if (!msg) co_return msg.take_error();
    auto body = msg->body;
    switch (msg->header.type) {
      case protocol::PqMsg_AuthenticationRequest: {
        auto req = protocol::parse_authentication(body);
        if (!req) co_return req.take_error();
        // PBKDF2 for the server's salt runs on the offload pool, not on
        // this worker, which has other clients. req.data stays valid:
        // nothing reads meanwhile.
        std::optional<auth::ScramKey> salted;
        if (static_cast<protocol::AuthCode>(req->code) == protocol::AuthCode::kSaslContinue &&
            ex.scram && ex.scram->uses_password()) {
          auto need = ex.scram->salt_request(req->data);
          if (!need) co_return need.take_error();
          auto derive = [password = t.password, need = std::move(*need)] {
            return auth::scram_salted_password(password, need.salt, need.iterations);
          };
          salted = co_await ctx.offload.run(std::move(derive));
        }
        auto answer = answer_auth(t, *req, ex, ctx.weakest_allowed, salted);
        if (!answer) co_return answer.take_error();
        out = std::move(*answer);
        break;
      }
      case protocol::PqMsg_ParameterStatus: {
        auto ps = protocol::parse_parameter_status(body);
        if (!ps) co_return ps.take_error();
        conn.set_parameter(ps->name, ps->value);
        break;
      }
      case protocol::PqMsg_BackendKeyData: {
        auto key = protocol::parse_backend_key_data(body);
        if (!key) co_return key.take_error();
        conn.backend_pid = key->pid;
        conn.backend_secret = key->secret;
        break;
      }
      case protocol::PqMsg_ErrorResponse: {
        auto e = protocol::parse_error_fields(body);
        if (!e) co_return e.take_error();
        co_return make_error(std::string(e->code), std::string(e->message));
      }
      case protocol::PqMsg_ReadyForQuery:
        conn.in().consume(msg->header.total());
        // A server that skips AuthenticationOk (and with it every check
        // above) is not logged in, whatever it says next.
        if (!ex.authenticated) {
          co_return make_error(protocol::sqlstate::protocol_violation,
                               "server sent ReadyForQuery before authenticating");
        }
        conn.auth = ex.method;
        co_return ok_status();
      default:  // NoticeResponse, NegotiateProtocolVersion: nothing to do
        break;
    }
    conn.in().consume(msg->header.total());
  }
}

// Errors of socket(2) and connect(2) that say Usher ran out of something, not
// that the server is down or refused: file descriptors (EMFILE, ENFILE),
// socket buffers or memory (ENOBUFS, ENOMEM), local ports (EADDRNOTAVAIL).
bool local_resource_error(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EADDRNOTAVAIL:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view server_auth_name(ServerAuth method) {
  switch (method) {
    case ServerAuth::kNone:
      return "no authentication (trust)";
    case ServerAuth::kCleartext:
      return "a cleartext password";
    case ServerAuth::kMd5:
      return "an md5 password";
    case ServerAuth::kScram:
      return "SCRAM-SHA-256";
  }
  return "unknown";
}

void ServerConnection::adopt(asio::io_context& io, int worker) {
  stream_.adopt(io, endpoint->protocol());
  worker_ = worker;
}

bool ServerConnection::idle_and_healthy() {
  net::Socket& socket = stream_.socket();
  if (!socket.is_open()) return false;
  // Anything readable, TLS or not, is the server speaking out of turn.
  if (stream_.has_buffered()) return false;
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

asio::awaitable<Status> ServerConnection::run_query(std::string_view sql,
                                                    std::chrono::milliseconds timeout) {
  std::string out;
  protocol::write_query(out, sql);
  co_return co_await run(out, timeout);
}

asio::awaitable<Status> ServerConnection::run(std::string_view messages,
                                              std::chrono::milliseconds timeout, bool* answered,
                                              LastResult* last) {
  if (answered) *answered = false;
  // A simple Query, or Usher's own unnamed Parse, replaces the unnamed statement.
  prepared.unnamed_owner = 0;
  net::SocketDeadline deadline(stream_.socket(), timeout);
  Status st = co_await net::write_all(stream_, messages);
  if (!st) co_return st;
  std::optional<Error> failed;
  LastResult current;  // of the statement being answered
  while (true) {
    auto msg = co_await net::read_message(stream_, in_, kMaxLoginMessage);
    if (!msg) {
      if (deadline.expired()) co_return server_error("server did not answer within its time limit");
      co_return msg.take_error();
    }
    char type = msg->header.type;
    if (type == protocol::PqMsg_ParameterStatus) {
      auto ps = protocol::parse_parameter_status(msg->body);
      if (ps) set_parameter(ps->name, ps->value);
    } else if (type == protocol::PqMsg_DataRow) {
      if (current.rows++ == 0) current.first_row.assign(protocol::as_chars(msg->body));
    } else if (type == protocol::PqMsg_CommandComplete) {
      if (last) *last = std::move(current);
      current = {};
    } else if (type == protocol::PqMsg_ErrorResponse && !failed) {
      auto e = protocol::parse_error_fields(msg->body);
      failed = e ? make_error(std::string(e->code), std::string(e->message))
                 : make_error(protocol::sqlstate::protocol_violation,
                              "malformed ErrorResponse from server");
    }
    in_.consume(msg->header.total());
    if (type == protocol::PqMsg_ReadyForQuery) break;
  }
  if (answered) *answered = true;
  if (failed) co_return *failed;
  co_return ok_status();
}

void ServerConnection::close() {
  stream_.close_tls();
  boost::system::error_code ec;
  stream_.socket().close(ec);
}

void ServerConnection::set_parameter(std::string_view name, std::string_view value) {
  tracked_.set(name, value);
  for (auto& [k, v] : parameters_) {
    if (k == name) {
      v.assign(value);
      return;
    }
  }
  parameters_.emplace_back(std::string(name), std::string(value));
}

asio::awaitable<Result<ServerPtr>> connect_server(const ServerTarget& target,
                                                  std::chrono::milliseconds timeout, uint64_t id,
                                                  const LoginContext& ctx) {
  auto ex = co_await asio::this_coro::executor;
  auto endpoint = co_await net::resolve(target.host, target.port);
  if (!endpoint) co_return endpoint.take_error();
  auto conn = std::make_unique<ServerConnection>(net::Socket(ex), id);
  conn->endpoint = std::make_shared<const net::Endpoint>(*endpoint);
  // The deadline covers connect and login.
  net::SocketDeadline deadline(conn->socket(), timeout);
  auto [ec] = co_await conn->socket().async_connect(*endpoint, as_tuple(use_awaitable));
  if (ec && local_resource_error(ec)) {
    co_return make_error(std::string(kInsufficientResources),
                         "could not open a server connection: " + ec.message() +
                             " (a resource of Usher's ran out, not the server)");
  }
  if (ec) {
    co_return server_error(deadline.expired() ? "server connect timed out (server_connect_timeout)"
                                              : "could not connect to server: " + ec.message());
  }
  net::tune_socket(conn->socket(), target.tcp);
  Status st = ok_status();
  if (target.tls && endpoint->protocol().family() != AF_UNIX)
    st = co_await negotiate_tls(*conn, target);
  if (st) st = co_await login(*conn, target, ctx);
  if (st && !target.connect_query.empty()) st = co_await conn->run_query(target.connect_query, {});
  if (!st) {
    if (deadline.expired())
      co_return server_error("server login timed out (server_connect_timeout)");
    co_return st.take_error();
  }
  conn->remote_addr = net::peer_name(conn->socket());
  conn->remote_port = net::peer_port(conn->socket());
  co_return std::move(conn);
}

}  // namespace usher::pool
