#include "protocol/scanner.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "protocol/writer.h"

namespace usher::protocol {
namespace {

using testing::be32;
using testing::bytes_of;

using namespace std::string_literals;
using Kind = StreamScanner::Kind;

constexpr uint32_t kMaxLength = 1 << 20;
constexpr uint32_t kMaxWhole = 256;

bool wants_control(char type) {
  return type == 'Z' || type == 'E' || type == 'S' || type == 'I';
}
bool wants_nothing(char) {
  return false;
}
bool wants_everything(char) {
  return true;
}

struct Message {
  char type;
  std::string body;
  size_t total() const { return kHeaderSize + body.size(); }
};

std::string encode(const std::vector<Message>& msgs) {
  std::string out;
  for (const auto& m : msgs)
    out += m.type + be32(uint32_t(m.body.size() + 4)) + m.body;
  return out;
}

// A server's answer to a simple query, with the kinds of messages a relay
// sees: streamed result rows around small control messages, an empty body
// that is wanted ('I') and one that is not ('n').
std::vector<Message> sample_messages() {
  std::string w;
  MessageWriter(w)
      .begin('T')
      .i16(1)
      .cstring("id")
      .i32(0)
      .i16(0)
      .i32(23)
      .i16(4)
      .i32(-1)
      .i16(0)
      .finish();
  const Field row1[] = {{"1"}};
  const Field row2[] = {{"", true}};
  write_data_row(w, row1);
  write_data_row(w, row2);
  write_command_complete(w, "SELECT 2");
  write_parameter_status(w, "TimeZone", "UTC");
  write_notice_response(w, "01000", "note");
  write_empty_query_response(w);
  MessageWriter(w).begin('n').finish();  // NoData
  write_error_response(w, "ERROR", "42601", "syntax error");
  write_ready_for_query(w, 'E');

  std::vector<Message> msgs;
  size_t pos = 0;
  while (pos < w.size()) {
    HeaderResult h = peek_header(bytes_of(w).subspan(pos), kMaxLength);
    EXPECT_EQ(h.status, FrameStatus::kReady);
    msgs.push_back({h.header.type, w.substr(pos + kHeaderSize, h.header.body_size())});
    pos += h.header.total();
  }
  return msgs;
}

// Plays the part of the relay: bytes arrive in chunks ending at each of
// `cuts` (then the rest); after every call to next() the piece is checked
// against a model of where the scanner must be in `msgs`.
class Relay {
 public:
  Relay(std::vector<Message> msgs, StreamScanner::WantsWhole wants)
      : msgs_(std::move(msgs)), wants_(wants), stream_(encode(msgs_)) {}

  const std::string& stream() const { return stream_; }

  void run(std::vector<size_t> cuts) {
    SCOPED_TRACE("cuts: " + describe(cuts));
    cuts.push_back(stream_.size());
    StreamScanner scanner(kMaxLength, kMaxWhole, wants_);
    size_t available = 0;  // bytes that have arrived
    size_t pos = 0;        // bytes the scanner has been through
    size_t sum = 0;        // sum of piece sizes
    size_t msg = 0;        // index of the message being scanned
    size_t off = 0;        // bytes of it already covered
    size_t wholes = 0;
    auto cut = cuts.begin();
    for (int guard = 0; guard < 100000; ++guard) {
      // An exact-size copy of what is unread, so ASan flags any overread.
      std::vector<uint8_t> window(stream_.begin() + pos, stream_.begin() + available);
      StreamScanner::Piece p = scanner.next(window);
      if (p.kind == Kind::kNeedMore) {
        ASSERT_EQ(p.size, 0u);
        ASSERT_LT(msg, msgs_.size() + 1);
        if (msg < msgs_.size()) {
          const Message& m = msgs_[msg];
          bool must_wait = off > 0 ? window.empty()
                                   : window.size() < kHeaderSize ||
                                         (wants_(m.type) && window.size() < m.total());
          ASSERT_TRUE(must_wait) << "kNeedMore with " << window.size() << " bytes at " << pos;
        } else {
          ASSERT_TRUE(window.empty());
        }
        if (available == stream_.size()) break;
        while (cut != cuts.end() && *cut <= available)
          ++cut;
        ASSERT_NE(cut, cuts.end());
        available = *cut;
        continue;
      }
      ASSERT_LT(msg, msgs_.size()) << "piece past the end of the stream";
      ASSERT_LE(p.size, window.size()) << "piece larger than its input";
      const Message& m = msgs_[msg];
      switch (p.kind) {
        case Kind::kWhole:
          ASSERT_EQ(off, 0u);
          ASSERT_TRUE(wants_(m.type)) << m.type;
          ASSERT_EQ(p.header.type, m.type);
          ASSERT_EQ(p.header.length, m.body.size() + 4);
          ASSERT_EQ(p.size, m.total());
          ASSERT_EQ(p.body.data(), window.data() + kHeaderSize);
          ASSERT_EQ(std::string(as_chars(p.body)), m.body);
          ASSERT_FALSE(scanner.mid_message());
          ++wholes;
          off = m.total();
          break;
        case Kind::kStart:
          ASSERT_EQ(off, 0u);
          ASSERT_FALSE(wants_(m.type)) << m.type;
          ASSERT_EQ(p.header.type, m.type);
          ASSERT_EQ(p.header.length, m.body.size() + 4);
          ASSERT_EQ(p.size, std::min(m.total(), window.size()));
          ASSERT_GE(p.size, kHeaderSize);
          off = p.size;
          break;
        case Kind::kBody:
          ASSERT_GT(off, 0u);
          ASSERT_LT(off, m.total());
          ASSERT_EQ(p.size, std::min(m.total() - off, window.size()));
          ASSERT_GT(p.size, 0u);
          off += p.size;
          break;
        default:
          FAIL() << "unexpected piece kind " << int(p.kind) << " at " << pos;
      }
      ASSERT_EQ(scanner.mid_message(), off < m.total());
      if (off == m.total()) {
        ++msg;
        off = 0;
      }
      pos += p.size;
      sum += p.size;
    }
    EXPECT_EQ(sum, stream_.size());
    EXPECT_EQ(pos, stream_.size());
    EXPECT_EQ(msg, msgs_.size());
    EXPECT_FALSE(scanner.mid_message());
    size_t wanted =
        std::count_if(msgs_.begin(), msgs_.end(), [&](const Message& m) { return wants_(m.type); });
    EXPECT_EQ(wholes, wanted);
  }

