#include "protocol/startup.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "protocol/writer.h"

namespace usher::protocol {
namespace {

using testing::be32;
using testing::bytes_of;

using namespace std::string_literals;

// A startup-phase packet: the length word (counting itself) then `payload`.
std::string packet(const std::string& payload) {
  return be32(uint32_t(payload.size() + 4)) + payload;
}

void expect_error(const std::string& bytes, const std::string& sqlstate) {
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, sqlstate);
  EXPECT_FALSE(r.error().message.empty());
}

TEST(ProtocolStartup, StartupMessageParamsInOrder) {
  std::string out;
  write_startup_message(
      out, {{"user", "alice"}, {"database", "app"}, {"options", ""}, {"application_name", "psql"}});
  auto r = parse_startup_packet(bytes_of(out));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto* m = std::get_if<StartupMessage>(&*r);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->protocol, kProtocolV3);
  ASSERT_EQ(m->params.size(), 4u);
  EXPECT_EQ(m->params[0].first, "user");
  EXPECT_EQ(m->params[0].second, "alice");
  EXPECT_EQ(m->params[1].first, "database");
  EXPECT_EQ(m->params[1].second, "app");
  EXPECT_EQ(m->params[2].first, "options");
  EXPECT_EQ(m->params[2].second, "");
  EXPECT_EQ(m->params[3].first, "application_name");
  EXPECT_EQ(m->params[3].second, "psql");
  EXPECT_EQ(m->get("user"), "alice");
  EXPECT_EQ(m->get("database"), "app");
  EXPECT_EQ(m->get("application_name"), "psql");
  EXPECT_EQ(m->get("missing"), "");
  EXPECT_EQ(m->get("use"), "");
  // Views point into the packet, not into copies.
  const char* begin = out.data();
  EXPECT_GE(m->params[0].first.data(), begin);
  EXPECT_LT(m->params[3].second.data(), begin + out.size());
}

TEST(ProtocolStartup, GetReturnsFirstOfDuplicates) {
  auto bytes = packet(be32(kProtocolV3) + "user\0a\0user\0b\0\0"s);
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_TRUE(r.ok());
  const auto& m = std::get<StartupMessage>(*r);
  EXPECT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.get("user"), "a");
}

TEST(ProtocolStartup, NoParamsIsJustTheTerminator) {
  auto bytes = packet(be32(kProtocolV3) + "\0"s);
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::get<StartupMessage>(*r).params.empty());
}

TEST(ProtocolStartup, MinorVersionIsKept) {
  auto bytes = packet(be32(3u << 16 | 2) + "user\0bob\0\0"s);
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& m = std::get<StartupMessage>(*r);
  EXPECT_EQ(m.protocol, (3u << 16) | 2);
  EXPECT_EQ(m.protocol >> 16, 3u);
  EXPECT_EQ(m.protocol & 0xffff, 2u);
  EXPECT_EQ(m.get("user"), "bob");
}

TEST(ProtocolStartup, UnsupportedMajorVersion) {
  expect_error(packet(be32(2u << 16) + "user\0bob\0\0"s), "0A000");
  expect_error(packet(be32(4u << 16) + "user\0bob\0\0"s), "0A000");
  expect_error(packet(be32(0) + "\0"s), "0A000");
  auto bytes = packet(be32(7u << 16 | 9) + "\0"s);
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("7.9"), std::string::npos) << r.error().message;
}

TEST(ProtocolStartup, CancelRequest) {
  std::string out;
  write_cancel_request(out, 4242, 0xdeadbeef);
  ASSERT_EQ(out.size(), 16u);
  auto r = parse_startup_packet(bytes_of(out));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto* c = std::get_if<CancelRequest>(&*r);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->pid, 4242u);
  EXPECT_EQ(c->secret, 0xdeadbeefu);
}

