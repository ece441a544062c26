// Maps the BackendKeyData Usher gave each client to the server backend that
// client is using right now, so a CancelRequest reaches exactly that backend
// with its real key. Keys are random per client; a cancel for an idle client
// or an unknown key does nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "net/socket.h"

namespace usher::session {

struct BackendKey {
  std::shared_ptr<const net::Endpoint> endpoint;  // shared with the server connection
  uint32_t pid = 0;
  uint32_t secret = 0;
};

// Owned by a client session; updated when a server is linked or unlinked.
class CancelTarget {
 public:
  explicit CancelTarget(uint32_t secret) : secret_(secret) {}
  uint32_t secret() const { return secret_; }
  void set(std::optional<BackendKey> key) {
    std::lock_guard lock(mu_);
    key_ = std::move(key);
  }
  std::optional<BackendKey> get() const {
    std::lock_guard lock(mu_);
    return key_;
  }

 private:
  const uint32_t secret_;
  mutable std::mutex mu_;
  std::optional<BackendKey> key_;
};

class CancelRegistry {
 public:
  // Registers a new client and returns the pid it should be told.
  uint32_t add(const std::shared_ptr<CancelTarget>& target);
  void remove(uint32_t pid);
  // The backend to cancel, if the key matches a client that has one.
  std::optional<BackendKey> lookup(uint32_t pid, uint32_t secret) const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, std::weak_ptr<CancelTarget>> targets_;
};

uint32_t random_u32();

}  // namespace usher::session
