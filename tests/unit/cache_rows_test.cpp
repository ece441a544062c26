#include "cache/rows.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/message_type.h"
#include "protocol/writer.h"

namespace usher::cache {
namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The body of the one message `write` appends.
template <typename Write>
std::string body(Write write) {
  std::string wire;
  write(wire);
  return wire.substr(5);
}

std::string data_row(std::vector<protocol::Field> fields) {
  return body([&](std::string& out) { protocol::write_data_row(out, fields); });
}

TEST(CacheRows, CollectsRowsUntilReadyForQuery) {
  RowsReader r(1 << 20);
  ASSERT_EQ(r.feed(protocol::PqMsg_RowDescription, bytes_of("ignored"s)).value(), false);
  ASSERT_EQ(r.feed(protocol::PqMsg_DataRow, bytes_of(data_row({{"a"}, {"bc"}}))).value(), false);
  ASSERT_EQ(r.feed(protocol::PqMsg_DataRow, bytes_of(data_row({{"", true}, {"d"}}))).value(),
            false);
  ASSERT_EQ(r.feed(protocol::PqMsg_CommandComplete, bytes_of("SELECT 2\0"s)).value(), false);
  ASSERT_EQ(r.feed(protocol::PqMsg_ReadyForQuery, bytes_of("I"s)).value(), true);
  auto rows = r.take();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, (Rows{{"a", "bc"}, {"", "d"}}));
}

TEST(CacheRows, ServerErrorIsTheResult) {
  RowsReader r(1 << 20);
  std::string error = body([](std::string& out) {
    protocol::write_error_response(out, "ERROR", "55000",
                                   "logical decoding requires wal_level >= logical");
  });
  ASSERT_EQ(r.feed(protocol::PqMsg_ErrorResponse, bytes_of(error)).value(), false);
  ASSERT_EQ(r.feed(protocol::PqMsg_ReadyForQuery, bytes_of("I"s)).value(), true);
  auto rows = r.take();
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().sqlstate, "55000");
  EXPECT_EQ(rows.error().message, "logical decoding requires wal_level >= logical");
}

TEST(CacheRows, LimitCountsBeforeCopying) {
  std::string row = data_row({{std::string(1000, 'x')}});
  RowsReader r(2500);
  ASSERT_TRUE(r.feed(protocol::PqMsg_DataRow, bytes_of(row)).ok());
  ASSERT_TRUE(r.feed(protocol::PqMsg_DataRow, bytes_of(row)).ok());
  auto third = r.feed(protocol::PqMsg_DataRow, bytes_of(row));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().sqlstate, "54000");
  EXPECT_LE(r.bytes(), 2500u);
}

TEST(CacheRows, MalformedOrUnexpectedMessagesFail) {
  RowsReader r(1 << 20);
  EXPECT_FALSE(r.feed(protocol::PqMsg_DataRow, bytes_of("\x00\x01\x00\x00\x00\x09x"s)).ok());
  EXPECT_FALSE(r.feed(protocol::PqMsg_CopyOutResponse, bytes_of(""s)).ok());
  EXPECT_FALSE(r.feed(protocol::PqMsg_CopyBothResponse, bytes_of(""s)).ok());
  EXPECT_FALSE(r.feed('?', bytes_of(""s)).ok());
}

}  // namespace
}  // namespace usher::cache
