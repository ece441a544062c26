// libFuzzer target for the message decoders in protocol/messages.h and
// protocol/extended.h. The first
// input byte picks the parser, the rest is the message body. Beyond "never
// crash", every view a parser returns must lie inside the body, and where the
// layout is canonical the writer must reproduce the bytes the parser read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/writer.h"

namespace {

namespace protocol = usher::protocol;
using protocol::as_chars;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

std::span<const uint8_t> body_span;

bool inside(std::string_view v) {
  auto* begin = reinterpret_cast<const char*>(body_span.data());
  return v.size() == 0 || (v.data() >= begin && v.data() + v.size() <= begin + body_span.size());
}

bool no_nul(std::string_view v) {
  return v.find('\0') == std::string_view::npos;
}

// `wire` holds exactly one message from the writer; its body must be a prefix
// of what was parsed (parsers ignore trailing bytes).
void check_reencodes(const std::string& wire, size_t expect_body_prefix = SIZE_MAX) {
  auto bytes = std::span(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  protocol::HeaderResult h = protocol::peek_header(bytes, 0xffffffffu);
  check(h.status == protocol::FrameStatus::kReady);
  check(h.header.total() == wire.size());
  std::string_view written = std::string_view(wire).substr(protocol::kHeaderSize);
  std::string_view original = as_chars(body_span);
  check(original.substr(0, written.size()) == written);
  if (expect_body_prefix != SIZE_MAX) check(written.size() == expect_body_prefix);
}

void fuzz_authentication() {
  auto r = protocol::parse_authentication(body_span);
  if (!r) {
    check(body_span.size() < 4 || r.error().sqlstate == "08P01");
    return;
  }
  check(body_span.size() >= 4);
  std::string wire;
  switch (static_cast<protocol::AuthCode>(r->code)) {
    case protocol::AuthCode::kMd5Password:
      protocol::write_authentication_md5(wire, r->md5_salt.data());
      check_reencodes(wire, 8);
      break;
    case protocol::AuthCode::kSasl: {
      protocol::MessageWriter w(wire);
      w.begin('R').i32(r->code);
      for (auto mech : r->mechanisms) {
        check(!mech.empty() && no_nul(mech) && inside(mech));
        w.cstring(mech);
      }
      w.u8(0).finish();
      check_reencodes(wire);
      break;
    }
    case protocol::AuthCode::kSaslContinue:
      check(inside(r->data));
      check(r->data.size() == body_span.size() - 4);
      protocol::write_authentication_sasl_continue(wire, r->data);
      check_reencodes(wire, body_span.size());
      break;
    case protocol::AuthCode::kSaslFinal:
      check(inside(r->data));
      protocol::write_authentication_sasl_final(wire, r->data);
      check_reencodes(wire, body_span.size());
      break;
    default:
      check(r->mechanisms.empty() && r->data.empty());
      break;
  }
}

void fuzz_parameter_status() {
  auto r = protocol::parse_parameter_status(body_span);
  if (!r) return;
  check(inside(r->name) && inside(r->value) && no_nul(r->name) && no_nul(r->value));
  std::string wire;
  protocol::write_parameter_status(wire, r->name, r->value);
  check_reencodes(wire);
}

void fuzz_backend_key_data() {
  auto r = protocol::parse_backend_key_data(body_span);
  check(r.ok() == (body_span.size() >= 8));
  if (!r) return;
  std::string wire;
  protocol::write_backend_key_data(wire, r->pid, r->secret);
  check_reencodes(wire, 8);
}

void fuzz_error_fields() {
  auto r = protocol::parse_error_fields(body_span);
  if (!r) return;
  for (auto v : {r->severity, r->code, r->message, r->detail})
    check(inside(v) && no_nul(v));
  // A well-formed list ends in a NUL field code (trailing bytes are ignored).
  check(std::find(body_span.begin(), body_span.end(), 0) != body_span.end());
  // Written back in canonical form, the same fields come out again.
  std::string wire;
  protocol::MessageWriter(wire)
      .begin('E')
      .u8('V')
      .cstring(r->severity)
      .u8('C')
      .cstring(r->code)
      .u8('M')
      .cstring(r->message)
      .u8('D')
      .cstring(r->detail)
      .u8(0)
      .finish();
  auto again = protocol::parse_error_fields(
      std::span(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()).subspan(5));
  check(again.ok());
  check(again->severity == r->severity && again->code == r->code && again->message == r->message &&
        again->detail == r->detail);
}

void fuzz_query() {
  auto r = protocol::parse_query(body_span);
  check(r.ok() == (std::find(body_span.begin(), body_span.end(), 0) != body_span.end()));
  if (!r) return;
  check(inside(*r) && no_nul(*r));
  std::string wire;
  protocol::write_query(wire, *r);
  check_reencodes(wire);
}

void fuzz_sasl_initial_response() {
  auto r = protocol::parse_sasl_initial_response(body_span);
  if (!r) return;
  check(inside(r->mechanism) && inside(r->data) && no_nul(r->mechanism));
  std::string wire;
  protocol::write_sasl_initial_response(wire, r->mechanism, r->data);
  // Data length -1 (no initial response) is written back as 0.
  size_t len_at = r->mechanism.size() + 1;
  check(body_span.size() >= len_at + 4);
  if (protocol::load_u32(body_span.data() + len_at) == 0xffffffffu) {
    check(r->data.empty());
  } else {
    check_reencodes(wire);
  }
}

void fuzz_password_message() {
  auto r = protocol::parse_password_message(body_span);
  if (!r) return;
  check(inside(*r) && no_nul(*r));
  std::string wire;
  protocol::write_password_message(wire, *r);
  check_reencodes(wire);
}

// Parse, Bind, Describe and Close: what Usher rewrites must re-encode to the
// exact bytes it came from.
void fuzz_extended() {
  if (auto p = protocol::parse_parse(body_span)) {
    check(inside(p->name) && inside(p->query) && inside(p->param_types));
    std::string wire;
    protocol::write_parse(wire, p->name, p->query, p->param_types);
    check_reencodes(wire, body_span.size());
  }
  if (auto b = protocol::parse_bind(body_span)) {
    check(inside(b->portal) && inside(b->statement) && inside(as_chars(b->rest)));
    std::string wire;
    protocol::write_bind(wire, b->portal, b->statement, b->rest);
    check_reencodes(wire, body_span.size());
  }
  for (auto parse : {protocol::parse_describe, protocol::parse_close}) {
    if (auto t = parse(body_span)) {
      check((t->kind == 'S' || t->kind == 'P') && inside(t->name));
      std::string wire;
      protocol::write_close(wire, t->kind, t->name);
      check_reencodes(wire, body_span.size());
    }
  }
}

// DataRow (auth_query's answer): every value lies inside the body, and the
// values with their length words account for all of it.
void fuzz_data_row() {
  auto r = protocol::parse_data_row(body_span);
  if (!r) return;
  size_t total = 2;
  for (const auto& v : *r) {
    total += 4;
    if (v) {
      check(inside(*v));
      total += v->size();
    }
  }
  check(total == body_span.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The rest of libFuzzer's exact-size buffer: reads past it hit ASan.
  body_span = std::span<const uint8_t>(data + 1, size - 1);
  switch (data[0] % 9) {
    case 0:
      fuzz_authentication();
      break;
    case 1:
      fuzz_parameter_status();
      break;
    case 2:
      fuzz_backend_key_data();
      break;
    case 3:
      fuzz_error_fields();
      break;
    case 4:
      fuzz_query();
      break;
    case 5:
      fuzz_sasl_initial_response();
      break;
    case 6:
      fuzz_password_message();
      break;
    case 7:
      fuzz_extended();
      break;
    case 8:
      fuzz_data_row();
      break;
  }
  return 0;
}
