#include "session/peer_cancels.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "net/resolve.h"
#include "session/cancel_registry.h"

namespace usher::session {

namespace asio = boost::asio;

namespace {
// How often a request waiting for a place towards its peer looks again; the
// wait is rare (pool_size requests already in flight) and bounded by
// cancel_wait_timeout.
constexpr std::chrono::milliseconds kPlaceRetry{10};
}  // namespace

struct PeerCancels::Peer {
  std::atomic<int> active{0};
  std::atomic<int> waiting{0};
};

std::shared_ptr<PeerCancels::Peer> PeerCancels::peer(int peer_id) {
  std::lock_guard lock(mu_);
  auto& slot = peers_[peer_id];
  if (!slot) slot = std::make_shared<Peer>();
  return slot;
}

std::vector<PeerCancels::Counts> PeerCancels::counts() const {
  std::lock_guard lock(mu_);
  std::vector<Counts> out;
  for (const auto& [id, p] : peers_)
    out.push_back({id, p->active.load(), p->waiting.load()});
  return out;
}

asio::awaitable<void> PeerCancels::forward(const config::Config& cfg, protocol::CancelKey key) {
  const int peer_id = protocol::cancel_key_peer(key);
  if (protocol::cancel_key_ttl(key) == 0) {
    spdlog::warn(
        "cancel request for peer {} dropped: it was forwarded too many times (are the "
        "[peers] addresses right?)",
        peer_id);
    co_return;
  }
  const auto it = cfg.peers.find(peer_id);
  if (it == cfg.peers.end()) {
    spdlog::warn("cancel request for peer {} dropped: no such peer in [peers]", peer_id);
    co_return;
  }
  const config::PeerConfig& target = it->second;
  const int places = target.pool_size.value_or(cfg.default_pool_size);
  auto p = peer(peer_id);

  // A place among the peer's pool_size, waited for no longer than the
  // request itself may take.
  auto ex = co_await asio::this_coro::executor;
  const auto give_up = std::chrono::steady_clock::now() + cfg.cancel_wait_timeout;
  p->waiting.fetch_add(1);
  bool placed = false;
  while (true) {
    int n = p->active.load();
    while (n < places && !(placed = p->active.compare_exchange_weak(n, n + 1))) {
    }
    if (placed || std::chrono::steady_clock::now() >= give_up) break;
    asio::steady_timer retry(ex, kPlaceRetry);
    co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  p->waiting.fetch_sub(1);
  if (!placed) {
    spdlog::warn("cancel request for peer {} dropped: {} already in flight to it (pool_size)",
                 peer_id, places);
    co_return;
  }
  auto endpoint = co_await net::resolve(target.host, target.port);
  if (endpoint) {
    const protocol::CancelKey next = protocol::cancel_key_forwarded(key);
    BackendKey to_peer{std::make_shared<const net::Endpoint>(*endpoint), next.pid, next.secret};
    co_await send_cancel(std::move(to_peer), cfg.cancel_wait_timeout);
  } else {
    spdlog::warn("cancel request for peer {} dropped: {}", peer_id, endpoint.error().message);
  }
  p->active.fetch_sub(1);
}

}  // namespace usher::session
