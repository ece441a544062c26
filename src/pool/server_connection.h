// One connection from Usher to PostgreSQL, logged in and ready. It is owned by
// exactly one party at a time: a pool's idle list or a client's lease. Its
// socket belongs to one worker's io_context; moving it to another worker
// re-registers the descriptor there (see adopt()).
#pragma once

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "net/byte_buffer.h"
#include "net/offload_pool.h"
#include "net/socket.h"
#include "net/stream.h"
#include "net/tls.h"
#include "prepared/server_state.h"
#include "protocol/sqlstate.h"
#include "protocol/tracked_params.h"

namespace usher::pool {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class Pool;

// How a server authenticated Usher, weakest first (kNone: trust). A pool
// remembers the strongest method its server has used and refuses a later
// connection that asks for a weaker one: a server that asks for a cleartext
// password where it used to run SCRAM may be an impostor (a spoofed address,
// a port taken over) collecting the password. libpq's require_auth is the
// same guard, set by hand.
enum class ServerAuth : uint8_t { kNone, kCleartext, kMd5, kScram };
std::string_view server_auth_name(ServerAuth method);

// server_channel_binding: whether SCRAM towards the server binds itself to
// the TLS connection (SCRAM-SHA-256-PLUS), as libpq's channel_binding.
// prefer: when the connection is TLS and the server offers it; require:
// refuse a server that does not, or that authenticates without SCRAM.
enum class ChannelBinding : uint8_t { kDisable, kPrefer, kRequire };

// Everything needed to open and log into a server connection.
struct ServerTarget {
  std::string host;                // IP, name, or Unix socket directory
  std::vector<std::string> hosts;  // host= gave a list: used in turn
  // load_balance_hosts = disable: stay on one host of `hosts` until a
  // connection to it fails, instead of taking the next for each connection.
  bool stay_on_host = false;
  int port = 5432;
  std::string dbname;
  std::string user;
  std::string password;  // plain, or an "md5..." secret (usable for md5 auth only)
  // The password was not configured but proved by a client of this user
  // (Pool::learn_password).
  bool password_learned = false;
  // SCRAM keys taken from a client's successful SCRAM exchange, for when only
  // the secret is known (what PgBouncer calls SCRAM pass-through).
  bool has_scram_keys = false;
  std::array<uint8_t, 32> scram_client_key{};
  std::array<uint8_t, 32> scram_server_key{};
  std::vector<std::pair<std::string, std::string>> startup_params;
  std::string connect_query;
  TcpOptions tcp;
  // server_tls_sslmode's context (none: disable); not used over Unix sockets.
  std::shared_ptr<const net::TlsContext> tls;
  ChannelBinding channel_binding = ChannelBinding::kPrefer;
};

class ServerConnection {
 public:
  ServerConnection(net::Socket socket, uint64_t id) : stream_(std::move(socket)), id_(id) {}

  net::Stream& stream() { return stream_; }
  net::Socket& socket() { return stream_.socket(); }
  net::ByteBuffer& in() { return in_; }
  uint64_t id() const { return id_; }

  // Rebinds the socket to another worker's io_context. No operation may be
  // outstanding on it.
  void adopt(asio::io_context& io, int worker);
  int worker() const { return worker_; }
  void set_worker(int w) { worker_ = w; }

  // Non-blocking check that an idle connection has nothing to say: a server
  // that sent data or closed while idle (terminated backend, restart) is dead.
  bool idle_and_healthy();

  void close();

  // Runs Usher's own messages (a parameter replay, server_reset_query,
  // server_check_query, connect_query), up to and including the server's
  // ReadyForQuery, and swallows the answers; keeps tracked parameters up to
  // date. No read may be outstanding on the socket. `timeout` (0: none)
  // bounds the whole exchange: a server that does not answer is closed
  // rather than left to hold its client. Returns the server's first error,
  // if any; `answered` then tells whether the server still ended the
  // exchange with ReadyForQuery (its error is the query's, not the
  // connection's, and the server may serve again).
  // `last`, if given, receives what the last statement that completed
  // returned (its first row, kept whole; the rest only counted).
  struct LastResult {
    size_t rows = 0;
    std::string first_row;  // a DataRow's body
  };
  asio::awaitable<Status> run(std::string_view messages, std::chrono::milliseconds timeout,
                              bool* answered = nullptr, LastResult* last = nullptr);
  // run() of one simple Query.
  asio::awaitable<Status> run_query(std::string_view sql, std::chrono::milliseconds timeout);

  // What the server told us at login and since.
  std::vector<std::pair<std::string, std::string>>& parameters() { return parameters_; }
  void set_parameter(std::string_view name, std::string_view value);
  protocol::TrackedParams& tracked() { return tracked_; }

  uint32_t backend_pid = 0;
  uint32_t backend_secret = 0;
  std::shared_ptr<const net::Endpoint> endpoint;  // where it connects, for CancelRequest
  Clock::time_point created_at = Clock::now();
  Clock::time_point last_used = Clock::now();
  Clock::time_point link_time{};  // when the current client took it
  std::string remote_addr;
  std::string tls_info;  // TlsSession::describe(), empty when plain
  int remote_port = 0;
  bool needs_reset_query = false;       // run server_reset_query before next use
  ServerAuth auth = ServerAuth::kNone;  // how the server authenticated Usher
  uint64_t generation = 0;              // the pool's generation when opened; RECONNECT bumps it
  // Prepared statements (transaction and statement mode).
  prepared::ServerState prepared;

 private:
  net::Stream stream_;
  net::ByteBuffer in_;
  uint64_t id_;
  int worker_ = 0;
  std::vector<std::pair<std::string, std::string>> parameters_;
  protocol::TrackedParams tracked_;
};

using ServerPtr = std::unique_ptr<ServerConnection>;

// What a login needs besides the target.
struct LoginContext {
  net::OffloadPool& offload;  // PBKDF2 for SCRAM runs there, never on the caller's event loop
  // The pool's strongest method so far: a server asking for less is refused.
  ServerAuth weakest_allowed = ServerAuth::kNone;
};

// SQLSTATE of a connection that failed for want of a local resource (file
// descriptors, buffers, memory, local ports): Usher's problem, not the
// server's, so it must not lock the pool out (server_login_retry).
inline constexpr std::string_view kInsufficientResources =
    protocol::sqlstate::insufficient_resources;

// Opens a TCP or Unix connection, sends the StartupMessage and completes
// authentication (trust, cleartext, md5, SCRAM-SHA-256). On failure the
// Error carries the server's SQLSTATE and message where it sent one, or
// kInsufficientResources when a local resource ran out.
//
// The server is not trusted until it has authenticated: a SCRAM exchange
// must end with a verified server signature before AuthenticationOk, the
// iteration count is capped (auth::kScramMaxServerIterations), a method
// weaker than ctx.weakest_allowed is refused, and nothing counts as logged
// in before AuthenticationOk.
asio::awaitable<Result<ServerPtr>> connect_server(const ServerTarget& target,
                                                  std::chrono::milliseconds timeout, uint64_t id,
                                                  const LoginContext& ctx);

}  // namespace usher::pool