TEST(ProtocolStartup, CancelRequestWrongLength) {
  // Short: no secret, half a secret.
  expect_error(packet(be32(kCancelRequestCode) + be32(1)), "08P01");
  expect_error(packet(be32(kCancelRequestCode) + be32(1) + "\0\0"s), "08P01");
  // Long: trailing bytes after the key.
  expect_error(packet(be32(kCancelRequestCode) + be32(1) + be32(2) + "\0"s), "08P01");
  expect_error(packet(be32(kCancelRequestCode) + be32(1) + be32(2) + be32(3)), "08P01");
  // Bare code.
  expect_error(packet(be32(kCancelRequestCode)), "08P01");
}

TEST(ProtocolStartup, SslRequest) {
  auto bytes = packet(be32(kSslRequestCode));
  ASSERT_EQ(bytes, "\x00\x00\x00\x08\x04\xd2\x16\x2f"s);
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<SslRequest>(*r));
}

TEST(ProtocolStartup, GssEncRequest) {
  auto bytes = packet(be32(kGssEncRequestCode));
  ASSERT_EQ(bytes, "\x00\x00\x00\x08\x04\xd2\x16\x30"s);
  auto r = parse_startup_packet(bytes_of(bytes));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<GssEncRequest>(*r));
}

TEST(ProtocolStartup, MissingTerminator) {
  // The final NUL after the last pair is missing.
  expect_error(packet(be32(kProtocolV3) + "user\0bob\0"s), "08P01");
  // No NUL at all.
  expect_error(packet(be32(kProtocolV3)), "08P01");
  expect_error(packet(be32(kProtocolV3) + "user"s), "08P01");
}

TEST(ProtocolStartup, TruncatedPair) {
  // A key without a value.
  expect_error(packet(be32(kProtocolV3) + "user\0"s), "08P01");
  // A value cut before its NUL.
  expect_error(packet(be32(kProtocolV3) + "user\0bo"s), "08P01");
}

TEST(ProtocolStartup, TrailingBytesAfterTerminator) {
  expect_error(packet(be32(kProtocolV3) + "user\0bob\0\0x"s), "08P01");
  expect_error(packet(be32(kProtocolV3) + "user\0bob\0\0\0"s), "08P01");
  expect_error(packet(be32(kProtocolV3) + "\0junk\0"s), "08P01");
}

TEST(ProtocolStartup, LengthWordMustMatchTheSpan) {
  std::string good;
  write_startup_message(good, {{"user", "alice"}});
  ASSERT_TRUE(parse_startup_packet(bytes_of(good)).ok());

  // Span shorter than the length word says.
  auto shorter = bytes_of(good).first(good.size() - 1);
  auto r = parse_startup_packet(shorter);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "08P01");

  // Span longer than the length word says (the next packet's bytes).
  expect_error(good + "\0"s, "08P01");

  // The length word itself lies.
  std::string lying = good;
  lying[3] = char(lying[3] + 1);
  expect_error(lying, "08P01");
  lying[3] = char(good[3] - 1);
  expect_error(lying, "08P01");

  // Same for the fixed-size packets.
  expect_error(be32(12) + be32(kSslRequestCode), "08P01");
  expect_error(be32(16) + be32(kCancelRequestCode) + be32(1) + be32(2) + be32(3), "08P01");
}

TEST(ProtocolStartup, TooShortForTheCode) {
  for (size_t n = 0; n < 8; ++n) {
    std::string bytes = packet(be32(kSslRequestCode)).substr(0, n);
    auto r = parse_startup_packet(bytes_of(bytes));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
  EXPECT_FALSE(parse_startup_packet({}).ok());
}

TEST(ProtocolStartup, EveryTruncationOfAStartupMessageFails) {
  std::string good;
  write_startup_message(good, {{"user", "alice"}, {"database", "app"}});
  for (size_t n = 0; n < good.size(); ++n) {
    // A truncated packet with its length word patched to match.
    std::string cut = good.substr(0, n);
    if (n >= 4) cut.replace(0, 4, be32(uint32_t(n)));
    EXPECT_FALSE(parse_startup_packet(bytes_of(cut)).ok()) << n;
  }
}

}  // namespace
}  // namespace usher::protocol
