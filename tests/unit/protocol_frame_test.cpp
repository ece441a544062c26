#include "protocol/frame.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <cstdint>
#include <span>
#include <string>

namespace usher::protocol {
namespace {

using testing::be32;
using testing::bytes_of;

// A typed header: type byte then the big-endian length word.
std::string header(char type, uint32_t length) {
  std::string s(1, type);
  s.push_back(char(length >> 24));
  s.push_back(char(length >> 16));
  s.push_back(char(length >> 8));
  s.push_back(char(length));
  return s;
}

std::string length_word(uint32_t length) {
  return header('\0', length).substr(1);
}

TEST(ProtocolFrame, PeekHeaderNeedsFiveBytes) {
  const std::string h = header('Q', 9);
  for (size_t n = 0; n < kHeaderSize; ++n) {
    EXPECT_EQ(peek_header(bytes_of(h).first(n), 1024).status, FrameStatus::kNeedMore) << n;
  }
  EXPECT_EQ(peek_header({}, 1024).status, FrameStatus::kNeedMore);
}

TEST(ProtocolFrame, PeekHeaderReadyDoesNotNeedTheBody) {
  const std::string h = header('Q', 9);
  HeaderResult r = peek_header(bytes_of(h), 1024);
  ASSERT_EQ(r.status, FrameStatus::kReady);
  EXPECT_EQ(r.header.type, 'Q');
  EXPECT_EQ(r.header.length, 9u);
  EXPECT_EQ(r.header.total(), 10u);
  EXPECT_EQ(r.header.body_size(), 5u);
}

TEST(ProtocolFrame, PeekHeaderEmptyBodyIsLengthFour) {
  const std::string h = header('X', 4);
  HeaderResult r = peek_header(bytes_of(h), 1024);
  ASSERT_EQ(r.status, FrameStatus::kReady);
  EXPECT_EQ(r.header.body_size(), 0u);
  EXPECT_EQ(r.header.total(), kHeaderSize);
}

TEST(ProtocolFrame, PeekHeaderLengthBelowFourIsInvalid) {
  for (uint32_t len : {0u, 1u, 2u, 3u}) {
    const std::string h = header('Q', len);
    HeaderResult r = peek_header(bytes_of(h), 1024);
    EXPECT_EQ(r.status, FrameStatus::kInvalid) << len;
    EXPECT_EQ(r.header.length, len);
  }
}

TEST(ProtocolFrame, PeekHeaderLengthAboveMaxIsInvalid) {
  const std::string at_max = header('D', 1024);
  EXPECT_EQ(peek_header(bytes_of(at_max), 1024).status, FrameStatus::kReady);
  const std::string over = header('D', 1025);
  HeaderResult r = peek_header(bytes_of(over), 1024);
  EXPECT_EQ(r.status, FrameStatus::kInvalid);
  EXPECT_EQ(r.header.type, 'D');
  EXPECT_EQ(r.header.length, 1025u);
  // The top bit set must not wrap into something small.
  const std::string huge = header('D', 0xffffffffu);
  EXPECT_EQ(peek_header(bytes_of(huge), 1024).status, FrameStatus::kInvalid);
  EXPECT_EQ(peek_header(bytes_of(huge), 0xffffffffu).status, FrameStatus::kReady);
  EXPECT_EQ(peek_header(bytes_of(huge), 0xffffffffu).header.total(), size_t{0x100000000});
}

TEST(ProtocolFrame, PeekHeaderIgnoresBytesAfterTheHeader) {
  std::string s = header('Z', 5) + "I" + header('Q', 2);
  HeaderResult r = peek_header(bytes_of(s), 1024);
  ASSERT_EQ(r.status, FrameStatus::kReady);
  EXPECT_EQ(r.header.type, 'Z');
  EXPECT_EQ(r.header.length, 5u);
}

TEST(ProtocolFrame, PeekStartupHeaderNeedsFourBytes) {
  const std::string w = length_word(8);
  for (size_t n = 0; n < 4; ++n) {
    EXPECT_EQ(peek_startup_header(bytes_of(w).first(n)).status, FrameStatus::kNeedMore) << n;
  }
}

TEST(ProtocolFrame, PeekStartupHeaderBounds) {
  struct Case {
    uint32_t length;
    FrameStatus status;
  };
  for (Case c :
       {Case{0, FrameStatus::kInvalid}, Case{4, FrameStatus::kInvalid},
        Case{7, FrameStatus::kInvalid}, Case{8, FrameStatus::kReady}, Case{16, FrameStatus::kReady},
        Case{kMaxStartupPacket, FrameStatus::kReady},
        Case{kMaxStartupPacket + 1, FrameStatus::kInvalid},
        Case{0x80000008u, FrameStatus::kInvalid}, Case{0xffffffffu, FrameStatus::kInvalid}}) {
    const std::string w = length_word(c.length);
    StartupHeader h = peek_startup_header(bytes_of(w));
    EXPECT_EQ(h.status, c.status) << c.length;
    EXPECT_EQ(h.length, c.length);
  }
}

TEST(ProtocolFrame, FrontendTypes) {
  for (char t : std::string("QPBDECHSFXdcfp"))
    EXPECT_TRUE(is_frontend_type(t)) << t;
  // Backend-only types and junk.
  for (char t : std::string("RZTKNAGWvnstI1234"))
    EXPECT_FALSE(is_frontend_type(t)) << t;
  EXPECT_FALSE(is_frontend_type('\0'));
  EXPECT_FALSE(is_frontend_type(char(0xff)));
  int count = 0;
  for (int c = 0; c < 256; ++c)
    count += is_frontend_type(char(c)) ? 1 : 0;
  EXPECT_EQ(count, 14);
}

TEST(ProtocolFrame, FramingErrorShortLength) {
  Error e = framing_error('Q', 3);
  EXPECT_EQ(e.sqlstate, "08P01");
  EXPECT_EQ(e.message, "invalid message length");
  // A short length wins over a bad type.
  EXPECT_EQ(framing_error('z', 0).message, "invalid message length");
}

TEST(ProtocolFrame, FramingErrorUnknownType) {
  Error e = framing_error('z', 8);
  EXPECT_EQ(e.sqlstate, "08P01");
  EXPECT_EQ(e.message, "invalid frontend message type 122");
  // Non-printable and high bytes are reported as unsigned values.
  EXPECT_EQ(framing_error('\x01', 8).message, "invalid frontend message type 1");
  EXPECT_EQ(framing_error(char(0xff), 8).message, "invalid frontend message type 255");
}

TEST(ProtocolFrame, FramingErrorTooLong) {
  Error e = framing_error('Q', 1u << 30);
  EXPECT_EQ(e.sqlstate, "08P01");
  EXPECT_EQ(e.message, "message length 1073741824 exceeds max_packet_size");
}

}  // namespace
}  // namespace usher::protocol
