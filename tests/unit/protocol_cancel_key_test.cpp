#include "protocol/cancel_key.h"

#include <gtest/gtest.h>

namespace usher::protocol {
namespace {

TEST(CancelKey, WithoutPeeringOnlyTheSignBitIsFixed) {
  const CancelKey k = issue_cancel_key(0xffffffff, 0x12345678, 0);
  EXPECT_EQ(k.pid, 0x7fffffffu);
  EXPECT_EQ(k.secret, 0x12345678u);
  // Never pid 0, which no backend has.
  EXPECT_EQ(issue_cancel_key(0x80000000, 0, 0).pid, 1u);
}

TEST(CancelKey, PeerIdAndTtlWhereThePgBouncerPeersLookForThem) {
  // peer_id 0x1234: byte 1 = 0x34, byte 2 = 0x12 (PgBouncer's
  // cancel_key[1] = id & 0xff, cancel_key[2] = id >> 8).
  const CancelKey k = issue_cancel_key(0xffffffff, 0x00000000, 0x1234);
  EXPECT_EQ(k.pid, 0x7f3412ffu);
  EXPECT_EQ(k.secret, 0x00000003u);
  EXPECT_EQ(cancel_key_peer(k), 0x1234);
  EXPECT_EQ(cancel_key_ttl(k), 3);
  for (int id : {1, 2, 255, 256, kMaxPeerId}) {
    EXPECT_EQ(cancel_key_peer(issue_cancel_key(0xdeadbeef, 0xcafef00d, id)), id);
  }
}

TEST(CancelKey, ForwardingSpendsTheTtlAndLookupRestoresIt) {
  CancelKey k = issue_cancel_key(0x01020304, 0xa0b0c0d0, 7);
  const CancelKey issued = k;
  for (int ttl = 3; ttl > 0; --ttl) {
    ASSERT_EQ(cancel_key_ttl(k), ttl);
    k = cancel_key_forwarded(k);
    EXPECT_EQ(cancel_key_peer(k), 7);
    EXPECT_EQ(cancel_key_as_issued(k), issued);
  }
  EXPECT_EQ(cancel_key_ttl(k), 0);
}

}  // namespace
}  // namespace usher::protocol
