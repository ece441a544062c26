// Startup-phase packets: the first thing a client sends. Which one it is
// depends on the int32 code after the length.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"

namespace usher::protocol {

inline constexpr uint32_t kProtocolV3 = 196608;  // 3 << 16
inline constexpr uint32_t kCancelRequestCode = 80877102;
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;

struct StartupMessage {
  uint32_t protocol = 0;  // major << 16 | minor
  // Parameter pairs in the order sent; views into the packet.
  std::vector<std::pair<std::string_view, std::string_view>> params;
  std::string_view get(std::string_view key) const;
};

struct CancelRequest {
  uint32_t pid = 0;
  uint32_t secret = 0;
};

struct SslRequest {};
struct GssEncRequest {};

using StartupPacket = std::variant<StartupMessage, CancelRequest, SslRequest, GssEncRequest>;

// `packet` is the whole packet including its length word. Errors carry 08P01
// (or 0A000 for an unsupported major version) as PostgreSQL sends them.
Result<StartupPacket> parse_startup_packet(std::span<const uint8_t> packet);

}  // namespace usher::protocol
