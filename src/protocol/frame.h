// Message framing. After startup every message is: a one-byte type, an
// int32 length that counts itself but not the type, then the body. Startup-
// phase packets (StartupMessage, SSLRequest, CancelRequest, ...) have no type
// byte. We never trust a length field to size an allocation: callers stream
// bodies through or wait for bounded messages to arrive whole.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "protocol/byte_reader.h"

namespace usher::protocol {

inline constexpr size_t kHeaderSize = 5;              // type + int32 length
inline constexpr uint32_t kMaxStartupPacket = 10000;  // PostgreSQL's own limit

struct FrameHeader {
  char type = 0;
  uint32_t length = 0;  // as on the wire: body + 4
  size_t total() const { return 1 + size_t{length}; }
  size_t body_size() const { return size_t{length} - 4; }
};

enum class FrameStatus { kNeedMore, kReady, kInvalid };

struct HeaderResult {
  FrameStatus status;
  FrameHeader header;
};

// Reads the 5-byte header at the front of `bytes`. kInvalid when the length is
// below 4 or above `max_length`. Inline: it runs for every message relayed.
inline HeaderResult peek_header(std::span<const uint8_t> bytes, uint32_t max_length) {
  if (bytes.size() < kHeaderSize) return {FrameStatus::kNeedMore, {}};
  FrameHeader h{static_cast<char>(bytes[0]), load_u32(bytes.data() + 1)};
  if (h.length < 4 || h.length > max_length) return {FrameStatus::kInvalid, h};
  return {FrameStatus::kReady, h};
}

// The length of a startup-phase packet at the front of `bytes`, validated to
// 8..kMaxStartupPacket (PostgreSQL rejects anything else).
struct StartupHeader {
  FrameStatus status;
  uint32_t length;
};
StartupHeader peek_startup_header(std::span<const uint8_t> bytes);

// Message types a client may send after startup ('p' covers PasswordMessage,
// SASLInitialResponse and SASLResponse). Anything else is a protocol violation.
bool is_frontend_type(char type);

// The error a client gets for broken framing before we close its connection.
Error framing_error(char type, uint32_t length);

}  // namespace usher::protocol
