#include "protocol/writer.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/startup.h"

namespace usher::protocol {
namespace {

using testing::be32;
using testing::bytes_of;

using namespace std::string_literals;

std::string hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Splits `wire` into typed messages, checking every length word on the way.
std::vector<std::pair<char, std::string>> split(const std::string& wire) {
  std::vector<std::pair<char, std::string>> out;
  size_t pos = 0;
  while (pos < wire.size()) {
    HeaderResult h = peek_header(bytes_of(wire).subspan(pos), 1 << 20);
    EXPECT_EQ(h.status, FrameStatus::kReady) << "at " << pos;
    if (h.status != FrameStatus::kReady || pos + h.header.total() > wire.size()) {
      ADD_FAILURE() << "bad framing at " << pos;
      break;
    }
    out.emplace_back(h.header.type, wire.substr(pos + kHeaderSize, h.header.body_size()));
    pos += h.header.total();
  }
  return out;
}

TEST(ProtocolWriter, ReadyForQuery) {
  std::string out;
  write_ready_for_query(out, 'I');
  EXPECT_EQ(hex(out), "5a 00 00 00 05 49");
  out.clear();
  write_ready_for_query(out, 'T');
  EXPECT_EQ(out, "Z\0\0\0\x05T"s);
}

TEST(ProtocolWriter, AuthenticationRequests) {
  std::string out;
  write_authentication_ok(out);
  EXPECT_EQ(hex(out), "52 00 00 00 08 00 00 00 00");
  out.clear();
  write_authentication_cleartext(out);
  EXPECT_EQ(hex(out), "52 00 00 00 08 00 00 00 03");
  out.clear();
  const uint8_t salt[4] = {0x01, 0x02, 0xfe, 0xff};
  write_authentication_md5(out, salt);
  EXPECT_EQ(hex(out), "52 00 00 00 0c 00 00 00 05 01 02 fe ff");
  out.clear();
  const std::string_view one[] = {"SCRAM-SHA-256"};
  write_authentication_sasl(out, one);
  EXPECT_EQ(out, "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"s);
  out.clear();
  const std::string_view two[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
  write_authentication_sasl(out, two);
  EXPECT_EQ(out, "R\0\0\0\x2a\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s);
  out.clear();
  write_authentication_sasl_continue(out, "r=x");
  EXPECT_EQ(out, "R\0\0\0\x0b\0\0\0\x0br=x"s);
  out.clear();
  write_authentication_sasl_final(out, "v=y");
  EXPECT_EQ(out, "R\0\0\0\x0b\0\0\0\x0cv=y"s);
}

TEST(ProtocolWriter, ErrorResponseLayout) {
  std::string out;
  write_error_response(out, "FATAL", "08P01", "bad");
  const std::string body = "SFATAL\0VFATAL\0C08P01\0Mbad\0\0"s;
  EXPECT_EQ(out, "E"s + "\0\0\0"s + char(4 + body.size()) + body);
  EXPECT_EQ(out.size(), 1 + 4 + body.size());
}

TEST(ProtocolWriter, NoticeResponseLayout) {
  std::string out;
  write_notice_response(out, "01000", "careful");
  const std::string body = "SNOTICE\0VNOTICE\0C01000\0Mcareful\0\0"s;
  EXPECT_EQ(out, "N"s + "\0\0\0"s + char(4 + body.size()) + body);
}

TEST(ProtocolWriter, NegotiateProtocolVersion) {
  std::string out;
  write_negotiate_protocol_version(out, 0, {"_pq_.foo", "_pq_.b"});
  // Full version word 3.0, then the count and the names.
  EXPECT_EQ(out, "v\0\0\0\x1c\0\x03\0\0\0\0\0\x02_pq_.foo\0_pq_.b\0"s);
  out.clear();
  write_negotiate_protocol_version(out, 2, {});
  EXPECT_EQ(hex(out), "76 00 00 00 0c 00 03 00 02 00 00 00 00");
}

TEST(ProtocolWriter, StartupMessage) {
  std::string out;
  write_startup_message(out, {{"user", "u"}, {"database", "d"}});
  const std::string payload = "\0\x03\0\0user\0u\0database\0d\0\0"s;
  EXPECT_EQ(out, "\0\0\0"s + char(4 + payload.size()) + payload);
  // And it is what the startup parser accepts.
  auto r = parse_startup_packet(bytes_of(out));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<StartupMessage>(*r).get("database"), "d");

  out.clear();
  write_startup_message(out, {});
  EXPECT_EQ(hex(out), "00 00 00 09 00 03 00 00 00");
}

TEST(ProtocolWriter, CancelRequest) {
  std::string out;
  write_cancel_request(out, 0x01020304, 0xa0b0c0d0);
  EXPECT_EQ(hex(out), "00 00 00 10 04 d2 16 2e 01 02 03 04 a0 b0 c0 d0");
}

TEST(ProtocolWriter, SslResponseIsOneByte) {
  std::string out;
  write_ssl_response(out, true);
  write_ssl_response(out, false);
  EXPECT_EQ(out, "SN");
}

TEST(ProtocolWriter, SmallMessages) {
  std::string out;
  write_parameter_status(out, "a", "b");
  EXPECT_EQ(out,
            "S\0\0\0\x08"
            "a\0b\0"s);
  out.clear();
  write_backend_key_data(out, 1, 0xffffffffu);
  EXPECT_EQ(hex(out), "4b 00 00 00 0c 00 00 00 01 ff ff ff ff");
  out.clear();
  write_command_complete(out, "SELECT 1");
  EXPECT_EQ(out, "C\0\0\0\x0dSELECT 1\0"s);
  out.clear();
  write_empty_query_response(out);
  EXPECT_EQ(hex(out), "49 00 00 00 04");
  out.clear();
  write_terminate(out);
  EXPECT_EQ(hex(out), "58 00 00 00 04");
  out.clear();
  write_query(out, "SELECT 1");
  EXPECT_EQ(out, "Q\0\0\0\x0dSELECT 1\0"s);
  out.clear();
  write_password_message(out, "pw");
  EXPECT_EQ(out, "p\0\0\0\x07pw\0"s);
  out.clear();
  write_sasl_initial_response(out, "M", "xy");
  EXPECT_EQ(out, "p\0\0\0\x0cM\0\0\0\0\x02xy"s);
  out.clear();
  write_sasl_response(out, "c=biws");
  EXPECT_EQ(out,
            "p\0\0\0\x0a"
            "c=biws"s);
}

TEST(ProtocolWriter, DataRowWithNull) {
  std::string out;
  const Field fields[] = {{"42"}, {"", true}, {""}};
  write_data_row(out, fields);
  EXPECT_EQ(hex(out),
            "44 00 00 00 14 00 03 "
            "00 00 00 02 34 32 "
            "ff ff ff ff "
            "00 00 00 00");
}

TEST(ProtocolWriter, LengthsPatchedForLargeMessages) {
  // A body over 64 KiB exercises every byte of the length word.
  std::string sql(0x012345, 'x');
  std::string out;
  write_query(out, sql);
  ASSERT_EQ(out.size(), 1 + 4 + sql.size() + 1);
  EXPECT_EQ(hex(out.substr(0, 5)), "51 00 01 23 4a");
  EXPECT_EQ(out.back(), '\0');
}

TEST(ProtocolWriter, MessagesAppendBackToBack) {
  std::string out = "prefix";
  write_authentication_ok(out);
  write_parameter_status(out, "server_version", "15.8");
  write_backend_key_data(out, 7, 8);
  write_ready_for_query(out, 'I');
  ASSERT_EQ(out.substr(0, 6), "prefix");
  auto msgs = split(out.substr(6));
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].first, 'R');
  EXPECT_EQ(msgs[0].second, "\0\0\0\0"s);
  EXPECT_EQ(msgs[1].first, 'S');
  EXPECT_EQ(msgs[1].second,
            "server_version\0"
            "15.8\0"s);
  EXPECT_EQ(msgs[2].first, 'K');
  EXPECT_EQ(msgs[2].second, "\0\0\0\x07\0\0\0\x08"s);
  EXPECT_EQ(msgs[3].first, 'Z');
  EXPECT_EQ(msgs[3].second, "I");
}

TEST(ProtocolWriter, MessageWriterBuildsArbitraryMessages) {
  std::string out;
  MessageWriter w(out);
  w.begin('B').cstring("").cstring("s1").i16(1).i16(0).i16(1).i32(-1).i16(0).finish();
  w.begin('E').cstring("").i32(0).finish();
  w.begin('S').finish();
  auto msgs = split(out);
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].first, 'B');
  EXPECT_EQ(hex(msgs[0].second), "00 73 31 00 00 01 00 00 00 01 ff ff ff ff 00 00");
  EXPECT_EQ(msgs[1].first, 'E');
  EXPECT_EQ(msgs[1].second, "\0\0\0\0\0"s);
  EXPECT_EQ(msgs[2].first, 'S');
  EXPECT_EQ(msgs[2].second, "");
}

TEST(ProtocolWriter, MessageWriterStartupPacketAfterOtherBytes) {
  std::string out = "N";  // an SSL refusal, then the next packet
  MessageWriter(out).begin_startup().i32(int32_t(kSslRequestCode)).finish();
  EXPECT_EQ(hex(out), "4e 00 00 00 08 04 d2 16 2f");
}

}  // namespace
}  // namespace usher::protocol
