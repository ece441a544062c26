// The startup phase: TLS (after an SSLRequest, or direct as PostgreSQL 17
// accepts it), GSSENCRequest declined, a CancelRequest forwarded to the
// backend the client is using, and a StartupMessage that names the user,
// database and parameters (some inside `options`).
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include "net/tls.h"
#include "protocol/sqlstate.h"
#include "protocol/startup.h"
#include "protocol/startup_options.h"
#include "protocol/writer.h"
#include "session/login.h"

namespace usher::session {

namespace {

// Startup parameters that are not session settings.
bool is_connection_param(std::string_view key) {
  return key == "user" || key == "database";
}

constexpr std::string_view kOptionsParam = "options";

bool equal_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains_ci(const std::vector<std::string>& list, std::string_view key) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& s) { return equal_ci(s, key); });
}

}  // namespace

// A TLS record's first byte (a handshake): what a client that starts TLS
// at once sends where a startup packet's length would be.
constexpr uint8_t kTlsHandshakeRecord = 0x16;

asio::awaitable<Status> Login::start_tls(const std::shared_ptr<const net::TlsContext>& tls,
                                         bool direct) {
  Status st = co_await c_.stream.start_tls(tls, "");
  if (st && direct && !c_.stream.tls()->alpn_postgresql()) {
    // PostgreSQL 17 refuses direct TLS without ALPN: a client that is not
    // speaking its protocol must not be taken for one that is.
    st = make_error(protocol::sqlstate::protocol_violation,
                    "direct TLS connection without ALPN \"postgresql\"");
  }
  if (!st) c_.closed = true;  // nothing can be said to it now, in clear or not
  co_return st;
}

