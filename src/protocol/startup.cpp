#include "protocol/startup.h"

#include <string>

#include "protocol/byte_reader.h"
#include "protocol/sqlstate.h"

namespace usher::protocol {

std::string_view StartupMessage::get(std::string_view key) const {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return {};
}

Result<StartupPacket> parse_startup_packet(std::span<const uint8_t> packet) {
  ByteReader r(packet);
  uint32_t length = 0;
  uint32_t code = 0;
  if (!r.read_u32(length) || !r.read_u32(code) || length != packet.size()) {
    return make_error(sqlstate::protocol_violation, "invalid startup packet layout");
  }
  switch (code) {
    case kCancelRequestCode: {
      CancelRequest c;
      if (!r.read_u32(c.pid) || !r.read_u32(c.secret) || !r.empty()) {
        return make_error(sqlstate::protocol_violation, "invalid length of cancel request");
      }
      return StartupPacket{c};
    }
    case kSslRequestCode:
      return StartupPacket{SslRequest{}};
    case kGssEncRequestCode:
      return StartupPacket{GssEncRequest{}};
    default:
      break;
  }
  if ((code >> 16) != 3) {
    return make_error(sqlstate::feature_not_supported,
                      "unsupported frontend protocol " + std::to_string(code >> 16) + "." +
                          std::to_string(code & 0xffff) + ": server supports 3.0 to 3.0");
  }
  StartupMessage m;
  m.protocol = code;
  // Pairs of NUL-terminated strings, then a final NUL.
  while (true) {
    std::string_view key;
    if (!r.read_cstring(key))
      return make_error(sqlstate::protocol_violation,
                        "invalid startup packet layout: expected terminator as last byte");
    if (key.empty()) break;
    std::string_view value;
    if (!r.read_cstring(value))
      return make_error(sqlstate::protocol_violation,
                        "invalid startup packet layout: expected terminator as last byte");
    m.params.emplace_back(key, value);
  }
  if (!r.empty())
    return make_error(sqlstate::protocol_violation,
                      "invalid startup packet layout: expected terminator as last byte");
  return StartupPacket{std::move(m)};
}

}  // namespace usher::protocol
