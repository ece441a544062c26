#include "session/cancel_registry.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

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

std::optional<BackendKey> CancelRegistry::lookup(uint32_t pid, uint32_t secret) const {
  std::shared_ptr<CancelTarget> target;
  {
    std::lock_guard lock(mu_);
    auto it = targets_.find(pid);
    if (it == targets_.end()) return std::nullopt;
    target = it->second.lock();
  }
  if (!target) return std::nullopt;
  uint32_t expected = target->secret();
  if (CRYPTO_memcmp(&expected, &secret, sizeof(secret)) != 0) return std::nullopt;
  return target->get();
}

}  // namespace usher::session
