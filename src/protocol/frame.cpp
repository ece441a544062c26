#include "protocol/frame.h"

#include <string>

#include "protocol/byte_reader.h"

namespace usher::protocol {

StartupHeader peek_startup_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < 4) return {FrameStatus::kNeedMore, 0};
  uint32_t len = load_u32(bytes.data());
  if (len < 8 || len > kMaxStartupPacket) return {FrameStatus::kInvalid, len};
  return {FrameStatus::kReady, len};
}

bool is_frontend_type(char type) {
  switch (type) {
    case 'Q':
    case 'P':
    case 'B':
    case 'D':
    case 'E':
    case 'C':
    case 'H':
    case 'S':
    case 'F':
    case 'X':
    case 'd':
    case 'c':
    case 'f':
    case 'p':
      return true;
    default:
      return false;
  }
}

Error framing_error(char type, uint32_t length) {
  if (length < 4) return make_error("08P01", "invalid message length");
  if (!is_frontend_type(type)) {
    // PostgreSQL's wording, with the type as a number (it may not print).
    return make_error("08P01",
                      "invalid frontend message type " + std::to_string(int(uint8_t(type))));
  }
  return make_error("08P01",
                    "message length " + std::to_string(length) + " exceeds max_packet_size");
}

}  // namespace usher::protocol
