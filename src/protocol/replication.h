// The streaming replication sub-protocol: what travels inside CopyData once
// START_REPLICATION has answered CopyBothResponse (PostgreSQL's "Streaming
// Replication Protocol"), and the "X/Y" spelling of WAL positions (LSNs).
// Every integer is big-endian; every decoder checks its bounds and returns
// an error rather than reading past the end, as the server is not trusted.
//
// Pure: no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace usher::protocol {

// The first byte of a CopyData payload on a replication connection.
inline constexpr char kReplXLogData = 'w';          // server: WAL data (decoded output)
inline constexpr char kReplPrimaryKeepalive = 'k';  // server: where it is, reply wanted?
inline constexpr char kReplStandbyStatus = 'r';     // client: how far it has processed

// 'w' + wal_start + wal_end + send_time, before the data.
inline constexpr size_t kXLogDataHeaderSize = 1 + 8 + 8 + 8;
// 'k' + wal_end + send_time + reply_requested.
inline constexpr size_t kPrimaryKeepaliveSize = 1 + 8 + 8 + 1;

struct XLogData {
  uint64_t wal_start = 0;
  uint64_t wal_end = 0;
  int64_t send_time = 0;  // microseconds since 2000-01-01 UTC
  // The data as far as the payload given holds it: for a logical slot, one
  // line of the output plugin.
  std::span<const uint8_t> data;
};
// `payload`: a CopyData body starting with 'w', or only its first bytes
// (then `data` is a prefix of the message's data).
Result<XLogData> parse_xlog_data(std::span<const uint8_t> payload);

struct PrimaryKeepalive {
  uint64_t wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;  // answer at once, or the server may time us out
};
// `payload`: a whole CopyData body starting with 'k'.
Result<PrimaryKeepalive> parse_primary_keepalive(std::span<const uint8_t> payload);

struct StandbyStatus {
  uint64_t write = 0;  // received and written
  uint64_t flush = 0;  // durable: a logical slot's confirmed_flush_lsn, so WAL before it can go
  uint64_t apply = 0;
  int64_t time = 0;  // microseconds since 2000-01-01 UTC
  bool reply_requested = false;
};
// Appends a whole CopyData message ('d', length, 'r', ...).
void write_standby_status(std::string& out, const StandbyStatus& status);

// PostgreSQL's timestamps count microseconds from 2000-01-01 00:00 UTC.
int64_t to_pg_timestamp(std::chrono::system_clock::time_point t);

// "16/B374D848": two hexadecimal halves of 1 to 8 digits each, as pg_lsn
// reads them. nullopt for anything else.
std::optional<uint64_t> parse_lsn(std::string_view text);
// The same spelling, upper-case, as PostgreSQL prints it.
std::string format_lsn(uint64_t lsn);

}  // namespace usher::protocol
