#include "protocol/replication.h"

#include <cstdio>

#include "protocol/byte_reader.h"
#include "protocol/message_type.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::protocol {
namespace {

// Seconds from 1970-01-01 (Unix) to 2000-01-01 (PostgreSQL's epoch).
constexpr int64_t kPgEpochOffsetSeconds = 946684800;
constexpr size_t kMaxLsnHalfDigits = 8;

Error malformed(std::string_view what) {
  return make_error(sqlstate::protocol_violation,
                    "malformed " + std::string(what) + " from the replication stream");
}

bool read_u64(ByteReader& r, uint64_t& out) {
  uint32_t high, low;
  if (!r.read_u32(high) || !r.read_u32(low)) return false;
  out = (uint64_t{high} << 32) | low;
  return true;
}

void append_u64(MessageWriter& w, uint64_t v) {
  w.i32(static_cast<int32_t>(static_cast<uint32_t>(v >> 32)));
  w.i32(static_cast<int32_t>(static_cast<uint32_t>(v)));
}

// One half of an LSN: 1 to 8 hexadecimal digits.
std::optional<uint32_t> parse_hex_half(std::string_view s) {
  if (s.empty() || s.size() > kMaxLsnHalfDigits) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | digit;
  }
  return v;
}

}  // namespace

Result<XLogData> parse_xlog_data(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t kind;
  XLogData x;
  uint64_t time;
  if (!r.read_u8(kind) || kind != kReplXLogData || !read_u64(r, x.wal_start) ||
      !read_u64(r, x.wal_end) || !read_u64(r, time)) {
    return malformed("XLogData");
  }
  x.send_time = static_cast<int64_t>(time);
  x.data = r.rest();
  return x;
}

Result<PrimaryKeepalive> parse_primary_keepalive(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t kind, reply;
  PrimaryKeepalive k;
  uint64_t time;
  if (!r.read_u8(kind) || kind != kReplPrimaryKeepalive || !read_u64(r, k.wal_end) ||
      !read_u64(r, time) || !r.read_u8(reply) || !r.empty() || reply > 1) {
    return malformed("primary keepalive");
  }
  k.send_time = static_cast<int64_t>(time);
  k.reply_requested = reply == 1;
  return k;
}

void write_standby_status(std::string& out, const StandbyStatus& s) {
  MessageWriter w(out);
  w.begin(PqMsg_CopyData).u8(static_cast<uint8_t>(kReplStandbyStatus));
  append_u64(w, s.write);
  append_u64(w, s.flush);
  append_u64(w, s.apply);
  append_u64(w, static_cast<uint64_t>(s.time));
  w.u8(s.reply_requested ? 1 : 0);
  w.finish();
}

int64_t to_pg_timestamp(std::chrono::system_clock::time_point t) {
  using std::chrono::microseconds;
  int64_t unix_us = std::chrono::duration_cast<microseconds>(t.time_since_epoch()).count();
  return unix_us - kPgEpochOffsetSeconds * 1000000;
}

std::optional<uint64_t> parse_lsn(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto high = parse_hex_half(text.substr(0, slash));
  auto low = parse_hex_half(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return (uint64_t{*high} << 32) | *low;
}

std::string format_lsn(uint64_t lsn) {
  char text[2 * kMaxLsnHalfDigits + 2];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return text;
}

}  // namespace usher::protocol
