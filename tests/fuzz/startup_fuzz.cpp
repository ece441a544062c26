// libFuzzer target for the startup phase: peek_startup_header on the first
// bytes a client sends, and parse_startup_packet on the packet it frames (and
// on the raw input, whose length word may disagree with its size). Beyond
// "never crash", every accepted packet must lie inside its input and
// re-encode to exactly the same bytes, since the layout is canonical.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/frame.h"
#include "protocol/startup.h"
#include "protocol/writer.h"

namespace {

namespace protocol = usher::protocol;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool inside(std::string_view v, std::span<const uint8_t> packet) {
  auto* begin = reinterpret_cast<const char*>(packet.data());
  return v.data() >= begin && v.data() + v.size() <= begin + packet.size();
}

std::string_view as_view(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void check_packet(std::span<const uint8_t> packet) {
  auto parsed = protocol::parse_startup_packet(packet);
  if (!parsed) {
    const auto& code = parsed.error().sqlstate;
    check(code == "08P01" || code == "0A000");
    check(!parsed.error().message.empty());
    return;
  }
  // Whatever was accepted had a length word equal to the packet size.
  check(packet.size() >= 8);
  check(protocol::load_u32(packet.data()) == packet.size());

  std::string again;
  if (auto* m = std::get_if<protocol::StartupMessage>(&*parsed)) {
    check(m->protocol >> 16 == 3);
    std::vector<std::pair<std::string, std::string>> params;
    for (const auto& [k, v] : m->params) {
      check(!k.empty());
      check(inside(k, packet) && inside(v, packet));
      check(k.find('\0') == std::string_view::npos && v.find('\0') == std::string_view::npos);
      params.emplace_back(k, v);
    }
    if (!m->params.empty()) check(m->get(m->params.front().first) == m->params.front().second);
    protocol::write_startup_message(again, params);
    // The writer always speaks 3.0; patch in the minor version sent.
    again[6] = char(m->protocol >> 8);
    again[7] = char(m->protocol);
    check(again == as_view(packet));
  } else if (auto* c = std::get_if<protocol::CancelRequest>(&*parsed)) {
    protocol::write_cancel_request(again, c->pid, c->secret);
    check(again == as_view(packet));
  } else {
    uint32_t code = protocol::load_u32(packet.data() + 4);
    check(std::holds_alternative<protocol::SslRequest>(*parsed)
              ? code == protocol::kSslRequestCode
              : code == protocol::kGssEncRequestCode);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);

  // The way the listener reads a client: frame first, then parse.
  protocol::StartupHeader h = protocol::peek_startup_header(input);
  if (size < 4) {
    check(h.status == protocol::FrameStatus::kNeedMore);
  } else {
    check(h.length == protocol::load_u32(data));
    bool in_range = h.length >= 8 && h.length <= protocol::kMaxStartupPacket;
    check((h.status == protocol::FrameStatus::kReady) == in_range);
    check((h.status == protocol::FrameStatus::kInvalid) == !in_range);
    if (in_range && size >= h.length) {
      // Parse an exact-size copy so ASan sees any read past the packet.
      std::vector<uint8_t> packet(data, data + h.length);
      check_packet(packet);
    }
  }

  // And the raw input, whatever its length word says.
  check_packet(input);
  return 0;
}
