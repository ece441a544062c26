// libFuzzer target for StreamScanner, the piece of the relay that walks
// every byte a server or client sends. The first two input bytes pick the
// scanner's limits, which types it wants whole, and how the rest of the
// input is split into arriving chunks. The rest is scanned twice: all at
// once, and chunk by chunk the way the relay feeds it (each call gets the
// unread bytes that have arrived, in an exact-size buffer so ASan catches a
// read past them). Invariants, checked with __builtin_trap():
//   - a piece never covers more bytes than it was given; the sum of piece
//     sizes is exactly the bytes consumed, and kNeedMore consumes nothing;
//   - kWhole only for wanted types within max_whole, with a body that is the
//     message's own bytes; kStart only for other types; kBody only mid-message;
//   - kNeedMore only when no piece could be classified from what arrived;
//   - kInvalid only for a bad length or a wanted type over max_whole;
//   - how the bytes are split changes nothing: messages begin at the same
//     offsets, with the same headers and kinds, and the scan ends the same way.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/frame.h"
#include "protocol/scanner.h"

namespace {

namespace protocol = usher::protocol;
using Kind = protocol::StreamScanner::Kind;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool wants_control(char t) {
  return t == 'Z' || t == 'E' || t == 'S' || t == '1';
}
bool wants_nothing(char) {
  return false;
}
bool wants_everything(char) {
  return true;
}
bool wants_odd(char t) {
  return (uint8_t(t) & 1) != 0;
}

constexpr protocol::StreamScanner::WantsWhole kWants[] = {wants_control, wants_nothing,
                                                          wants_everything, wants_odd};
constexpr uint32_t kMaxLengths[] = {4, 5, 64, 1u << 20};
constexpr uint32_t kMaxWholes[] = {4, 8, 32, 8192};

struct Config {
  uint32_t max_length;
  uint32_t max_whole;
  protocol::StreamScanner::WantsWhole wants;
};

// Where each message began and how the scanner classified it.
struct Event {
  size_t offset;
  Kind kind;  // kWhole, kStart or kInvalid
  char type;
  uint32_t length;
  bool operator==(const Event&) const = default;
};

struct Outcome {
  std::vector<Event> events;
  size_t consumed = 0;
  bool ended_mid_message = false;
  bool operator==(const Outcome&) const = default;
};

// A tiny deterministic generator of chunk sizes from a seed byte.
class Chunker {
 public:
  explicit Chunker(uint8_t seed) : state_(seed * 2654435761u + 1), mode_(seed & 3) {}
  size_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    switch (mode_) {
      case 0:
        return 1;  // byte by byte
      case 1:
        return 1 + state_ % 7;  // across headers
      case 2:
        return 1 + state_ % 64;  // across bodies
      default:
        return 1 + state_ % 1024;  // big reads
    }
  }

 private:
  uint32_t state_;
  int mode_;
};

Outcome scan(const Config& cfg, std::span<const uint8_t> stream, Chunker* chunker) {
  protocol::StreamScanner scanner(cfg.max_length, cfg.max_whole, cfg.wants);
  Outcome out;
  size_t available = chunker ? 0 : stream.size();
  size_t pos = 0;
  size_t message_end = 0;  // end offset of the streamed message in progress
  while (true) {
    std::vector<uint8_t> window(stream.begin() + pos, stream.begin() + available);
    bool was_mid = scanner.mid_message();
    check(was_mid == (pos < message_end));
    protocol::StreamScanner::Piece p = scanner.next(window);
    check(p.size <= window.size());
    if (p.kind != Kind::kBody && p.kind != Kind::kNeedMore) check(!was_mid);
    switch (p.kind) {
      case Kind::kNeedMore: {
        check(p.size == 0);
        check(scanner.mid_message() == was_mid);
        if (was_mid) {
          check(window.empty());
        } else if (window.size() >= protocol::kHeaderSize) {
          // Only a wanted message still waiting for its body may hold us up.
          uint32_t length = protocol::load_u32(window.data() + 1);
          check(cfg.wants(char(window[0])));
          check(length >= 4 && length <= cfg.max_length && length <= cfg.max_whole);
          check(window.size() < size_t{length} + 1);
        }
        if (available == stream.size()) {
          out.consumed = pos;
          out.ended_mid_message = scanner.mid_message();
          return out;
        }
        available = std::min(stream.size(), available + chunker->next());
        continue;
      }
      case Kind::kInvalid: {
        check(p.size == 0);
        check(window.size() >= protocol::kHeaderSize);
        uint32_t length = protocol::load_u32(window.data() + 1);
        check(p.header.type == char(window[0]) && p.header.length == length);
        check(length < 4 || length > cfg.max_length ||
              (cfg.wants(p.header.type) && length > cfg.max_whole));
        out.events.push_back({pos, p.kind, p.header.type, p.header.length});
        out.consumed = pos;
        return out;
      }
      case Kind::kWhole: {
        uint32_t length = protocol::load_u32(window.data() + 1);
        check(p.header.type == char(window[0]) && p.header.length == length);
        check(cfg.wants(p.header.type));
        check(length >= 4 && length <= cfg.max_length && length <= cfg.max_whole);
        check(p.size == size_t{length} + 1);
        check(p.body.data() == window.data() + protocol::kHeaderSize);
        check(p.body.size() == size_t{length} - 4);
        check(!scanner.mid_message());
        out.events.push_back({pos, p.kind, p.header.type, p.header.length});
        break;
      }
      case Kind::kStart: {
        check(p.size >= protocol::kHeaderSize);
        uint32_t length = protocol::load_u32(window.data() + 1);
        check(p.header.type == char(window[0]) && p.header.length == length);
        check(!cfg.wants(p.header.type));
        check(length >= 4 && length <= cfg.max_length);
        check(p.size == std::min(window.size(), size_t{length} + 1));
        message_end = pos + size_t{length} + 1;
        check(scanner.mid_message() == (pos + p.size < message_end));
        out.events.push_back({pos, p.kind, p.header.type, p.header.length});
        break;
      }
      case Kind::kBody:
        check(was_mid);
        check(p.size > 0);
        check(p.size == std::min(window.size(), message_end - pos));
        check(scanner.mid_message() == (pos + p.size < message_end));
        break;
    }
    pos += p.size;
    check(pos <= available);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Config cfg{kMaxLengths[data[0] & 3], kMaxWholes[(data[0] >> 2) & 3], kWants[(data[0] >> 4) & 3]};
  std::span<const uint8_t> stream(data + 2, size - 2);

  Outcome at_once = scan(cfg, stream, nullptr);
  Chunker chunker(data[1]);
  Outcome chunked = scan(cfg, stream, &chunker);
  check(at_once == chunked);
  return 0;
}
