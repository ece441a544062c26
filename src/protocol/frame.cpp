#include "protocol/frame.h"

#include <string>

#include "protocol/byte_reader.h"
#include "protocol/message_type.h"
#include "protocol/sqlstate.h"

namespace usher::protocol {

StartupHeader peek_startup_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < 4) return {FrameStatus::kNeedMore, 0};
  uint32_t len = load_u32(bytes.data());
  if (len < 8 || len > kMaxStartupPacket) return {FrameStatus::kInvalid, len};
  return {FrameStatus::kReady, len};
}

bool is_frontend_type(char type) {
  switch (type) {
    case PqMsg_Query:
    case PqMsg_Parse:
    case PqMsg_Bind:
    case PqMsg_Describe:
    case PqMsg_Execute:
    case PqMsg_Close:
    case PqMsg_Flush:
    case PqMsg_Sync:
    case PqMsg_FunctionCall:
    case PqMsg_Terminate:
    case PqMsg_CopyData:
    case PqMsg_CopyDone:
    case PqMsg_CopyFail:
    case PqMsg_PasswordMessage:
      return true;
    default:
      return false;
  }
}

Error framing_error(char type, uint32_t length) {
  if (length < 4) return make_error(sqlstate::protocol_violation, "invalid message length");
  if (!is_frontend_type(type)) {
    // PostgreSQL's wording, with the type as a number (it may not print).
    return make_error(sqlstate::protocol_violation,
                      "invalid frontend message type " + std::to_string(int(uint8_t(type))));
  }
  return make_error(sqlstate::protocol_violation,
                    "message length " + std::to_string(length) + " exceeds max_packet_size");
}

}  // namespace usher::protocol
