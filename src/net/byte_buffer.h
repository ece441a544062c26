// An inbound byte buffer: data lives in [begin_, end_). consume() only moves
// begin_, so a read may still be filling the space after end_; the storage is
// allocated, grown or freed only by prepare() and release(), which callers
// must not call while a read into the buffer is outstanding.
//
// Storage is allocated on first use and can be given back when empty, so a
// client that sits idle holds no buffer at all.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace usher::net {

class ByteBuffer {
 public:
  static constexpr size_t kInitial = 512;

  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  std::span<const uint8_t> readable() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return capacity_; }

  // Only moves begin_: a read may be filling the space after end_.
  void consume(size_t n) { begin_ += n; }

  // Space for at least `min` more bytes after the data, moving or growing it.
  std::span<uint8_t> prepare(size_t min) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (capacity_ - end_ < min) [[unlikely]] {
      grow(min);
    }
    return {data_.get() + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }

  // Frees the storage if the buffer is empty (an idle client), or shrinks a
  // big drained buffer back to the initial size (after a large message).
  void release_if_empty(bool keep_initial) {
    if (!empty()) return;
    begin_ = end_ = 0;
    if (!keep_initial) {
      data_.reset();
      capacity_ = 0;
    } else if (capacity_ > kInitial) {
      data_.reset(new uint8_t[kInitial]);
      capacity_ = kInitial;
    }
  }

 private:
  // Moves the data to the front, or into a bigger buffer, so that `min`
  // more bytes fit after it.
  void grow(size_t min) {
    size_t used = size();
    if (capacity_ - used >= min) {
      std::memmove(data_.get(), data_.get() + begin_, used);
    } else {
      size_t cap = capacity_ == 0 ? kInitial : capacity_ * 2;
      while (cap - used < min)
        cap *= 2;
      std::unique_ptr<uint8_t[]> bigger(new uint8_t[cap]);
      if (used > 0) std::memcpy(bigger.get(), data_.get() + begin_, used);
      data_ = std::move(bigger);
      capacity_ = cap;
    }
    begin_ = 0;
    end_ = used;
  }

  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace usher::net