asio::awaitable<Result<bool>> Login::startup() {
  bool ssl_asked = false;
  bool gss_asked = false;
  auto tls = net::is_unix(c_.stream.socket()) ? nullptr : c_.ctx.client_tls();
  if (tls) {
    // Direct TLS: a handshake where the startup packet should be. Peeked,
    // so the handshake reads it from the socket itself.
    auto [ec] = co_await c_.stream.socket().async_wait(net::Socket::wait_read,
                                                       asio::as_tuple(asio::use_awaitable));
    uint8_t first = 0;
    if (!ec &&
        ::recv(c_.stream.socket().native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
        first == kTlsHandshakeRecord) {
      Status st = co_await start_tls(tls, true);
      if (!st) co_return st.take_error();
      ssl_asked = true;
    }
  }
  while (true) {
    auto st = co_await net::read_at_least(c_.stream, c_.in, 4);
    if (!st) {
      c_.closed = true;
      co_return st.take_error();
    }
    auto h = protocol::peek_startup_header(c_.in.readable());
    if (h.status == protocol::FrameStatus::kInvalid) {
      co_return make_error(protocol::sqlstate::protocol_violation,
                           "invalid length of startup packet");
    }
    st = co_await net::read_at_least(c_.stream, c_.in, h.length);
    if (!st) {
      c_.closed = true;
      co_return st.take_error();
    }
    auto packet = protocol::parse_startup_packet(c_.in.readable().first(h.length));
    if (!packet) co_return packet.take_error();
    c_.in.consume(h.length);

    if (std::holds_alternative<protocol::SslRequest>(*packet) ||
        std::holds_alternative<protocol::GssEncRequest>(*packet)) {
      // Declining is a single 'N'; the client then tries the other kind,
      // goes on in plaintext, or disconnects. Each may be asked once, as in
      // PostgreSQL.
      const bool ssl = std::holds_alternative<protocol::SslRequest>(*packet);
      bool& asked = ssl ? ssl_asked : gss_asked;
      if (asked || c_.stream.tls())
        co_return make_error(protocol::sqlstate::protocol_violation,
                             "encryption negotiation already done");
      asked = true;
      const bool accept = ssl && tls;
      if (accept && !c_.in.empty()) {
        // Bytes sent behind the SSLRequest, before the handshake, would be
        // taken as if they had come encrypted (CVE-2021-23214).
        co_return make_error(protocol::sqlstate::protocol_violation,
                             "received unencrypted data after SSL request");
      }
      std::string answer;
      protocol::write_ssl_response(answer, accept);
      st = co_await c_.send(answer);
      if (!st) co_return st.take_error();
      if (accept) {
        st = co_await start_tls(tls, false);
        if (!st) co_return st.take_error();
      }
      continue;
    }
    if (auto* cancel = std::get_if<protocol::CancelRequest>(&*packet)) {
      co_await forward_cancel({cancel->pid, cancel->secret});
      co_return false;
    }
    auto& m = std::get<protocol::StartupMessage>(*packet);
    if (tls && net::tls_required(tls->mode()) && !c_.stream.tls()) {
      // PgBouncer's words; Unix sockets are exempt, as there.
      co_return make_error(protocol::sqlstate::protocol_violation, "SSL required");
    }
    st = apply_startup_params(m);
    if (!st) co_return st.take_error();
    if ((m.protocol & 0xffff) != 0) {
      // A newer 3.x minor: say we speak 3.0 and name the protocol options
      // (_pq_.*) we do not know, as PostgreSQL 15 does.
      std::vector<std::string_view> unknown;
      for (const auto& [k, v] : m.params) {
        if (k.starts_with("_pq_.")) unknown.push_back(k);
      }
      std::string out;
      protocol::write_negotiate_protocol_version(out, 0, unknown);
      st = co_await c_.send(out);
      if (!st) co_return st.take_error();
    }
    co_return true;
  }
}

Status Login::apply_startup_params(const protocol::StartupMessage& m) {
  c_.user = std::string(m.get("user"));
  if (c_.user.empty())
    return make_error(protocol::sqlstate::invalid_authorization_specification,
                      "no PostgreSQL user name specified in startup packet");
  c_.database = std::string(m.get("database"));
  if (c_.database.empty()) c_.database = c_.user;
  for (const auto& [key, value] : m.params) {
    if (is_connection_param(key) || key.starts_with("_pq_.")) continue;
    if (key == kOptionsParam) {
      Status st = apply_options(value);
      if (!st) return st;
      continue;
    }
    if (tracked_at_login(key)) {
      c_.params.set(key, value);
      continue;
    }
    if (contains_ci(c_.config->ignore_startup_parameters, key)) continue;
    // PgBouncer's wording, so existing runbooks match.
    return make_error(protocol::sqlstate::protocol_violation,
                      "unsupported startup parameter: " + std::string(key));
  }
  if (c_.config->application_name_add_host) {
    // Set once at login, as PgBouncer does: a later SET is the client's own.
    const int app = protocol::TrackedParams::kApplicationName;
    const std::string name = c_.params.has(app) ? c_.params.get(app) : "app";
    c_.params.set(protocol::kTrackedNames[app],
                  name + " - " + net::peer_details(c_.stream.socket(), c_.config->listen_port));
  }
  return ok_status();
}

bool Login::tracked_at_login(std::string_view name) const {
  if (protocol::never_tracked(name)) return false;
  return protocol::tracked_by_default(name) || contains_ci(c_.config->track_extra_parameters, name);
}

// `options` as PgBouncer 1.23+ reads it: each `-c name=value` (or
// `--name=value`) is a startup parameter of its own, under the same rules,
// except that `options` in ignore_startup_parameters also ignores the
// untracked ones inside it. The console ignores it all.
Status Login::apply_options(std::string_view options) {
  if (c_.database == config::kConsoleDatabase) return ok_status();
  auto settings = protocol::parse_startup_options(options);
  if (!settings) return settings.take_error();
  const bool ignore_rest = contains_ci(c_.config->ignore_startup_parameters, kOptionsParam);
  for (const auto& s : *settings) {
    if (tracked_at_login(s.name)) {
      c_.params.set(s.name, s.value);
    } else if (!ignore_rest && !contains_ci(c_.config->ignore_startup_parameters, s.name)) {
      return make_error(protocol::sqlstate::protocol_violation,
                        "unsupported startup parameter in options: " + s.name);
    }
  }
  return ok_status();
}

asio::awaitable<void> Login::forward_cancel(protocol::CancelKey key) {
  const int own_peer_id = c_.ctx.cancels().peer_id();
  if (own_peer_id > 0) {
    if (protocol::cancel_key_peer(key) != own_peer_id) {
      co_await c_.ctx.peer_cancels().forward(*c_.config, key);
      co_return;
    }
    key = protocol::cancel_key_as_issued(key);  // however often it was forwarded
  }
  auto target = c_.ctx.cancels().lookup(key);
  if (!target) co_return;  // unknown key: nothing to cancel
  auto backend = target->begin_cancel();
  if (!backend) co_return;  // an idle client: nothing to cancel
  if (!co_await send_cancel(*backend, c_.config->cancel_wait_timeout)) {
    // PostgreSQL may still act on a request it did not acknowledge: the
    // backend stays out of other clients' hands a while longer.
    asio::steady_timer grace(c_.worker.io, c_.config->cancel_wait_timeout);
    co_await grace.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  target->end_cancel();
}

}  // namespace usher::session
