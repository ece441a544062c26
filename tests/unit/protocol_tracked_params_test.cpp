#include "protocol/tracked_params.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol_test_util.h"

namespace usher::protocol {
namespace {

using testing::bytes_of;

TEST(TrackedParams, NamesAreCaseInsensitive) {
  EXPECT_EQ(TrackedParams::index_of("TimeZone"), TrackedParams::index_of("timezone"));
  EXPECT_GE(TrackedParams::index_of("DATESTYLE"), 0);
  EXPECT_EQ(TrackedParams::index_of("search_path"), -1);
}

TEST(TrackedParams, SetOnlyRecordsTrackedNames) {
  TrackedParams p;
  EXPECT_TRUE(p.set("application_name", "app"));
  EXPECT_FALSE(p.set("search_path", "x"));
  int i = TrackedParams::index_of("application_name");
  ASSERT_TRUE(p.has(i));
  EXPECT_EQ(p.get(i), "app");
}

TEST(TrackedParams, StandardConformingStringsDefaultsOn) {
  TrackedParams p;
  EXPECT_TRUE(p.standard_conforming_strings());
  p.set("standard_conforming_strings", "off");
  EXPECT_FALSE(p.standard_conforming_strings());
  p.set("standard_conforming_strings", "on");
  EXPECT_TRUE(p.standard_conforming_strings());
}

// The replay decoded: the SQL of its Parse and the text parameters of its Bind.
struct Replay {
  std::string sql;
  std::vector<std::string> params;
  std::string types;  // the message types, in order
};

Replay decode(const std::string& out) {
  Replay r;
  auto data = bytes_of(out);
  while (!data.empty()) {
    auto h = peek_header(data, 1 << 20);
    EXPECT_EQ(h.status, FrameStatus::kReady);
    auto body = data.subspan(kHeaderSize, h.header.body_size());
    r.types.push_back(h.header.type);
    if (h.header.type == 'P') {
      auto p = parse_parse(body);
      EXPECT_TRUE(p);
      EXPECT_EQ(p->name, "");
      r.sql = std::string(p->query);
    } else if (h.header.type == 'B') {
      auto b = parse_bind(body);
      EXPECT_TRUE(b);
      ByteReader reader(b->rest);
      int16_t formats = 0, count = 0;
      EXPECT_TRUE(reader.read_i16(formats));
      EXPECT_EQ(formats, 0);
      EXPECT_TRUE(reader.read_i16(count));
      for (int i = 0; i < count; ++i) {
        int32_t len = 0;
        std::span<const uint8_t> value;
        EXPECT_TRUE(reader.read_i32(len));
        EXPECT_TRUE(reader.read_bytes(static_cast<size_t>(len), value));
        r.params.emplace_back(as_chars(value));
      }
    }
    data = data.subspan(h.header.total());
  }
  return r;
}

TEST(TrackedParams, ReplayOnlyForDifferences) {
  TrackedParams client, server;
  client.set("TimeZone", "UTC");
  client.set("DateStyle", "ISO, MDY");
  server.set("TimeZone", "UTC");
  server.set("DateStyle", "ISO, DMY");
  Replay r = decode(client.replay_messages(server));
  EXPECT_EQ(r.types, "PBES");
  EXPECT_EQ(r.sql, "SELECT set_config($1, $2, false)");
  EXPECT_EQ(r.params, (std::vector<std::string>{"DateStyle", "ISO, MDY"}));
  server.set("DateStyle", "ISO, MDY");
  EXPECT_EQ(client.replay_messages(server), "");
}

TEST(TrackedParams, ReplayBindsValuesInsteadOfQuotingThem) {
  // With standard_conforming_strings off on the server, doubling quotes
  // alone would let this value end the literal and run SQL.
  TrackedParams client, server;
  const std::string hostile = "x\\'; CREATE TABLE pwned(); --";
  client.set("application_name", hostile);
  client.set("TimeZone", "it's");
  server.set("standard_conforming_strings", "off");
  Replay r = decode(client.replay_messages(server));
  EXPECT_EQ(r.sql, "SELECT set_config($1, $2, false), set_config($3, $4, false)");
  EXPECT_EQ(r.params, (std::vector<std::string>{"TimeZone", "it's", "application_name", hostile}));
  EXPECT_EQ(r.sql.find('\''), std::string::npos);
}

TEST(TrackedParams, ValuesTheClientNeverHadAreLeftAlone) {
  TrackedParams client, server;
  server.set("TimeZone", "Europe/Paris");
  EXPECT_EQ(client.replay_messages(server), "");
}

}  // namespace
}  // namespace usher::protocol
