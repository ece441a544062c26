// Maps the BackendKeyData Usher gave each client to the server backend that
// client is using right now, so a CancelRequest reaches exactly that backend
// with its real key. Keys are random per client; a cancel for an idle client
// or an unknown key does nothing.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "net/socket.h"
#include "protocol/cancel_key.h"

namespace usher::session {

struct BackendKey {
  std::shared_ptr<const net::Endpoint> endpoint;  // shared with the server connection
  uint32_t pid = 0;
  uint32_t secret = 0;
};

// Owned by a client session; updated when a server is linked or unlinked.
// A cancel counts as in flight from lookup until it is delivered, so that
// the session never hands that backend to another client meanwhile: a
// cancel sent for one client's query must not land on the next one's.
class CancelTarget {
 public:
  void link(BackendKey key) {
    std::lock_guard lock(mu_);
    key_ = std::move(key);
  }
  // True when a cancel for the backend just unlinked is still on its way:
  // the caller must close that server rather than pool it.
  bool unlink() {
    std::lock_guard lock(mu_);
    key_.reset();
    return in_flight_ > 0;
  }
  // The backend to cancel, if any, counted in flight until end_cancel().
  std::optional<BackendKey> begin_cancel() {
    std::lock_guard lock(mu_);
    if (key_) ++in_flight_;
    return key_;
  }
  void end_cancel() {
    std::lock_guard lock(mu_);
    --in_flight_;
  }

 private:
  mutable std::mutex mu_;
  std::optional<BackendKey> key_;
  int in_flight_ = 0;
};

// The keys Usher gave its clients. With a peer_id, keys carry it (and a
// forwarding TTL) as protocol/cancel_key.h lays out; with so few random pid
// bits left, pids repeat, and a key is its pid and secret together.
class CancelRegistry {
 public:
  explicit CancelRegistry(int peer_id) : peer_id_(peer_id) {}
  int peer_id() const { return peer_id_; }

  // Registers a new client and returns the key it should be told.
  protocol::CancelKey add(const std::shared_ptr<CancelTarget>& target);
  void remove(const protocol::CancelKey& key);
  // The client with this key as it was issued (full TTL), if any.
  std::shared_ptr<CancelTarget> lookup(const protocol::CancelKey& key) const;

 private:
  struct Entry {
    uint32_t secret;
    std::weak_ptr<CancelTarget> target;
  };
  const int peer_id_;
  mutable std::mutex mu_;
  std::unordered_multimap<uint32_t, Entry> targets_;  // by pid
};

uint32_t random_u32();

// Delivers a CancelRequest for `key` on a connection of its own and waits
// until PostgreSQL has taken it (it closes the connection), or `timeout`.
// False when that did not happen in time: the request may still be acted on.
boost::asio::awaitable<bool> send_cancel(BackendKey key, std::chrono::milliseconds timeout);

}  // namespace usher::session
