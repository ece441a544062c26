#include "protocol/replication.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <string>

#include "protocol/frame.h"

namespace usher::protocol {
namespace {

using testing::bytes_of;

using namespace std::string_literals;

std::string be64(uint64_t v) {
  return testing::be32(uint32_t(v >> 32)) + testing::be32(uint32_t(v));
}

// ---- XLogData ('w') -------------------------------------------------------

TEST(ProtocolReplication, XLogDataFields) {
  std::string payload =
      "w"s + be64(0x16B374D848) + be64(0x16B374D900) + be64(727000000000001) + "BEGIN";
  auto x = parse_xlog_data(bytes_of(payload));
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->wal_start, 0x16B374D848u);
  EXPECT_EQ(x->wal_end, 0x16B374D900u);
  EXPECT_EQ(x->send_time, 727000000000001);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(x->data.data()), x->data.size()), "BEGIN");
}

TEST(ProtocolReplication, XLogDataMayBeEmpty) {
  std::string payload = "w"s + be64(1) + be64(2) + be64(3);
  auto x = parse_xlog_data(bytes_of(payload));
  ASSERT_TRUE(x.ok());
  EXPECT_TRUE(x->data.empty());
}

TEST(ProtocolReplication, XLogDataHighBitsKept) {
  std::string payload = "w"s + be64(0xFFFFFFFF00000001) + be64(0x8000000000000000) + be64(0);
  auto x = parse_xlog_data(bytes_of(payload));
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->wal_start, 0xFFFFFFFF00000001u);
  EXPECT_EQ(x->wal_end, 0x8000000000000000u);
}

TEST(ProtocolReplication, XLogDataTruncatedHeaderFails) {
  std::string payload = "w"s + be64(1) + be64(2) + be64(3);
  for (size_t n = 0; n < payload.size(); ++n) {
    std::string cut = payload.substr(0, n);  // a fresh copy: ASan sees any overread
    auto x = parse_xlog_data(bytes_of(cut));
    ASSERT_FALSE(x.ok()) << n;
    EXPECT_EQ(x.error().sqlstate, "08P01");
  }
}

TEST(ProtocolReplication, XLogDataWrongKindFails) {
  std::string payload = "k"s + be64(1) + be64(2) + be64(3);
  EXPECT_FALSE(parse_xlog_data(bytes_of(payload)).ok());
}

// ---- Primary keepalive ('k') ---------------------------------------------

TEST(ProtocolReplication, KeepaliveFields) {
  std::string payload = "k"s + be64(0x100000028) + be64(42) + "\x01"s;
  auto k = parse_primary_keepalive(bytes_of(payload));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->wal_end, 0x100000028u);
  EXPECT_EQ(k->send_time, 42);
  EXPECT_TRUE(k->reply_requested);
  payload.back() = '\0';
  k = parse_primary_keepalive(bytes_of(payload));
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(k->reply_requested);
}

TEST(ProtocolReplication, KeepaliveEveryPrefixFails) {
  std::string payload = "k"s + be64(1) + be64(2) + "\x01"s;
  ASSERT_EQ(payload.size(), kPrimaryKeepaliveSize);
  for (size_t n = 0; n < payload.size(); ++n) {
    std::string cut = payload.substr(0, n);
    auto k = parse_primary_keepalive(bytes_of(cut));
    ASSERT_FALSE(k.ok()) << n;
    EXPECT_EQ(k.error().sqlstate, "08P01");
  }
}

TEST(ProtocolReplication, KeepaliveTrailingBytesOrBadFlagFail) {
  EXPECT_FALSE(parse_primary_keepalive(bytes_of("k"s + be64(1) + be64(2) + "\x01x"s)).ok());
  EXPECT_FALSE(parse_primary_keepalive(bytes_of("k"s + be64(1) + be64(2) + "\x02"s)).ok());
  EXPECT_FALSE(parse_primary_keepalive(bytes_of("w"s + be64(1) + be64(2) + "\x01"s)).ok());
}

// ---- Standby status update ('r') ------------------------------------------

TEST(ProtocolReplication, StandbyStatusWireBytes) {
  std::string out = "prefix";
  write_standby_status(out, {.write = 0x0102030405060708,
                             .flush = 0x1112131415161718,
                             .apply = 0x2122232425262728,
                             .time = -2,
                             .reply_requested = true});
  std::string expect = "prefix"s + "d"s + testing::be32(4 + 1 + 8 * 4 + 1) + "r"s +
                       be64(0x0102030405060708) + be64(0x1112131415161718) +
                       be64(0x2122232425262728) + be64(0xFFFFFFFFFFFFFFFE) + "\x01"s;
  EXPECT_EQ(out, expect);
  HeaderResult h = peek_header(bytes_of(out.substr(6)), 1 << 20);
  EXPECT_EQ(h.status, FrameStatus::kReady);
  EXPECT_EQ(h.header.total(), out.size() - 6);
}

TEST(ProtocolReplication, PgTimestampEpoch) {
  using namespace std::chrono;
  system_clock::time_point y2000{seconds(946684800)};
  EXPECT_EQ(to_pg_timestamp(y2000), 0);
  EXPECT_EQ(to_pg_timestamp(y2000 + microseconds(1500)), 1500);
  EXPECT_EQ(to_pg_timestamp(system_clock::time_point{}), -946684800LL * 1000000);
}

// ---- LSNs ----------------------------------------------------------------

TEST(ProtocolReplication, ParseLsn) {
  EXPECT_EQ(parse_lsn("0/0"), 0u);
  EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(parse_lsn("16/b374d848"), 0x16B374D848u);
  EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), 0xFFFFFFFFFFFFFFFFu);
  EXPECT_EQ(parse_lsn("00000001/00000002"), 0x100000002u);
}

TEST(ProtocolReplication, ParseLsnRejects) {
  for (std::string_view bad : {"", "/", "0/", "/0", "0", "0/0/0", "1FFFFFFFF/0", "0/100000000",
                               "g/0", "0/-1", " 0/0", "0/0 ", "+1/0", "0x1/0"}) {
    EXPECT_FALSE(parse_lsn(bad).has_value()) << bad;
  }
}

TEST(ProtocolReplication, FormatLsnRoundTrips) {
  EXPECT_EQ(format_lsn(0), "0/0");
  EXPECT_EQ(format_lsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(format_lsn(0xFFFFFFFFFFFFFFFF), "FFFFFFFF/FFFFFFFF");
  for (uint64_t v : {uint64_t{1}, uint64_t{0xA0000000B}, uint64_t{0x123456789ABCDEF0}}) {
    EXPECT_EQ(parse_lsn(format_lsn(v)), v);
  }
}

}  // namespace
}  // namespace usher::protocol
