#include "net/byte_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace usher::net {
namespace {

void append(ByteBuffer& b, const std::string& s) {
  auto space = b.prepare(s.size());
  ASSERT_GE(space.size(), s.size());
  std::memcpy(space.data(), s.data(), s.size());
  b.commit(s.size());
}

std::string contents(const ByteBuffer& b) {
  auto r = b.readable();
  return std::string(reinterpret_cast<const char*>(r.data()), r.size());
}

TEST(ByteBuffer, AllocatesOnFirstUse) {
  ByteBuffer b;
  EXPECT_EQ(b.capacity(), 0u);
  append(b, "hello");
  EXPECT_EQ(contents(b), "hello");
  EXPECT_EQ(b.capacity(), ByteBuffer::kInitial);
}

TEST(ByteBuffer, ConsumeOnlyMovesTheStart) {
  ByteBuffer b;
  append(b, "abcdef");
  auto tail = b.prepare(1);  // as if a read were outstanding into the tail
  b.consume(6);
  EXPECT_TRUE(b.empty());
  tail[0] = 'x';
  b.commit(1);  // the read lands where it was aimed
  EXPECT_EQ(contents(b), "x");
}

TEST(ByteBuffer, GrowsToTheHeapKeepingData) {
  ByteBuffer b;
  append(b, "start");
  std::string big(20000, 'z');
  append(b, big);
  EXPECT_GE(b.capacity(), 20005u);
  EXPECT_EQ(contents(b), "start" + big);
}

TEST(ByteBuffer, CompactsBeforeGrowing) {
  ByteBuffer b;
  append(b, std::string(400, 'a'));
  b.consume(390);
  append(b, std::string(300, 'b'));  // fits once the consumed bytes are reclaimed
  EXPECT_EQ(b.capacity(), ByteBuffer::kInitial);
  EXPECT_EQ(contents(b), std::string(10, 'a') + std::string(300, 'b'));
}

TEST(ByteBuffer, ShrinksBackWhenDrained) {
  ByteBuffer b;
  append(b, std::string(50000, 'q'));
  b.consume(50000);
  b.release_if_empty(true);
  EXPECT_EQ(b.capacity(), ByteBuffer::kInitial);
  append(b, "again");
  EXPECT_EQ(contents(b), "again");
}

TEST(ByteBuffer, ReleasesStorageOnlyWhenEmpty) {
  ByteBuffer b;
  append(b, "pending");
  b.release_if_empty(false);
  EXPECT_EQ(contents(b), "pending");
  b.consume(7);
  b.release_if_empty(false);
  EXPECT_EQ(b.capacity(), 0u);
  append(b, "back");
  EXPECT_EQ(contents(b), "back");
}

}  // namespace
}  // namespace usher::net
