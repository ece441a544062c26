// Helpers shared by the protocol unit tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace usher::protocol::testing {

inline std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A big-endian int32, as on the wire.
inline std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

}  // namespace usher::protocol::testing
