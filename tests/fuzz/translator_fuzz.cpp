// libFuzzer target for prepared-statement translation (prepared::Translator)
// and the SQL classification under it (classify_sql): the code that
// rewrites what one client sends to a server shared with others. The input
// drives a script: client messages built from a small vocabulary of names
// and SQL (so that names collide and commands appear), raw client bytes,
// server answers of every kind (tags such as DEALLOCATE ALL, errors that
// quote Usher's names), and switches of server between transactions.
// Invariants, checked with __builtin_trap():
//   - classify_sql: a located name lies inside the text and reads back as
//     the parsed name;
//   - everything the translator writes, to the server or to the client, is
//     well framed, and a statement name it sends the server is one of
//     Usher's ("usher_N"), the unnamed one, or a name the client wrote;
//   - a client's statements stay within kMaxClientStatementBytes, and the
//     answers due within what the relay allows (it stops feeding at
//     kMaxPendingAnswers).
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "prepared/sql_command.h"
#include "prepared/translator.h"
#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/writer.h"

namespace {

namespace prepared = usher::prepared;
namespace protocol = usher::protocol;
using Kind = protocol::StreamScanner::Kind;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

constexpr std::array<const char*, 6> kNames = {"", "a", "b", "usher_1", "usher_2", "S1"};
constexpr std::array<const char*, 16> kSql = {
    "select 1",
    "select $1::int",
    "prepare a as select 1",
    "PREPARE b(int) AS select $1",
    "execute a",
    "EXECUTE b(2)",
    "explain analyze execute usher_1",
    "create table t as execute a",
    "deallocate a",
    "DEALLOCATE ALL",
    "discard all",
    "select 1; deallocate all",
    "select 'x\\''; deallocate all; --'",
    "prepare a as select 1; execute a",
    "execute U&\"a\"",
    "deallocate prepare usher_2",
};
constexpr std::array<const char*, 8> kTags = {"SELECT 1",   "DEALLOCATE ALL", "DISCARD ALL",
                                              "PREPARE",    "DEALLOCATE",     "EXPLAIN",
                                              "SELECT 0\0", "INSERT 0 1"};
constexpr std::array<const char*, 6> kCodes = {"26000", "42P05", "0A000",
                                               "25P02", "42601", "XX000"};

std::string pick_sql(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return kSql[in.ConsumeIntegralInRange<size_t>(0, kSql.size() - 1)];
  return in.ConsumeRandomLengthString(64);
}

std::string pick_name(FuzzedDataProvider& in) {
  return kNames[in.ConsumeIntegralInRange<size_t>(0, kNames.size() - 1)];
}

// One client message, well framed (or, rarely, raw bytes).
std::string client_message(FuzzedDataProvider& in) {
  std::string out;
  switch (in.ConsumeIntegralInRange(0, 9)) {
    case 0:
      protocol::write_parse(
          out, pick_name(in), pick_sql(in),
          in.ConsumeBool() ? std::string_view("\0\0", 2) : std::string_view("\0\1\0\0\0\x17", 6));
      break;
    case 1: {
      std::string params = in.ConsumeRandomLengthString(16);
      protocol::write_bind(out, pick_name(in), pick_name(in),
                           {reinterpret_cast<const uint8_t*>(params.data()), params.size()});
      break;
    }
    case 2:
      protocol::write_describe(out, in.ConsumeBool() ? 'S' : 'P', pick_name(in));
      break;
    case 3:
      protocol::write_close(out, in.ConsumeBool() ? 'S' : 'P', pick_name(in));
      break;
    case 4:
      protocol::write_execute(out, pick_name(in), 0);
      break;
    case 5:
      protocol::write_sync(out);
      break;
    case 6:
      protocol::write_flush(out);
      break;
    case 7:
      protocol::write_query(out, pick_sql(in));
      break;
    case 8: {  // a message with a random body
      std::string body = in.ConsumeRandomLengthString(32);
      protocol::MessageWriter(out)
          .begin("PBDCEQ"[in.ConsumeIntegralInRange(0, 5)])
          .bytes(body)
          .finish();
      break;
    }
    default: {  // a Bind too large to keep whole: its parameters stream
      protocol::write_bind_header(out, "", pick_name(in), prepared::kMaxStatementMessage + 10);
      out.append(prepared::kMaxStatementMessage + 10, 'x');
      break;
    }
  }
  return out;
}

// One server message.
std::string server_message(FuzzedDataProvider& in, char& type) {
  std::string out;
  static constexpr char kTypes[] = "123CEZTnts IDNS";
  type = kTypes[in.ConsumeIntegralInRange<size_t>(0, sizeof(kTypes) - 2)];
  protocol::MessageWriter w(out);
  w.begin(type);
  switch (type) {
    case 'C':
      w.cstring(kTags[in.ConsumeIntegralInRange<size_t>(0, kTags.size() - 1)]);
      break;
    case 'E': {
      std::string name = "usher_" + std::to_string(in.ConsumeIntegralInRange(1, 4));
      w.u8('S').cstring("ERROR").u8('C');
      w.cstring(kCodes[in.ConsumeIntegralInRange<size_t>(0, kCodes.size() - 1)]);
      w.u8('M').cstring(in.ConsumeBool() ? "prepared statement \"" + name + "\" does not exist"
                                         : "cached plan must not change result type");
      if (in.ConsumeBool()) w.u8('P').cstring(std::to_string(in.ConsumeIntegral<uint8_t>()));
      w.u8(0);
      break;
    }
    case 'Z':
      w.u8("ITE"[in.ConsumeIntegralInRange(0, 2)]);
      break;
    default:
      w.bytes(in.ConsumeRandomLengthString(8));
      break;
  }
  w.finish();
  return out;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Everything in `out` is well framed; statement names sent to a server are
// Usher's, unnamed, or one the client wrote.
void check_outbox(const protocol::Outbox& out, bool to_server) {
  std::string all;
  out.for_each_run(
      [&](const void* data, size_t size) { all.append(static_cast<const char*>(data), size); });
  auto data = bytes_of(all);
  while (!data.empty()) {
    auto h = protocol::peek_header(data, 0x3fffffff);
    check(h.status == protocol::FrameStatus::kReady);
    check(data.size() >= h.header.total());
    auto body = data.subspan(protocol::kHeaderSize, h.header.body_size());
    if (to_server && h.header.type == 'B' && body.size() < 100) {
      if (auto b = protocol::parse_bind(body)) {
        bool ok = b->statement.empty() || prepared::is_server_name(b->statement);
        for (const char* n : kNames)
          ok = ok || b->statement == n;
        check(ok);
      }
    }
    data = data.subspan(h.header.total());
  }
}

void classify_checks(const std::string& sql) {
  for (bool scs : {true, false}) {
    auto c = prepared::classify_sql(sql, {.standard_conforming_strings = scs});
    if (!c || c->name_end == 0) continue;
    check(c->name_begin < c->name_end && c->name_end <= sql.size());
    check(usher::sql::fold_identifier(
              std::string_view(sql).substr(c->name_begin, c->name_end - c->name_begin)) == c->name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  prepared::StatementRegistry registry;
  prepared::Translator t(registry, in.ConsumeIntegralInRange<size_t>(1, 3), 7, 0x3fffffff);
  std::array<prepared::ServerState, 2> servers;
  std::array<protocol::TrackedParams, 2> params;
  size_t current = 0;
  t.attach(&servers[current]);
  char tx_status = 'I';
  int steps = 0;
  while (in.remaining_bytes() > 0 && ++steps < 64) {
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0:
      case 1: {  // a batch of client messages, as the relay feeds them
        if (!t.has_room()) break;
        std::string batch;
        for (int n = in.ConsumeIntegralInRange(1, 4); n > 0; --n)
          batch += client_message(in);
        classify_checks(pick_sql(in));
        protocol::Outbox to_server;
        protocol::TrackedParams& p = params[current];  // outlives the batch, as a server's
        if (in.ConsumeBool()) p.set("standard_conforming_strings", in.ConsumeBool() ? "off" : "on");
        if (in.ConsumeBool()) p.set("client_encoding", in.ConsumeBool() ? "SJIS" : "LATIN1");
        // Framed as the relay frames them: whole pieces, never half a header.
        protocol::StreamScanner scan = prepared::client_scanner(0x3fffffff);
        auto bytes = bytes_of(batch);
        size_t framed = 0;
        while (framed < bytes.size()) {
          auto piece = scan.next(bytes.subspan(framed));
          if (piece.kind == Kind::kNeedMore || piece.kind == Kind::kInvalid) break;
          framed += piece.size;
        }
        t.translate(bytes.first(framed), tx_status, in.ConsumeBool(), p, to_server);
        check_outbox(to_server, true);
        break;
      }
      case 2: {  // a server answer, and the made-up answers due
        protocol::Outbox to_client;
        while (t.fake_due())
          t.take_fake(to_client);
        char type = 0;
        std::string msg = server_message(in, type);
        t.server_message(type, bytes_of(msg), true, to_client);
        if (type == 'Z') tx_status = static_cast<char>(msg.back());
        if (t.retry_due()) {
          protocol::Outbox to_server;
          t.write_retry(to_server);
          check_outbox(to_server, true);
        }
        check_outbox(to_client, false);
        break;
      }
      default:  // a new transaction on the other server
        if (t.idle()) {
          current ^= 1;
          t.attach(&servers[current]);
        }
        break;
    }
    check(t.statement_bytes() <= prepared::kMaxClientStatementBytes);
    check(t.pending_answers() <= prepared::kMaxPendingAnswers + 64);
  }
  return 0;
}
