#include "protocol/scanner.h"

#include <algorithm>

namespace usher::protocol {

StreamScanner::Piece StreamScanner::next(std::span<const uint8_t> bytes) {
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

}  // namespace usher::protocol
