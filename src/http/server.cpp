#include "http/server.h"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <set>

#include "http/handler.h"

namespace usher::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

Request to_request(const bhttp::request<bhttp::string_body>& req, const std::string& peer) {
  Request r;
  r.peer = peer;
  r.method = std::string(req.method_string());
  const std::string_view target = req.target();
  const size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  r.origin = std::string(req[bhttp::field::origin]);
  r.authorization = std::string(req[bhttp::field::authorization]);
  r.host = std::string(req[bhttp::field::host]);
  r.cors_method = std::string(req[bhttp::field::access_control_request_method]);
  r.cors_headers = std::string(req[bhttp::field::access_control_request_headers]);
  return r;
}

bhttp::response<bhttp::string_body> to_beast(Response r, unsigned version, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
  res.set(bhttp::field::server, "Usher");
  // On every answer: it is live state, some of it about clients.
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers)
    res.insert(name, value);
  res.keep_alive(keep_alive);
  if (r.status == 204) {
    // No body, and no Content-Length either (RFC 9110, 8.6).
  } else if (r.head_only) {
    res.content_length(r.body.size());
  } else {
    res.body() = std::move(r.body);
    res.prepare_payload();
  }
  return res;
}

// The answer to a request that could not be read, or nothing (the client
// went away, or was too slow: it gets no answer).
std::optional<int> read_error_status(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return std::nullopt;
  // Any other parse error: not HTTP as RFC 9112 has it.
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
  return std::nullopt;
}

}  // namespace

// One client's socket, owned by its coroutine's completion handler, so
// that the connection leaves `open` however the coroutine ends (an
// exception included).
struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
};

struct Server::State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, admin::Control& control) : io(io), control(control), acceptor(io) {}

  asio::awaitable<void> accept_loop();
  // (A reference: g++ 12 may destroy a coroutine's by-value parameter twice.)
  asio::awaitable<void> serve(Connection& c);

  asio::io_context& io;
  admin::Control& control;
  tcp::acceptor acceptor;
  std::set<Connection*> open;  // control thread only
  bool stopped = false;
};

asio::awaitable<void> Server::State::accept_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (stopped) break;
    if (ec) {
      // Out of descriptors and the like: wait a moment rather than spin.
      spdlog::warn("HTTP accept failed: {}", ec.message());
      asio::steady_timer pause(io, std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (open.size() >= kMaxConnections) {
      // No coroutine, no buffer: a best-effort 503 in one write, then close.
      static constexpr std::string_view kBusy =
          "HTTP/1.1 503 Service Unavailable\r\nServer: Usher\r\nCache-Control: no-store\r\n"
          "X-Content-Type-Options: nosniff\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      beast::error_code ignored;
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(kBusy), ignored);
      socket.close(ignored);
      continue;
    }
    // Counted from the accept on, so that a burst cannot pass the limit.
    auto c = std::make_shared<Connection>(std::move(socket));
    open.insert(c.get());
    asio::co_spawn(io, serve(*c), [self, c](std::exception_ptr e) {
      if (e) spdlog::error("HTTP connection ended by an unexpected error");
      beast::error_code ignored;
      c->stream.socket().close(ignored);
      self->open.erase(c.get());
    });
  }
}

asio::awaitable<void> Server::State::serve(Connection& c) {
  beast::tcp_stream& stream = c.stream;
  beast::error_code peer_ec;
  const auto remote = stream.socket().remote_endpoint(peer_ec);
  const std::string peer =
      peer_ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
  // The buffer never holds more than one request's header and body.
  beast::flat_buffer buffer(kMaxHeaderBytes + kMaxBodyBytes);
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    stream.expires_after(kRequestTimeout);
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
    if (ec) {
      if (auto status = read_error_status(ec); status && !stopped) {
        Response r;
        r.status = *status;
        r.body = "{\"error\":\"" + ec.message() + "\"}\n";
        auto res = to_beast(std::move(r), 11, false);
        stream.expires_after(kWriteTimeout);
        co_await bhttp::async_write(stream, res, as_tuple(use_awaitable));
      }
      break;
    }
    const auto& req = parser.get();
    Response r = co_await handle(control, to_request(req, peer));
    if (stopped) break;
    const bool keep_alive = req.keep_alive();
    auto res = to_beast(std::move(r), req.version(), keep_alive);
    stream.expires_after(kWriteTimeout);
    auto [wec, written] = co_await bhttp::async_write(stream, res, as_tuple(use_awaitable));
    if (wec || !keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

Server::Server(asio::io_context& io, admin::Control& control)
    : state_(std::make_shared<State>(io, control)) {}

Server::~Server() {
  stop();
}

Status Server::listen(const std::string& addr, int port) {
  const std::string host = addr == "*" ? "0.0.0.0" : addr;
  const std::string name = host + ":" + std::to_string(port);
  beast::error_code ec;
  tcp::resolver resolver(state_->io);
  auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || found.empty())
    return make_error("", "could not listen on " + name + " (HTTP): " + ec.message());
  const tcp::endpoint ep = found.begin()->endpoint();
  auto& acc = state_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error("", "could not listen on " + name + " (HTTP): " + ec.message());
  spdlog::info("HTTP endpoint listening on http://{}/", name);
  return ok_status();
}

void Server::start() {
  asio::co_spawn(state_->io, state_->accept_loop(), asio::detached);
}

void Server::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  for (Connection* c : state_->open)
    c->stream.socket().close(ignored);
}

}  // namespace usher::http
