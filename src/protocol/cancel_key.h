// The key a client gets in BackendKeyData and sends back in CancelRequest,
// laid out as PgBouncer's peering does (1.19+), so that a group of poolers
// behind one address (so_reuseport, a load balancer), Usher and PgBouncer
// alike, can pass each other the cancel requests that reach the wrong one.
//
// Of the key's 8 bytes (the pid, then the secret, both big-endian), with a
// peer_id set:
//   byte 0      random, sign bit clear (pg_basebackup once failed on
//               negative pids, and PgBouncer clears it for that reason)
//   bytes 1, 2  the peer_id of the process that issued the key, low byte
//               first (14 bits: peer_id is at most 16383)
//   byte 7      its two low bits are a time-to-live: 3 when issued, one less
//               at each forward, so that misconfigured peers forwarding to
//               each other stop after three hops
// Everything else is random: 15 bits of the pid and 30 of the secret. With
// no peer_id (0), the pid has 31 random bits and the secret 32.
#pragma once

#include <cstdint>

namespace usher::protocol {

struct CancelKey {
  uint32_t pid = 0;
  uint32_t secret = 0;
  friend bool operator==(const CancelKey&, const CancelKey&) = default;
};

inline constexpr int kMaxPeerId = 16383;
inline constexpr uint32_t kCancelTtlMask = 0x3;

// A key to issue, from random bits: the layout above for `peer_id` (0: no
// peering). The pid is never 0.
CancelKey issue_cancel_key(uint32_t random_pid, uint32_t random_secret, int peer_id);

// The peer_id stamped into a key issued under peering.
int cancel_key_peer(const CancelKey& key);
// Forwards left (0 to 3).
int cancel_key_ttl(const CancelKey& key);
// The key with one forward fewer left; its ttl must be > 0.
CancelKey cancel_key_forwarded(const CancelKey& key);
// The key as it was issued (full ttl), to look up a forwarded one.
CancelKey cancel_key_as_issued(const CancelKey& key);

}  // namespace usher::protocol
