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
  TrackedParams p;
  EXPECT_EQ(p.index_of("TimeZone"), p.index_of("timezone"));
  EXPECT_GE(p.index_of("DATESTYLE"), 0);
  EXPECT_EQ(p.index_of("search_path"), -1);
  p.set("Search_Path", "a");
  EXPECT_EQ(p.index_of("search_path"), 6);
  EXPECT_EQ(p.get(6), "a");
}

TEST(TrackedParams, OtherNamesAreAddedUpToALimit) {
  TrackedParams p;
  EXPECT_TRUE(p.set("application_name", "app"));
  const int i = p.index_of("application_name");
  ASSERT_TRUE(p.has(i));
  EXPECT_EQ(p.get(i), "app");
  for (size_t n = 0; n < TrackedParams::kMaxExtra; ++n)
    EXPECT_TRUE(p.set("x.n" + std::to_string(n), "v"));
  EXPECT_FALSE(p.set("x.one_more", "v"));
  EXPECT_TRUE(p.set("x.n0", "w"));  // a known name is still updated
  EXPECT_EQ(p.size(), kTrackedNames.size() + TrackedParams::kMaxExtra);
}

TEST(TrackedParams, WhichNames) {
  EXPECT_TRUE(tracked_by_default("search_path"));
  EXPECT_TRUE(tracked_by_default("datestyle"));
  EXPECT_FALSE(tracked_by_default("statement_timeout"));
  EXPECT_TRUE(never_tracked("is_superuser"));
  EXPECT_TRUE(never_tracked("Server_Version"));
  EXPECT_FALSE(never_tracked("session_authorization"));
  EXPECT_TRUE(may_change_settings(std::string_view("SET\0", 4)));
  EXPECT_TRUE(may_change_settings("RESET"));
  EXPECT_TRUE(may_change_settings("DISCARD ALL"));
  EXPECT_FALSE(may_change_settings("SELECT 1"));
  EXPECT_FALSE(may_change_settings("SETX"));
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
        EXPECT_GE(len, 0);  // NULLs are written into the SQL, never bound
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

TEST(TrackedParams, UnreportedValuesAreAssumedThenForgotten) {
  // search_path before PostgreSQL 18: the server never reports it.
  TrackedParams a, b, server;
  a.set("search_path", "tenant_a");
  Replay r = decode(a.replay_messages(server));
  EXPECT_EQ(r.sql, "SELECT set_config($1, $2, false)");
  EXPECT_EQ(r.params, (std::vector<std::string>{"search_path", "tenant_a"}));
  server.replayed(a);
  EXPECT_EQ(server.state(server.index_of("search_path")), TrackedParams::State::kAssumed);
  EXPECT_EQ(a.replay_messages(server), "");  // the same client again: nothing to do

  // A client that never set it gets the server's default back.
  r = decode(b.replay_messages(server));
  EXPECT_EQ(r.sql, "SELECT set_config($1, NULL, false)");
  EXPECT_EQ(r.params, (std::vector<std::string>{"search_path"}));
  server.replayed(b);
  EXPECT_EQ(server.state(server.index_of("search_path")), TrackedParams::State::kAbsent);
  EXPECT_EQ(b.replay_messages(server), "");

  // After a SET that Usher could not read, even the same value is set again.
  server.replayed(a);
  server.forget_unreported();
  r = decode(a.replay_messages(server));
  EXPECT_EQ(r.params, (std::vector<std::string>{"search_path", "tenant_a"}));
}

TEST(TrackedParams, ReportedValuesAreTheServersOwn) {
  TrackedParams client, server;
  server.set("default_transaction_read_only", "on");  // reported by the server
  server.forget_unreported();
  EXPECT_EQ(client.replay_messages(server), "");  // nothing the client asked for
  client.set("default_transaction_read_only", "off");
  Replay r = decode(client.replay_messages(server));
  EXPECT_EQ(r.params, (std::vector<std::string>{"default_transaction_read_only", "off"}));
  server.replayed(client);
  // Still known as reported: the server's ParameterStatus, not Usher, says what it holds.
  EXPECT_EQ(server.state(server.index_of("default_transaction_read_only")),
            TrackedParams::State::kKnown);
  EXPECT_EQ(server.get(server.index_of("default_transaction_read_only")), "on");
}

TEST(TrackedParams, SetsAndResetsInOneExchange) {
  TrackedParams a, b, server;
  a.set("search_path", "s_a");
  a.set("x.tenant", "1");
  server.replayed(a);
  b.set("TimeZone", "UTC");
  b.set("x.tenant", "2");
  Replay r = decode(b.replay_messages(server));
  EXPECT_EQ(r.types, "PBES");
  EXPECT_EQ(r.sql,
            "SELECT set_config($1, $2, false), set_config($3, $4, false), set_config($5, NULL, "
            "false)");
  EXPECT_EQ(r.params,
            (std::vector<std::string>{"TimeZone", "UTC", "x.tenant", "2", "search_path"}));
}

}  // namespace
}  // namespace usher::protocol
