// A bounds-checked consume-and-advance cursor over bytes we do not own.
// Every read checks the remaining length and reports failure instead of
// reading past the end, so decoders built on it are safe on hostile input.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace usher::protocol {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  std::span<const uint8_t> rest() const { return bytes_.subspan(pos_); }

  bool read_u8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = bytes_[pos_++];
    return true;
  }
  bool read_i16(int16_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<int16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool read_i32(int32_t& out) {
    uint32_t u;
    if (!read_u32(u)) return false;
    out = static_cast<int32_t>(u);
    return true;
  }
  bool read_u32(uint32_t& out) {
    if (remaining() < 4) return false;
    out = (uint32_t{bytes_[pos_]} << 24) | (uint32_t{bytes_[pos_ + 1]} << 16) |
          (uint32_t{bytes_[pos_ + 2]} << 8) | uint32_t{bytes_[pos_ + 3]};
    pos_ += 4;
    return true;
  }
  // A NUL-terminated string; the view excludes the NUL.
  bool read_cstring(std::string_view& out) {
    // An empty span may have a null data(): memchr(nullptr, 0, 0) is UB.
    if (remaining() == 0) return false;
    const void* nul = std::memchr(bytes_.data() + pos_, 0, remaining());
    if (nul == nullptr) return false;
    size_t len = static_cast<const uint8_t*>(nul) - (bytes_.data() + pos_);
    out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len + 1;
    return true;
  }
  bool read_bytes(size_t n, std::span<const uint8_t>& out) {
    if (remaining() < n) return false;
    out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

inline uint32_t load_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace usher::protocol
