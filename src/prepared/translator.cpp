// The client's side of prepared statements: its messages, rewritten for the
// server it has now (translator.h explains the whole). This file has the
// extended protocol's messages; translator_query.cpp has SQL PREPARE,
// EXECUTE and DEALLOCATE, and translator_statements.cpp the records behind
// both.
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
#include "prepared/statement_errors.h"
#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/message_type.h"
#include "protocol/sqlstate.h"

namespace usher::prepared {

namespace {

using protocol::Outbox;
using Cmd = SqlCommand::Kind;

bool wants_whole(char type) {
  switch (type) {
    case protocol::PqMsg_Parse:
    case protocol::PqMsg_Bind:
    case protocol::PqMsg_Describe:
    case protocol::PqMsg_Close:
    case protocol::PqMsg_Execute:
    case protocol::PqMsg_Query:
    case protocol::PqMsg_Terminate:
      return true;
    default:
      return false;
  }
}

bool streams_when_large(char type) {
  return type == protocol::PqMsg_Parse || type == protocol::PqMsg_Bind ||
         type == protocol::PqMsg_Query;
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
      case protocol::PqMsg_Parse:
        on_parse(bytes, piece.body, out);
        return;
      case protocol::PqMsg_Bind: {
        auto bind = protocol::parse_bind(piece.body);
        if (!bind) {
          refuse(Reply::kBind, protocol::sqlstate::protocol_violation, bind.error().message, out);
          return;
        }
        on_bind(bind->portal, bind->statement, bind->rest, bind->rest.size(), bytes, out);
        return;
      }
      case protocol::PqMsg_Describe:
        on_describe(bytes, piece.body, out);
        return;
      case protocol::PqMsg_Close:
        on_close(bytes, piece.body, out);
        return;
      case protocol::PqMsg_Query:
        on_query(bytes, piece.body, out);
        return;
      case protocol::PqMsg_Execute:
        on_execute(bytes, piece.body, out);
        return;
      default:
        break;
    }
  }
  // The start of a message too large to keep whole, or one never inspected.
  auto head = bytes.subspan(std::min(bytes.size(), protocol::kHeaderSize));
  switch (type) {
    case protocol::PqMsg_Parse:
      on_large_parse(bytes, out);
      return;
    case protocol::PqMsg_Bind: {
      // Only the names are rewritten; the parameters stream through.
      protocol::ByteReader reader(head);
      std::string_view portal, statement;
      if (!reader.read_cstring(portal) || !reader.read_cstring(statement)) {
        dropping_ = true;
        refuse(Reply::kBind, protocol::sqlstate::protocol_violation,
               "invalid Bind message: no statement name in its first bytes", out);
        return;
      }
      size_t names = portal.size() + 1 + statement.size() + 1;
      on_bind(portal, statement, head.subspan(names), piece.header.body_size() - names, {}, out);
      return;
    }
    case protocol::PqMsg_Query:
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
    case protocol::PqMsg_Sync:
      if (copy_in_) break;  // PostgreSQL ignores a Sync during COPY FROM STDIN
      ++syncs_sent_;
      expect(Reply::kSync);
      break;
    case protocol::PqMsg_FunctionCall:
      expect(Reply::kQuery);
      break;
    case protocol::PqMsg_CopyDone:  // the COPY ends
    case protocol::PqMsg_CopyFail:
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
    refuse(Reply::kParse, protocol::sqlstate::protocol_violation, parse.error().message, out);
    return;
  }
  if (parse->name.empty()) {
    on_unnamed_parse(msg, parse->query, out);
    return;
  }
  std::string name(parse->name);
  if (statements_.contains(name)) {
    refuse(Reply::kParse, protocol::sqlstate::duplicate_prepared_statement, already_exists(name),
           out);
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
    refuse(Reply::kParse, protocol::sqlstate::program_limit_exceeded,
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
  if (!use_statement(it->second, it->first, Reply::kBind, false, out)) {
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
      (describe->kind == protocol::kTargetPortal ? portal_command_ : unnamed_command_ != nullptr)) {
    // A DEALLOCATE takes no parameters and returns no rows.
    std::string answer;
    if (describe->kind == protocol::kTargetStatement)
      protocol::write_empty_parameter_description(answer);
    protocol::write_no_data(answer);
    fake(describe->kind == protocol::kTargetStatement ? Reply::kDescribeStatement
                                                      : Reply::kDescribePortal,
         std::move(answer));
    return;
  }
  if (!describe) {
    refuse(Reply::kDescribePortal, protocol::sqlstate::protocol_violation, describe.error().message,
           out);
    return;
  }
  if (describe->kind == protocol::kTargetPortal) {
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
  out.write_own([&](std::string& o) {
    protocol::write_describe(o, protocol::kTargetStatement, it->second->server_name);
  });
  expect(Entry{.reply = Reply::kDescribeStatement, .renamed = it->second});
}

void Translator::on_close(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                          Outbox& out) {
  auto close = protocol::parse_close(body);
  if (!close) {
    refuse(Reply::kClose, protocol::sqlstate::protocol_violation, close.error().message, out);
    return;
  }
  std::string done;
  protocol::write_close_complete(done);
  if (close->name.empty()) {
    portal_command_ = false;  // closing the unnamed statement closes its portal too
    if (close->kind == protocol::kTargetStatement) {
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
  if (close->kind == protocol::kTargetPortal || close->name.empty()) {
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

}  // namespace usher::prepared