 private:
  static std::string describe(const std::vector<size_t>& cuts) {
    std::string s;
    for (size_t c : cuts)
      s += std::to_string(c) + " ";
    return s;
  }

  std::vector<Message> msgs_;
  StreamScanner::WantsWhole wants_;
  std::string stream_;
};

TEST(ProtocolScanner, WholeStreamAtOnce) {
  for (auto wants : {wants_control, wants_nothing, wants_everything}) {
    Relay relay(sample_messages(), wants);
    relay.run({});
    if (HasFatalFailure()) return;
  }
}

TEST(ProtocolScanner, SplitAtEveryByteBoundary) {
  for (auto wants : {wants_control, wants_nothing, wants_everything}) {
    Relay relay(sample_messages(), wants);
    for (size_t k = 0; k <= relay.stream().size(); ++k) {
      relay.run({k});
      if (HasFatalFailure()) return;
    }
  }
}

TEST(ProtocolScanner, SplitAtEveryPairOfBoundaries) {
  Relay relay(sample_messages(), wants_control);
  const size_t n = relay.stream().size();
  for (size_t a = 1; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      relay.run({a, b});
      if (HasFatalFailure()) return;
    }
  }
}

TEST(ProtocolScanner, OneByteAtATime) {
  for (auto wants : {wants_control, wants_nothing, wants_everything}) {
    Relay relay(sample_messages(), wants);
    std::vector<size_t> cuts;
    for (size_t k = 1; k < relay.stream().size(); ++k)
      cuts.push_back(k);
    relay.run(cuts);
    if (HasFatalFailure()) return;
  }
}

TEST(ProtocolScanner, EmptyInputNeedsMore) {
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  auto p = s.next({});
  EXPECT_EQ(p.kind, Kind::kNeedMore);
  EXPECT_EQ(p.size, 0u);
  EXPECT_FALSE(s.mid_message());
}

TEST(ProtocolScanner, WantedMessageWaitsUntilWhole) {
  std::string wire;
  write_ready_for_query(wire, 'I');
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  for (size_t n = 0; n < wire.size(); ++n) {
    auto p = s.next(bytes_of(wire).first(n));
    EXPECT_EQ(p.kind, Kind::kNeedMore) << n;
    EXPECT_EQ(p.size, 0u);
    EXPECT_FALSE(s.mid_message());
  }
  auto p = s.next(bytes_of(wire));
  ASSERT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(p.size, 6u);
  EXPECT_EQ(p.header.type, 'Z');
  EXPECT_EQ(as_chars(p.body), "I");
}

TEST(ProtocolScanner, WantedMessageOverMaxWholeIsInvalid) {
  const uint32_t max_whole = 16;
  // A body of 12 bytes has length 16: fits exactly.
  std::string fits = "E"s + be32(16) + std::string(12, 'x');
  StreamScanner s(kMaxLength, max_whole, wants_control);
  auto p = s.next(bytes_of(fits));
  EXPECT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(p.size, fits.size());

  // One more byte: invalid as soon as the header is seen, without waiting
  // for (or buffering) the body.
  std::string over = "E"s + be32(17) + std::string(13, 'x');
  StreamScanner s2(kMaxLength, max_whole, wants_control);
  p = s2.next(bytes_of(over).first(kHeaderSize));
  EXPECT_EQ(p.kind, Kind::kInvalid);
  EXPECT_EQ(p.size, 0u);
  EXPECT_EQ(p.header.type, 'E');
  EXPECT_EQ(p.header.length, 17u);

  // The same size is fine for a streamed type.
  std::string streamed = "D"s + be32(17) + std::string(13, 'x');
  StreamScanner s3(kMaxLength, max_whole, wants_control);
  p = s3.next(bytes_of(streamed));
  EXPECT_EQ(p.kind, Kind::kStart);
  EXPECT_EQ(p.size, streamed.size());
}

TEST(ProtocolScanner, TypesInspectedOnlyWhenSmallStreamWhenLarge) {
  auto wants_query = [](char type) { return type == 'Q' || type == 'Z'; };
  auto only_query = [](char type) { return type == 'Q'; };
  StreamScanner s(kMaxLength, kMaxWhole, wants_query, only_query, 16);
  std::string small = "Q"s + be32(16) + std::string(12, 'x');
  auto p = s.next(bytes_of(small));
  EXPECT_EQ(p.kind, Kind::kWhole);
  std::string large = "Q"s + be32(17) + std::string(13, 'x');
  p = s.next(bytes_of(large).first(8));
  EXPECT_EQ(p.kind, Kind::kStart);  // streamed, without waiting for the rest
  EXPECT_EQ(p.size, 8u);
  EXPECT_TRUE(s.mid_message());
  p = s.next(bytes_of(large).subspan(8));
  EXPECT_EQ(p.kind, Kind::kBody);
  // Other wanted types are still whole, up to max_whole.
  std::string ready = "Z"s + be32(17) + std::string(13, 'x');
  p = s.next(bytes_of(ready));
  EXPECT_EQ(p.kind, Kind::kWhole);
}

TEST(ProtocolScanner, BadLengthIsInvalid) {
  for (char type : {'D', 'Z'}) {
    for (uint32_t len : {0u, 3u, kMaxLength + 1, 0xffffffffu}) {
      std::string wire = type + be32(len) + "abcdefgh";
      StreamScanner s(kMaxLength, kMaxWhole, wants_control);
      auto p = s.next(bytes_of(wire));
      EXPECT_EQ(p.kind, Kind::kInvalid) << type << " " << len;
      EXPECT_EQ(p.size, 0u);
      EXPECT_EQ(p.header.length, len);
      EXPECT_FALSE(s.mid_message());
    }
  }
}

TEST(ProtocolScanner, BadLengthAfterValidMessages) {
  std::string wire;
  write_command_complete(wire, "SELECT 0");
  write_ready_for_query(wire, 'I');
  const size_t good = wire.size();
  wire += "D"s + be32(2) + "zz";
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  size_t pos = 0;
  auto p = s.next(bytes_of(wire));
  ASSERT_EQ(p.kind, Kind::kStart);
  pos += p.size;
  p = s.next(bytes_of(wire).subspan(pos));
  ASSERT_EQ(p.kind, Kind::kWhole);
  pos += p.size;
  EXPECT_EQ(pos, good);
  p = s.next(bytes_of(wire).subspan(pos));
  EXPECT_EQ(p.kind, Kind::kInvalid);
}

TEST(ProtocolScanner, MaxLengthIsInclusive) {
  const uint32_t max_length = 64;
  std::string at_max = "D"s + be32(max_length) + std::string(max_length - 4, 'r');
  StreamScanner s(max_length, kMaxWhole, wants_control);
  auto p = s.next(bytes_of(at_max));
  EXPECT_EQ(p.kind, Kind::kStart);
  EXPECT_EQ(p.size, at_max.size());
  std::string over = "D"s + be32(max_length + 1);
  StreamScanner s2(max_length, kMaxWhole, wants_control);
  EXPECT_EQ(s2.next(bytes_of(over)).kind, Kind::kInvalid);
}

TEST(ProtocolScanner, EmptyBodiesStreamedAndWhole) {
  std::string wire = "n"s + be32(4) + "I"s + be32(4);
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  auto p = s.next(bytes_of(wire));
  ASSERT_EQ(p.kind, Kind::kStart);
  EXPECT_EQ(p.size, kHeaderSize);
  EXPECT_FALSE(s.mid_message());
  p = s.next(bytes_of(wire).subspan(kHeaderSize));
  ASSERT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(p.size, kHeaderSize);
  EXPECT_TRUE(p.body.empty());
  EXPECT_EQ(s.next({}).kind, Kind::kNeedMore);
}

TEST(ProtocolScanner, MidMessageAndBodyPieces) {
  std::string wire = "D"s + be32(4 + 10) + "0123456789";
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  auto p = s.next(bytes_of(wire).first(7));
  ASSERT_EQ(p.kind, Kind::kStart);
  EXPECT_EQ(p.size, 7u);
  EXPECT_EQ(p.header.type, 'D');
  EXPECT_EQ(p.header.length, 14u);
  EXPECT_TRUE(s.mid_message());
  // Nothing more yet.
  p = s.next(bytes_of(wire).subspan(7, 0));
  EXPECT_EQ(p.kind, Kind::kNeedMore);
  EXPECT_TRUE(s.mid_message());
  // A body piece never runs into the next message.
  std::string more = wire.substr(7) + "Z"s + be32(5) + "I";
  p = s.next(bytes_of(more).first(3));
  ASSERT_EQ(p.kind, Kind::kBody);
  EXPECT_EQ(p.size, 3u);
  EXPECT_TRUE(s.mid_message());
  p = s.next(bytes_of(more).subspan(3));
  ASSERT_EQ(p.kind, Kind::kBody);
  EXPECT_EQ(p.size, 5u);
  EXPECT_FALSE(s.mid_message());
  p = s.next(bytes_of(more).subspan(8));
  ASSERT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(as_chars(p.body), "I");
}

TEST(ProtocolScanner, HugeStreamedMessageIsNeverBuffered) {
  // A 1 GiB DataRow passes through in whatever pieces arrive.
  const uint32_t length = 1u << 30;
  StreamScanner s(0xffffffffu, kMaxWhole, wants_control);
  std::string head = "D"s + be32(length) + std::string(59, 'x');
  auto p = s.next(bytes_of(head));
  ASSERT_EQ(p.kind, Kind::kStart);
  EXPECT_EQ(p.size, 64u);
  size_t left = size_t{length} + 1 - 64;
  std::string chunk(1 << 16, 'y');
  // Skip most of it by feeding big spans of the same chunk repeatedly.
  while (left > chunk.size()) {
    p = s.next(bytes_of(chunk));
    ASSERT_EQ(p.kind, Kind::kBody);
    ASSERT_EQ(p.size, chunk.size());
    ASSERT_TRUE(s.mid_message());
    left -= p.size;
  }
  std::string tail = std::string(left, 'z') + "Z"s + be32(5) + "T";
  p = s.next(bytes_of(tail));
  ASSERT_EQ(p.kind, Kind::kBody);
  EXPECT_EQ(p.size, left);
  EXPECT_FALSE(s.mid_message());
  p = s.next(bytes_of(tail).subspan(left));
  ASSERT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(as_chars(p.body), "T");
}

TEST(ProtocolScanner, ResetDropsThePartialMessage) {
  std::string wire = "D"s + be32(100) + "abc";
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  auto p = s.next(bytes_of(wire));
  ASSERT_EQ(p.kind, Kind::kStart);
  ASSERT_TRUE(s.mid_message());
  s.reset();
  EXPECT_FALSE(s.mid_message());
  // The next bytes are read as a header again, not as body.
  std::string fresh;
  write_ready_for_query(fresh, 'I');
  p = s.next(bytes_of(fresh));
  ASSERT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(p.header.type, 'Z');
  // And reset at a boundary is harmless.
  s.reset();
  EXPECT_FALSE(s.mid_message());
  p = s.next(bytes_of(fresh));
  EXPECT_EQ(p.kind, Kind::kWhole);
}

TEST(ProtocolScanner, WholeBodyViewsTheInput) {
  std::string wire;
  write_error_response(wire, "ERROR", "22012", "division by zero");
  StreamScanner s(kMaxLength, kMaxWhole, wants_control);
  auto p = s.next(bytes_of(wire));
  ASSERT_EQ(p.kind, Kind::kWhole);
  EXPECT_EQ(p.body.data(), reinterpret_cast<const uint8_t*>(wire.data()) + kHeaderSize);
  EXPECT_EQ(p.body.size(), wire.size() - kHeaderSize);
}

}  // namespace
}  // namespace usher::protocol
