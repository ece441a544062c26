// The client's side of prepared statements: its messages, rewritten for the
// server it has now (translator.h explains the whole).
//
// PostgreSQL's errors are produced by PostgreSQL where we can: an unknown
// name is sent as the client wrote it, so the server answers 26000 with
// that name. An error only Usher can see (a duplicate name, a limit) is
// sent as a statement that fails to parse; the server then aborts the
// transaction and skips to Sync exactly as for the real error, and Usher
// swaps the error's text for its own.
#include "prepared/translator.h"

#include <algorithm>

#include "prepared/sql_command.h"
#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/messages.h"
#include "protocol/writer.h"

namespace usher::prepared {

namespace {

using protocol::Outbox;
using Cmd = SqlCommand::Kind;

// A statement the server refuses to parse: used to make it raise an error in
// place of one only Usher can see.
constexpr std::string_view kFailingStatement = "usher: prepared statement error";
// Never created: the failing statement above does not parse.
constexpr std::string_view kFailingName = "usher_failed";
// What a client name costs besides its text (map node, strings, pointer).
constexpr size_t kNameOverhead = 96;

std::string error_bytes(std::string_view sqlstate, std::string message, int position) {
  std::string out;
  protocol::write_error_response(out, "ERROR", sqlstate, message, position);
  return out;
}

std::string not_found(std::string_view name) {
  return "prepared statement \"" + std::string(name) + "\" does not exist";
}

std::string already_exists(std::string_view name) {
  return "prepared statement \"" + std::string(name) + "\" already exists";
}

constexpr std::string_view kUnnamedNotFound = "unnamed prepared statement does not exist";

std::string command_complete(std::string_view tag) {
  std::string out;
  protocol::write_command_complete(out, tag);
  return out;
}

// In characters, as PostgreSQL counts error positions: UTF-8 bytes that do
// not continue a character.
int32_t utf8_length(std::string_view text) {
  return static_cast<int32_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

size_t cost(std::string_view name, const Statement& s) {
  return name.size() + s.query.size() + s.param_types.size() + kNameOverhead;
}

}  // namespace

namespace {

bool wants_whole(char type) {
  switch (type) {
    case 'P':
    case 'B':
    case 'D':
    case 'C':
    case 'E':
    case 'Q':
    case 'X':
      return true;
    default:
      return false;
  }
}

bool streams_when_large(char type) {
  return type == 'P' || type == 'B' || type == 'Q';
}

}  // namespace

protocol::StreamScanner client_scanner(uint32_t max_length) {
  return protocol::StreamScanner(max_length, kMaxStatementMessage, wants_whole, streams_when_large,
                                 kMaxStatementMessage, kStreamedHead);
}

Translator::Translator(StatementRegistry& registry, size_t max_per_server, uint64_t client_id,
                       uint32_t max_length)
    : registry_(registry),
      max_per_server_(max_per_server),
      client_id_(client_id),
      scan_(client_scanner(max_length)) {}

void Translator::forget_pending() {
  tracker_.clear();
  undone_.clear();
  syncs_answered_ = syncs_sent_;  // the answers that were due will not come
}

void Translator::release_memory() {
  tracker_.release();
  retry_.reset();
  undone_.shrink_to_fit();
}

void Translator::translate(std::span<const uint8_t> bytes, char tx_status, bool in_copy,
                           const protocol::TrackedParams& server, Outbox& out) {
  tx_status_ = tx_status;
  copy_in_ = in_copy;
  server_params_ = &server;
  retry().shape.clear();
  retry_candidate_.reset();
  bool tracker_was_empty = tracker_.empty();
  for (size_t pos = 0; pos < bytes.size();) {
    auto piece = scan_.next(bytes.subspan(pos));
    if (piece.size == 0) break;  // the relay hands over framed pieces only
    client_piece(piece, bytes.subspan(pos, piece.size), out);
    pos += piece.size;
  }
  arm_retry(tracker_was_empty, out);
  // PostgreSQL holds the answers to extended-protocol messages until a
  // Sync or Flush; a client whose pipeline fills the tracker must not wait
  // on answers the server sits on while the relay waits to read its Sync.
  if (!has_room()) out.write_own([](std::string& o) { protocol::write_flush(o); });
}

void Translator::client_piece(const protocol::StreamScanner::Piece& piece,
                              std::span<const uint8_t> bytes, Outbox& out) {
  using Kind = protocol::StreamScanner::Kind;
  if (piece.kind == Kind::kBody) {
    if (!dropping_) out.pass(bytes);
    return;
  }
  dropping_ = false;
  char type = piece.header.type;
  std::string& shape = retry().shape;  // the message types, for arm_retry()
  if (shape.size() < 8) shape.push_back(type);
  if (piece.kind == Kind::kWhole) {
    switch (type) {
      case 'P':
        on_parse(bytes, piece.body, out);
        return;
      case 'B': {
        auto bind = protocol::parse_bind(piece.body);
        if (!bind) {
          refuse(Reply::kBind, "08P01", bind.error().message, out);
          return;
        }
        on_bind(bind->portal, bind->statement, bind->rest, bind->rest.size(), bytes, out);
        return;
      }
      case 'D':
        on_describe(bytes, piece.body, out);
        return;
      case 'C':
        on_close(bytes, piece.body, out);
        return;
      case 'Q':
        on_query(bytes, piece.body, out);
        return;
      case 'E':
        on_execute(bytes, piece.body, out);
        return;
      default:
        break;
    }
  }
  // The start of a message too large to keep whole, or one never inspected.
  auto head = bytes.subspan(std::min(bytes.size(), protocol::kHeaderSize));
  switch (type) {
    case 'P':
      on_large_parse(bytes, out);
      return;
    case 'B': {
      // Only the names are rewritten; the parameters stream through.
      protocol::ByteReader reader(head);
      std::string_view portal, statement;
      if (!reader.read_cstring(portal) || !reader.read_cstring(statement)) {
        dropping_ = true;
        refuse(Reply::kBind, "08P01", "invalid Bind message: no statement name in its first bytes",
               out);
        return;
      }
      size_t names = portal.size() + 1 + statement.size() + 1;
      on_bind(portal, statement, head.subspan(names), piece.header.body_size() - names, {}, out);
      return;
    }
    case 'Q':
      // Too large to look into: it streams through. Whatever it does to the
      // server's statements, the server's answers tell (check_tag()).
      forget_unnamed();
      if (server_) server_->unnamed_owner = 0;
      out.pass(bytes);
      expect(Reply::kQuery);
      return;
    default:
      break;
  }
  // Sync, Flush, FunctionCall, COPY data.
  out.pass(bytes);
  switch (type) {
    case 'S':
      if (copy_in_) break;  // PostgreSQL ignores a Sync during COPY FROM STDIN
      ++syncs_sent_;
      expect(Reply::kSync);
      break;
    case 'F':
      expect(Reply::kQuery);
      break;
    case 'c':  // CopyDone, CopyFail: the COPY ends
    case 'f':
      copy_in_ = false;
      break;
    default:
      break;
  }
}

void Translator::on_parse(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                          Outbox& out) {
  auto parse = protocol::parse_parse(body);
  if (!parse) {
    // Never passed on: what Usher cannot read, the server might read
    // otherwise (and make a statement under the client's name).
    refuse(Reply::kParse, "08P01", parse.error().message, out);
    return;
  }
  if (parse->name.empty()) {
    on_unnamed_parse(msg, parse->query, out);
    return;
  }
  std::string name(parse->name);
  if (statements_.contains(name)) {
    refuse(Reply::kParse, "42P05", already_exists(name), out);
    return;
  }
  auto cmd = classify(parse->query);
  if (cmd && names_statement(*cmd)) {
    // As a shared statement it would act on the server's names, not the
    // client's; the simple protocol gets it translated.
    refuse_command(Reply::kParse, *cmd, out);
    return;
  }
  auto s = registry_.intern(Origin::kProtocol, reading(), parse->query, parse->param_types);
  if (!add_name(name, s, Reply::kParse, out)) return;
  ++counters_.client_parses;
  Undo forget{.kind = Undo::Kind::kForgetClientName, .name = std::move(name)};
  if (server_->statements.touch(s->id)) {
    std::string done;
    protocol::write_parse_complete(done);
    fake(Reply::kParse, std::move(done), std::move(forget));
    return;
  }
  make_room(s, false, out);
  ++counters_.server_parses;
  out.write_own(
      [&](std::string& o) { protocol::write_parse(o, s->server_name, s->query, s->param_types); });
  expect(
      Entry{.reply = Reply::kParse,
            .detail = detail({.client_undo = std::move(forget),
                              .server_undo = {.kind = Undo::Kind::kForgetOnServer, .stmt = s}})});
}

void Translator::on_unnamed_parse(std::span<const uint8_t> msg, std::string_view query,
                                  Outbox& out) {
  // A new unnamed statement replaces the old one, even when it fails.
  forget_unnamed();
  auto cmd = classify(query);
  if (cmd && !cmd->multiple &&
      (cmd->kind == Cmd::kDeallocate || cmd->kind == Cmd::kDeallocateAll)) {
    // psycopg 3 sends DEALLOCATE as Parse/Bind/Describe/Execute: the whole
    // exchange is Usher's to answer, since the statement is not on the
    // server under the client's name. The name is looked up when it is
    // executed.
    unnamed_command_ = std::make_unique<UnnamedCommand>(
        UnnamedCommand{cmd->kind == Cmd::kDeallocateAll, std::move(cmd->name)});
    std::string done;
    protocol::write_parse_complete(done);
    fake(Reply::kParse, std::move(done));
    return;
  }
  if (cmd && names_statement(*cmd)) {
    refuse_command(Reply::kParse, *cmd, out);
    return;
  }
  // The unnamed statement stays the server's, as the client sent it; we
  // keep a copy to replay if the client's Bind lands on another server.
  out.pass(msg);
  unnamed_parse_.assign(reinterpret_cast<const char*>(msg.data()), msg.size());
  unnamed_ = Unnamed::kCopied;
  claim_unnamed();
  expect(Entry{.reply = Reply::kParse,
               .detail = detail({.client_undo = {.kind = Undo::Kind::kForgetUnnamed}})});
}

void Translator::on_large_parse(std::span<const uint8_t> bytes, Outbox& out) {
  protocol::ByteReader reader(bytes.subspan(std::min(bytes.size(), protocol::kHeaderSize)));
  std::string_view name;
  if (!reader.read_cstring(name) || !name.empty()) {
    // A named statement is kept whole to be shared and replayed; past the
    // limit it is refused rather than held in memory.
    dropping_ = true;
    refuse(Reply::kParse, "54000",
           "prepared statement is too large to share between server connections (Usher keeps "
           "at most 1 MiB per statement in transaction pooling mode)",
           out);
    return;
  }
  // The unnamed statement streams through uncopied: it lives on this
  // server only, and is not looked into (check_tag() sees what it does).
  forget_unnamed();
  out.pass(bytes);
  unnamed_ = Unnamed::kUncopied;
  claim_unnamed();
  expect(Entry{.reply = Reply::kParse,
               .detail = detail({.client_undo = {.kind = Undo::Kind::kForgetUnnamed}})});
}

void Translator::on_bind(std::string_view portal, std::string_view statement,
                         std::span<const uint8_t> rest, size_t rest_size,
                         std::span<const uint8_t> msg, Outbox& out) {
  if (portal.empty()) portal_command_ = false;
  if (statement.empty() && unnamed_command_) {
    // Binding a DEALLOCATE sent through the extended protocol.
    portal_command_ = portal.empty();
    dropping_ = true;
    std::string done;
    protocol::write_bind_complete(done);
    fake(Reply::kBind, std::move(done));
    return;
  }
  auto it = statement.empty() ? statements_.end() : statements_.find(statement);
  if (it == statements_.end()) {
    if (refuse_server_name(Reply::kBind, statement, out) ||
        (statement.empty() && !ensure_unnamed(Reply::kBind, out))) {
      dropping_ = true;
      return;
    }
    // Unnamed, or unknown: the server answers 26000 with the client's name.
    if (msg.empty()) {  // streamed: the rest follows as it is
      out.write_own(
          [&](std::string& o) { protocol::write_bind_header(o, portal, statement, rest_size); });
      out.pass(rest);
    } else {
      out.pass(msg);
    }
    expect(Reply::kBind);
    return;
  }
  ++counters_.binds;
  switch (ensure_prepared(it->second, it->first, Reply::kBind, false, out)) {
    case Ready::kHad:
      retry_candidate_ = it->second;
      break;
    case Ready::kPrepared:
      break;
    case Ready::kRefused:
      dropping_ = true;
      return;
  }
  out.write_own([&](std::string& o) {
    protocol::write_bind_header(o, portal, it->second->server_name, rest_size);
  });
  out.pass(rest);
  expect(Entry{.reply = Reply::kBind, .renamed = it->second});
}

void Translator::on_describe(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                             Outbox& out) {
  auto describe = protocol::parse_describe(body);
  if (describe && describe->name.empty() &&
      (describe->kind == 'P' ? portal_command_ : unnamed_command_ != nullptr)) {
    // A DEALLOCATE takes no parameters and returns no rows.
    std::string answer;
    if (describe->kind == 'S') protocol::write_empty_parameter_description(answer);
    protocol::write_no_data(answer);
    fake(describe->kind == 'S' ? Reply::kDescribeStatement : Reply::kDescribePortal,
         std::move(answer));
    return;
  }
  if (!describe) {
    refuse(Reply::kDescribePortal, "08P01", describe.error().message, out);
    return;
  }
  if (describe->kind == 'P') {
    out.pass(msg);
    expect(Reply::kDescribePortal);
    return;
  }
  auto it = statements_.find(describe->name);
  if (it == statements_.end()) {
    if (refuse_server_name(Reply::kDescribeStatement, describe->name, out)) return;
    if (describe->name.empty() && !ensure_unnamed(Reply::kDescribeStatement, out)) return;
    out.pass(msg);
    expect(Reply::kDescribeStatement);
    return;
  }
  if (ensure_prepared(it->second, it->first, Reply::kDescribeStatement, false, out) ==
      Ready::kRefused) {
    return;
  }
  out.write_own([&](std::string& o) { protocol::write_describe(o, 'S', it->second->server_name); });
  expect(Entry{.reply = Reply::kDescribeStatement, .renamed = it->second});
}

void Translator::on_close(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                          Outbox& out) {
  auto close = protocol::parse_close(body);
  if (!close) {
    refuse(Reply::kClose, "08P01", close.error().message, out);
    return;
  }
  std::string done;
  protocol::write_close_complete(done);
  if (close->name.empty()) {
    portal_command_ = false;  // closing the unnamed statement closes its portal too
    if (close->kind == 'S') {
      bool ours = server_->unnamed_owner == client_id_;
      forget_unnamed();
      if (!ours) {
        // The server's unnamed statement is another client's (or nobody's):
        // leave it alone.
        fake(Reply::kClose, std::move(done));
        return;
      }
      server_->unnamed_owner = 0;
    }
  }
  if (close->kind == 'P' || close->name.empty()) {
    out.pass(msg);
    expect(Reply::kClose);
    return;
  }
  // The server keeps the statement (others may share it; the LRU bounds
  // it). Closing a name that does not exist is not an error.
  Undo restore;
  auto it = statements_.find(close->name);
  if (it != statements_.end()) {
    restore = {.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
    erase_name(it);
  }
  fake(Reply::kClose, std::move(done), std::move(restore));
}

void Translator::on_query(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                          Outbox& out) {
  // A simple Query replaces the unnamed statement and portal.
  forget_unnamed();
  server_->unnamed_owner = 0;
  auto sql = protocol::parse_query(body);
  std::optional<SqlCommand> cmd;
  if (sql) cmd = classify(*sql);
  // DEALLOCATE ALL or DISCARD ALL runs on the server when it is among other
  // statements (DISCARD ALL always); its tag tells what it did (check_tag()).
  if (!cmd || cmd->kind == Cmd::kDiscardAll || (cmd->multiple && !names_statement(*cmd))) {
    out.pass(msg);
    expect(Reply::kQuery);
    return;
  }
  auto it = statements_.find(cmd->name);
  // In a failed transaction PostgreSQL answers 25P02 before anything else.
  // What Usher would answer itself is answered that way; what goes to the
  // server is translated as usual and the server says it (a ROLLBACK sent
  // just before may have ended the failed transaction by then).
  const std::string_view kAborted =
      "current transaction is aborted, commands ignored until end of transaction block";
  bool aborted = tx_status_ == 'E';
  if (aborted && (cmd->kind == Cmd::kDeallocate || cmd->kind == Cmd::kDeallocateAll ||
                  (cmd->kind == Cmd::kPrepare && it != statements_.end()))) {
    refuse(Reply::kQuery, "25P02", std::string(kAborted), out);
    return;
  }
  bool names_existing = cmd->kind == Cmd::kExecute || cmd->kind == Cmd::kDeallocate;
  if (names_existing && it == statements_.end()) {
    if (refuse_server_name(Reply::kQuery, cmd->name, out)) return;
    // Unknown: the server answers 26000 with the client's name (its list
    // holds only Usher's names, so no other client's statement is there).
    out.pass(msg);
    expect(Reply::kQuery);
    return;
  }
  switch (cmd->kind) {
    case Cmd::kPrepare: {
      if (it != statements_.end()) {
        refuse(Reply::kQuery, "42P05", already_exists(cmd->name), out);
        return;
      }
      auto s = registry_.intern(Origin::kSql, reading(), sql->substr(cmd->name_end), {});
      bool had = server_->statements.touch(s->id);
      if (had && aborted) {
        refuse(Reply::kQuery, "25P02", std::string(kAborted), out);
        return;
      }
      if (!add_name(cmd->name, s, Reply::kQuery, out)) return;
      ++counters_.client_parses;
      Undo forget{.kind = Undo::Kind::kForgetClientName, .name = cmd->name};
      if (had) {
        fake(Reply::kQuery, command_complete("PREPARE"), std::move(forget), true);
        return;
      }
      make_room(s, true, out);
      ++counters_.server_parses;
      out.write_own([&](std::string& o) {
        protocol::write_query(o, "PREPARE " + s->server_name + s->query);
      });
      expect(Entry{
          .reply = Reply::kQuery,
          .detail = detail({.client_undo = std::move(forget),
                            .server_undo = {.kind = Undo::Kind::kForgetOnServer, .stmt = s}})});
      return;
    }
    case Cmd::kExecute: {
      ++counters_.binds;
      switch (ensure_prepared(it->second, it->first, Reply::kQuery, true, out)) {
        case Ready::kHad:
          retry_candidate_ = it->second;
          break;
        case Ready::kPrepared:
          break;
        case Ready::kRefused:
          return;
      }
      // The client's text with Usher's name spliced in: EXECUTE alone, or
      // inside EXPLAIN or CREATE TABLE AS.
      std::string_view before = sql->substr(0, cmd->name_begin);
      std::string_view after = sql->substr(cmd->name_end);
      const std::string& server_name = it->second->server_name;
      out.write_own([&](std::string& o) {
        std::string text;
        text.reserve(before.size() + server_name.size() + after.size());
        text.append(before).append(server_name).append(after);
        protocol::write_query(o, text);
      });
      // An error position past the name must point into the client's text.
      int32_t sent = utf8_length(before) + utf8_length(server_name);
      int32_t written = utf8_length(sql->substr(0, cmd->name_end));
      std::unique_ptr<Detail> fix;
      if (written != sent) fix = detail({.position_after = sent, .position_shift = written - sent});
      expect(Entry{.reply = Reply::kQuery, .renamed = it->second, .detail = std::move(fix)});
      return;
    }
    case Cmd::kDeallocate: {
      Undo restore{.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
      erase_name(it);
      fake(Reply::kQuery, command_complete("DEALLOCATE"), std::move(restore), true);
      return;
    }
    case Cmd::kDeallocateAll:
      clear_names();
      fake(Reply::kQuery, command_complete("DEALLOCATE ALL"), {}, true);
      return;
    case Cmd::kDiscardAll:  // handled above
      break;
    default:
      refuse_command(Reply::kQuery, *cmd, out);
      return;
  }
}

void Translator::refuse_command(Reply reply, const SqlCommand& cmd, Outbox& out) {
  switch (cmd.kind) {
    case Cmd::kUnparsable:
      // PostgreSQL's own parser said why, in PostgreSQL's words.
      refuse(reply, cmd.error.find("stack depth") != std::string::npos ? "54001" : "42601",
             cmd.error, out, cmd.position);
      return;
    case Cmd::kAmbiguous:
      refuse(reply, "0A000",
             "Usher cannot tell for certain how PostgreSQL will read this query, and it names a "
             "prepared statement: write its string literals without backslashes (or as E'...' "
             "literals), in a client_encoding other than SJIS, BIG5, GBK, UHC, GB18030 or JOHAB",
             out);
      return;
    case Cmd::kTooLarge:
      refuse(reply, "54000",
             "a statement that names a prepared statement may be at most 64 kB long in "
             "transaction pooling mode",
             out);
      return;
    case Cmd::kUnlocatable:
      refuse(reply, "0A000",
             "Usher cannot find the prepared statement's name in this query; write it as a "
             "plain or quoted identifier",
             out);
      return;
    case Cmd::kCombined:
      // Each client's names live only in Usher; splitting the query and
      // answering part of it here would change what an error in one
      // statement does to the others. A clear error loses nothing.
      refuse(reply, "0A000",
             "PREPARE, EXECUTE and DEALLOCATE must be sent as a query of their own in "
             "transaction pooling mode",
             out);
      return;
    default:  // a single PREPARE, EXECUTE or DEALLOCATE: translated only in a simple Query
      refuse(reply, "0A000",
             "PREPARE, EXECUTE and DEALLOCATE must be sent as a simple query (not prepared) in "
             "transaction pooling mode",
             out);
      return;
  }
}

void Translator::on_execute(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                            Outbox& out) {
  std::string_view portal;
  protocol::ByteReader reader(body);
  if (!portal_command_ || !reader.read_cstring(portal) || !portal.empty() || !unnamed_command_) {
    out.pass(msg);
    expect(Reply::kExecute);
    return;
  }
  if (unnamed_command_->all) {
    clear_names();
    fake(Reply::kExecute, command_complete("DEALLOCATE ALL"));
    return;
  }
  auto it = statements_.find(unnamed_command_->name);
  if (it == statements_.end()) {
    refuse(Reply::kExecute, "26000", not_found(unnamed_command_->name), out);
    return;
  }
  Undo restore{.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
  erase_name(it);
  fake(Reply::kExecute, command_complete("DEALLOCATE"), std::move(restore));
}

bool Translator::ensure_unnamed(Reply reply, Outbox& out) {
  if (unnamed_ == Unnamed::kNone) {
    // PostgreSQL's answer; the server's unnamed statement, if any, is
    // another client's.
    refuse(reply, "26000", std::string(kUnnamedNotFound), out);
    return false;
  }
  // The server's unnamed statement is the client's when the claim is known
  // to hold: in the claim's own Sync segment (if its Parse failed, the
  // server skips this too), or once that segment has been answered.
  if (server_->unnamed_owner == client_id_ &&
      (syncs_sent_ == claim_segment_ || syncs_answered_ > claim_segment_)) {
    return true;
  }
  if (unnamed_ == Unnamed::kUncopied) {
    refuse(reply, "0A000",
           "the unnamed prepared statement is over 1 MiB and was prepared on another server "
           "connection; Usher cannot move it in transaction pooling mode, so parse it again",
           out);
    return false;
  }
  ++counters_.server_parses;
  out.write_own([&](std::string& o) { o.append(unnamed_parse_); });
  claim_unnamed();
  expect(Entry{.reply = Reply::kParse,
               .handling = Handling::kSwallow,
               .detail = detail({.server_undo = {.kind = Undo::Kind::kForgetUnnamedOwner}})});
  return true;
}

bool Translator::refuse_server_name(Reply reply, std::string_view name, Outbox& out) {
  if (!is_server_name(name)) return false;
  refuse(reply, "26000", not_found(name), out);
  return true;
}

void Translator::refuse(Reply reply, std::string_view sqlstate, std::string message, Outbox& out,
                        int position) {
  out.write_own([&](std::string& o) {
    if (reply == Reply::kQuery) {
      protocol::write_query(o, kFailingStatement);
    } else {
      protocol::write_parse(o, kFailingName, kFailingStatement, std::string_view("\0\0", 2));
    }
  });
  expect(Entry{.reply = reply,
               .handling = Handling::kReplaceError,
               .detail = detail({.bytes = error_bytes(sqlstate, std::move(message), position)})});
}

Translator::Ready Translator::ensure_prepared(const StatementPtr& s, std::string_view name,
                                              Reply reply, bool simple, Outbox& out) {
  if (server_->statements.touch(s->id)) return Ready::kHad;
  if (s->reading != reading()) {
    // Its text would mean something else here than when it was prepared.
    refuse(reply, "0A000",
           "prepared statement \"" + std::string(name) +
               "\" was prepared with another client_encoding or standard_conforming_strings, "
               "and Usher must prepare it again on this server connection; prepare it again",
           out);
    return Ready::kRefused;
  }
  make_room(s, simple, out);
  prepare_on_server(s, simple, out);
  return Ready::kPrepared;
}

std::string Translator::reading() const {
  const protocol::TrackedParams& p = *server_params_;
  const int encoding = protocol::TrackedParams::kClientEncoding;
  return (p.has(encoding) ? p.get(encoding) : std::string()) +
         (p.standard_conforming_strings() ? " on" : " off");
}

SqlReading Translator::sql_reading() const {
  const protocol::TrackedParams& p = *server_params_;
  const int encoding = protocol::TrackedParams::kClientEncoding;
  return {.standard_conforming_strings = p.standard_conforming_strings(),
          .backslash_in_multibyte = p.has(encoding) && sql::backslash_in_multibyte(p.get(encoding))};
}

// Inside a simple Query exchange, Usher's own messages end with a Sync and
// every answer, errors included, is dropped; in the extended protocol the
// client's Sync ends them, and an error is the client's (its Bind fails).
void Translator::prepare_on_server(const StatementPtr& s, bool simple, Outbox& out) {
  ++counters_.server_parses;
  Undo forget{.kind = Undo::Kind::kForgetOnServer, .stmt = s};
  if (s->origin == Origin::kSql) {  // its text is PREPARE's, not a query
    server_->unnamed_owner = 0;     // a simple Query drops the unnamed statement
    out.write_own(
        [&](std::string& o) { protocol::write_query(o, "PREPARE " + s->server_name + s->query); });
    expect(Entry{.reply = Reply::kQuery,
                 .handling = Handling::kSwallowAll,
                 .detail = detail({.server_undo = std::move(forget)})});
    return;
  }
  out.write_own([&](std::string& o) {
    protocol::write_parse(o, s->server_name, s->query, s->param_types);
    if (simple) protocol::write_sync(o);
  });
  expect(Entry{.reply = Reply::kParse,
               .handling = simple ? Handling::kSwallowAll : Handling::kSwallow,
               .detail = detail({.server_undo = std::move(forget)})});
  if (simple) expect(Entry{.reply = Reply::kSync, .handling = Handling::kSwallowAll});
}

void Translator::close_on_server(const Statement& s, bool simple, Undo undo, Outbox& out) {
  out.write_own([&](std::string& o) {
    protocol::write_close(o, 'S', s.server_name);
    if (simple) protocol::write_sync(o);
  });
  std::unique_ptr<Detail> d;
  if (undo.kind != Undo::Kind::kNone) d = detail({.server_undo = std::move(undo)});
  expect(Entry{.reply = Reply::kClose,
               .handling = simple ? Handling::kSwallowAll : Handling::kSwallow,
               .detail = std::move(d)});
  if (simple) expect(Entry{.reply = Reply::kSync, .handling = Handling::kSwallowAll});
}

void Translator::make_room(const StatementPtr& s, bool simple, Outbox& out) {
  auto victim = server_->statements.insert(s, max_per_server_);
  if (!victim) return;
  ++counters_.evictions;
  close_on_server(**victim, simple, {.kind = Undo::Kind::kRestoreOnServer, .stmt = *victim}, out);
}

bool Translator::add_name(std::string name, StatementPtr s, Reply reply, Outbox& out) {
  size_t c = cost(name, *s);
  if (statement_bytes_ + c > kMaxClientStatementBytes) {
    refuse(reply, "54000",
           "too many prepared statements: one client may hold at most 16 MiB of them in "
           "transaction pooling mode",
           out);
    return false;
  }
  statement_bytes_ += c;
  statements_.emplace(std::move(name), std::move(s));
  return true;
}

void Translator::restore_name(std::string name, StatementPtr s) {
  if (statements_.contains(name)) return;
  statement_bytes_ += cost(name, *s);  // it fit before its Close or DEALLOCATE
  statements_.emplace(std::move(name), std::move(s));
}

void Translator::erase_name(Names::iterator it) {
  statement_bytes_ -= std::min(statement_bytes_, cost(it->first, *it->second));
  statements_.erase(it);
}

void Translator::clear_names() {
  statements_.clear();
  statement_bytes_ = 0;
}

void Translator::claim_unnamed() {
  server_->unnamed_owner = client_id_;
  claim_segment_ = syncs_sent_;
}

void Translator::forget_unnamed() {
  unnamed_ = Unnamed::kNone;
  unnamed_parse_.clear();
  unnamed_command_.reset();
  portal_command_ = false;
}

void Translator::expect(Entry&& e) {
  tracker_.push(std::move(e), undone_);
  apply_undos();
}

void Translator::fake(Reply reply, std::string bytes, Undo client_undo, bool ready_for_query) {
  expect(
      Entry{.reply = reply,
            .handling = Handling::kFake,
            .ready_for_query = ready_for_query,
            .detail = detail({.bytes = std::move(bytes), .client_undo = std::move(client_undo)})});
}

}  // namespace usher::prepared
