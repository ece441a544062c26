#include "protocol/cancel_key.h"

#include <cassert>

namespace usher::protocol {

namespace {
// The pid's bytes 1 and 2 (of 0-3, big-endian) hold the peer id.
constexpr uint32_t kPidPeerBits = 0x00ffff00;
constexpr uint32_t kPidSignBit = 0x80000000;
}  // namespace

CancelKey issue_cancel_key(uint32_t random_pid, uint32_t random_secret, int peer_id) {
  CancelKey key{random_pid & ~kPidSignBit, random_secret};
  if (peer_id > 0) {
    const auto id = static_cast<uint32_t>(peer_id);
    key.pid = (key.pid & ~kPidPeerBits) | ((id & 0xff) << 16) | (((id >> 8) & 0xff) << 8);
    key.secret |= kCancelTtlMask;
  }
  if (key.pid == 0) key.pid = 1;  // only without a peer id: its bits are random
  return key;
}

int cancel_key_peer(const CancelKey& key) {
  return static_cast<int>(((key.pid >> 16) & 0xff) | (((key.pid >> 8) & 0xff) << 8));
}

int cancel_key_ttl(const CancelKey& key) {
  return static_cast<int>(key.secret & kCancelTtlMask);
}

CancelKey cancel_key_forwarded(const CancelKey& key) {
  assert(cancel_key_ttl(key) > 0);
  return {key.pid, key.secret - 1};
}

CancelKey cancel_key_as_issued(const CancelKey& key) {
  return {key.pid, key.secret | kCancelTtlMask};
}

}  // namespace usher::protocol
