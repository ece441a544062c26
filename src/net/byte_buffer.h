// An inbound byte buffer: data lives in [begin_, end_). consume() only moves
// begin_, so a read may still be filling the space after end_; the storage is
// compacted, grown or shrunk only by prepare() and shrink_if_empty(), which
// callers must not call while a read into the buffer is outstanding.
//
// Small messages (most queries) fit in an inline array, so an idle client
// costs no heap buffer; large ones move the data to the heap until drained.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace usher::net {

class ByteBuffer {
 public:
  static constexpr size_t kInline = 512;

  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  std::span<const uint8_t> readable() const { return {data() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return capacity_; }

  // Only moves begin_: a read may be filling the space after end_.
  void consume(size_t n) { begin_ += n; }

  // Space for at least `min` more bytes after the data, moving or growing it.
  std::span<uint8_t> prepare(size_t min) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (capacity_ - end_ < min) {
      size_t used = size();
      if (capacity_ - used >= min) {
        std::memmove(data(), data() + begin_, used);
      } else {
        size_t cap = std::max<size_t>(capacity_ * 2, 16384);
        while (cap - used < min)
          cap *= 2;
        std::unique_ptr<uint8_t[]> bigger(new uint8_t[cap]);
        std::memcpy(bigger.get(), data() + begin_, used);
        heap_ = std::move(bigger);
        capacity_ = cap;
      }
      begin_ = 0;
      end_ = used;
    }
    return {data() + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }

  // Gives a drained heap buffer back, returning to the inline array.
  void shrink_if_empty() {
    if (empty() && heap_) {
      heap_.reset();
      capacity_ = kInline;
      begin_ = end_ = 0;
    }
  }

 private:
  uint8_t* data() { return heap_ ? heap_.get() : inline_; }
  const uint8_t* data() const { return heap_ ? heap_.get() : inline_; }

  std::unique_ptr<uint8_t[]> heap_;
  size_t capacity_ = kInline;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint8_t inline_[kInline];
};

}  // namespace usher::net
