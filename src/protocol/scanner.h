// Walks a stream of typed messages piece by piece without buffering bodies
// it does not need. The relay forwards the bytes of every piece in bulk and
// only looks inside messages for which `wants_whole(type)` is true (small
// control messages such as ReadyForQuery); those are returned only once they
// have arrived whole, and must fit in `max_whole` bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include "protocol/frame.h"

namespace usher::protocol {

class StreamScanner {
 public:
  enum class Kind {
    kNeedMore,  // nothing more can be classified until more bytes arrive
    kStart,     // the header and the first available bytes of a streamed message
    kBody,      // more bytes of the streamed message begun by the last kStart
    kWhole,     // a whole message of a type the caller wants to inspect
    kInvalid,   // bad length, or a whole-message type over max_whole
  };
  struct Piece {
    Kind kind = Kind::kNeedMore;
    size_t size = 0;  // bytes of the input this piece covers
    FrameHeader header;
    std::span<const uint8_t> body;  // kWhole only
  };
  using WantsWhole = bool (*)(char type);

  // `streams_when_large`, if given, names wanted types that are streamed
  // (kStart) rather than refused when longer than `large`: they are worth
  // inspecting whole only when small. Such a message's kStart comes once
  // its first `head` bytes (or all of it) have arrived, so that the caller
  // can read what leads it (a statement name, say).
  StreamScanner(uint32_t max_length, uint32_t max_whole, WantsWhole wants_whole,
                WantsWhole streams_when_large = nullptr, uint32_t large = 0, uint32_t head = 0)
      : max_length_(max_length),
        max_whole_(max_whole),
        wants_whole_(wants_whole),
        streams_when_large_(streams_when_large),
        large_(large),
        head_(head) {}

  // `bytes` must start right after the last piece returned. The scanner's own
  // position advances by the returned piece's size. Inline: it runs several
  // times for every message relayed.
  Piece next(std::span<const uint8_t> bytes) {
    Piece p;
    if (body_left_ > 0) {
      if (bytes.empty()) return p;
      p.kind = Kind::kBody;
      p.size = std::min(body_left_, bytes.size());
      body_left_ -= p.size;
      return p;
    }
    HeaderResult h = peek_header(bytes, max_length_);
    p.header = h.header;
    if (h.status == FrameStatus::kNeedMore) return p;
    if (h.status == FrameStatus::kInvalid) {
      p.kind = Kind::kInvalid;
      return p;
    }
    bool stream_it = streams_when_large_ != nullptr && h.header.length > large_ &&
                     streams_when_large_(h.header.type);
    if (stream_it && bytes.size() < std::min<size_t>(h.header.total(), kHeaderSize + head_)) {
      return p;
    }
    if (!stream_it && wants_whole_(h.header.type)) {
      if (h.header.length > max_whole_) {
        p.kind = Kind::kInvalid;
        return p;
      }
      if (bytes.size() < h.header.total()) return p;
      p.kind = Kind::kWhole;
      p.size = h.header.total();
      p.body = bytes.subspan(kHeaderSize, h.header.body_size());
      return p;
    }
    p.kind = Kind::kStart;
    p.size = std::min(h.header.total(), bytes.size());
    body_left_ = h.header.total() - p.size;
    return p;
  }

  // Back to a message boundary, for a new stream (a different server).
  void reset() { body_left_ = 0; }

  // True while a streamed message body is still incomplete.
  bool mid_message() const { return body_left_ > 0; }

 private:
  uint32_t max_length_;
  uint32_t max_whole_;
  WantsWhole wants_whole_;
  WantsWhole streams_when_large_;
  uint32_t large_;
  uint32_t head_;
  size_t body_left_ = 0;
};

}  // namespace usher::protocol
