#include "session/cancel_registry.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "net/message_io.h"
#include "protocol/writer.h"

namespace usher::session {

uint32_t random_u32() {
  uint32_t v = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v));
  return v;
}

protocol::CancelKey CancelRegistry::add(const std::shared_ptr<CancelTarget>& target) {
  std::lock_guard lock(mu_);
  while (true) {
    const protocol::CancelKey key =
        protocol::issue_cancel_key(random_u32(), random_u32(), peer_id_);
    auto [begin, end] = targets_.equal_range(key.pid);
    if (std::none_of(begin, end, [&](const auto& e) { return e.second.secret == key.secret; })) {
      targets_.emplace(key.pid, Entry{key.secret, target});
      return key;
    }
  }
}

void CancelRegistry::remove(const protocol::CancelKey& key) {
  std::lock_guard lock(mu_);
  auto [begin, end] = targets_.equal_range(key.pid);
  for (auto it = begin; it != end; ++it) {
    if (it->second.secret == key.secret) {
      targets_.erase(it);
      return;
    }
  }
}

std::shared_ptr<CancelTarget> CancelRegistry::lookup(const protocol::CancelKey& key) const {
  std::lock_guard lock(mu_);
  auto [begin, end] = targets_.equal_range(key.pid);
  for (auto it = begin; it != end; ++it) {
    // Constant time: how far a guess matched must not show in the timing.
    if (CRYPTO_memcmp(&it->second.secret, &key.secret, sizeof(key.secret)) == 0) {
      return it->second.target.lock();
    }
  }
  return nullptr;
}

boost::asio::awaitable<bool> send_cancel(BackendKey key, std::chrono::milliseconds timeout) {
  namespace asio = boost::asio;
  // Plain even when the session's server connection has TLS: PostgreSQL
  // reads a CancelRequest before any TLS negotiation.
  net::Stream stream(net::Socket(co_await asio::this_coro::executor));
  net::Socket& sock = stream.socket();
  // The timeout bounds the whole exchange: a server that does not answer
  // must not hold the canceling client (and a socket) forever.
  net::SocketDeadline deadline(sock, timeout);
  auto [ec] = co_await sock.async_connect(*key.endpoint, asio::as_tuple(asio::use_awaitable));
  if (!ec) {
    std::string out;
    protocol::write_cancel_request(out, key.pid, key.secret);
    co_await net::write_all(stream, out);
    // PostgreSQL closes the connection when done; wait for that so the
    // cancel is processed before the client hears back from us.
    char byte;
    co_await sock.async_read_some(asio::buffer(&byte, 1), asio::as_tuple(asio::use_awaitable));
  }
  if (deadline.expired()) {
    spdlog::warn("cancel request dropped: no answer within cancel_wait_timeout");
  } else if (ec) {
    spdlog::warn("cancel request could not reach server: {}", ec.message());
  }
  co_return !deadline.expired();
}

}  // namespace usher::session
