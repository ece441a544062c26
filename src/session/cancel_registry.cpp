#include "session/cancel_registry.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "net/message_io.h"
#include "protocol/writer.h"

namespace usher::session {

uint32_t random_u32() {
  uint32_t v = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v));
  return v;
}

uint32_t CancelRegistry::add(const std::shared_ptr<CancelTarget>& target) {
  std::lock_guard lock(mu_);
  while (true) {
    // Positive and non-zero, like a real backend pid.
    uint32_t pid = (random_u32() & 0x7fffffff) | 1;
    if (targets_.emplace(pid, target).second) return pid;
  }
}

void CancelRegistry::remove(uint32_t pid) {
  std::lock_guard lock(mu_);
  targets_.erase(pid);
}

std::shared_ptr<CancelTarget> CancelRegistry::lookup(uint32_t pid, uint32_t secret) const {
  std::shared_ptr<CancelTarget> target;
  {
    std::lock_guard lock(mu_);
    auto it = targets_.find(pid);
    if (it == targets_.end()) return nullptr;
    target = it->second.lock();
  }
  if (!target) return nullptr;
  uint32_t expected = target->secret();
  if (CRYPTO_memcmp(&expected, &secret, sizeof(secret)) != 0) return nullptr;
  return target;
}

boost::asio::awaitable<bool> send_cancel(BackendKey key, std::chrono::milliseconds timeout) {
  namespace asio = boost::asio;
  net::Socket sock(co_await asio::this_coro::executor);
  // The timeout bounds the whole exchange: a server that does not answer
  // must not hold the canceling client (and a socket) forever.
  net::SocketDeadline deadline(sock, timeout);
  auto [ec] = co_await sock.async_connect(*key.endpoint, asio::as_tuple(asio::use_awaitable));
  if (!ec) {
    std::string out;
    protocol::write_cancel_request(out, key.pid, key.secret);
    co_await net::write_all(sock, out);
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
