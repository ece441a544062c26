#include "protocol/extended.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <string>

#include "protocol/frame.h"

namespace usher::protocol {
namespace {

using testing::bytes_of;
using namespace std::string_literals;

std::span<const uint8_t> body(const std::string& wire) {
  return bytes_of(wire).subspan(kHeaderSize);
}

TEST(Extended, ParseRoundTrip) {
  std::string wire;
  std::string types = "\0\2\0\0\0\x17\0\0\0\x19"s;  // int4, text
  write_parse(wire, "s1", "select $1, $2", types);
  auto m = parse_parse(body(wire));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->name, "s1");
  EXPECT_EQ(m->query, "select $1, $2");
  EXPECT_EQ(m->param_types, types);
}

TEST(Extended, ParseRejectsCountThatDisagreesWithTheOids) {
  for (std::string tail : {"\0\2\0\0\0\x17"s, "\0\1\0\0\0\x17\0"s, "\xff\xff"s, ""s, "\0"s}) {
    std::string b = "s\0select 1\0"s + tail;
    EXPECT_FALSE(parse_parse(bytes_of(b))) << tail.size();
  }
  EXPECT_FALSE(parse_parse(bytes_of("s\0select 1"s)));  // unterminated query
}

TEST(Extended, BindKeepsEverythingAfterTheNames) {
  std::string rest = "\0\0\0\1\0\0\0\3abc\0\0"s;
  std::string wire;
  write_bind(wire, "portal", "stmt", bytes_of(rest));
  auto m = parse_bind(body(wire));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->portal, "portal");
  EXPECT_EQ(m->statement, "stmt");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->rest.data()), m->rest.size()), rest);
  EXPECT_FALSE(parse_bind(bytes_of("portal\0stmt"s)));
}

TEST(Extended, BindHeaderPlusRestIsABind) {
  std::string rest = "\0\0\0\1\0\0\0\3abc\0\0"s;
  std::string whole, split;
  write_bind(whole, "p", "usher_1", bytes_of(rest));
  write_bind_header(split, "p", "usher_1", rest.size());
  EXPECT_EQ(split + rest, whole);
}

TEST(Extended, DescribeAndClose) {
  std::string wire;
  write_describe(wire, 'S', "name");
  auto d = parse_describe(body(wire));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, 'S');
  EXPECT_EQ(d->name, "name");
  wire.clear();
  write_close(wire, 'P', "");
  auto c = parse_close(body(wire));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, 'P');
  EXPECT_EQ(c->name, "");
  EXPECT_FALSE(parse_close(bytes_of("Xname\0"s)));       // neither S nor P
  EXPECT_FALSE(parse_describe(bytes_of("Sname"s)));      // no NUL
  EXPECT_FALSE(parse_describe(bytes_of("Sa\0extra"s)));  // bytes after the name
  auto err = parse_describe(bytes_of(""s));
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().sqlstate, "08P01");
}

TEST(Extended, BackendMessagesUsherAnswersWith) {
  std::string out;
  write_parse_complete(out);
  write_bind_complete(out);
  write_close_complete(out);
  write_no_data(out);
  write_empty_parameter_description(out);
  write_sync(out);
  EXPECT_EQ(out,
            "1\0\0\0\4"s
            "2\0\0\0\4"s
            "3\0\0\0\4"s
            "n\0\0\0\4"s
            "t\0\0\0\6\0\0"s
            "S\0\0\0\4"s);
}

}  // namespace
}  // namespace usher::protocol
