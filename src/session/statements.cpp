// Prepared statements in transaction and statement mode.
//
// A client's statement names live here, not on any server. Whatever server
// the client gets, its Bind, Describe and EXECUTE are rewritten to Usher's
// name for the statement (prepared there first if that server lacks it), a
// Parse of a statement the server already has is answered by Usher, and a
// Close only forgets the client's name. The ResponseTracker keeps the
// answers in the order PostgreSQL would have sent them.
//
// PostgreSQL's errors are produced by PostgreSQL where we can: an unknown
// name is sent as the client wrote it, so the server answers 26000 with
// that name. A duplicate name, which the server cannot see, is sent as a
// statement that fails to parse; the server then aborts the transaction
// and skips to Sync exactly as for the real error, and Usher swaps the
// error's text for 42P05's.
#include <algorithm>
#include <atomic>

#include "prepared/sql_command.h"
#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "runtime/worker.h"
#include "session/client_session.h"

namespace usher::session {

namespace {

using prepared::detail;
using prepared::Entry;
using prepared::Handling;
using prepared::Reply;
using prepared::Undo;

// With statements tracked, these must arrive whole to be rewritten.
bool tracking_wants_whole(char type) {
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

// A statement the server refuses to parse: used to make it raise an error in
// place of one only Usher can see.
constexpr std::string_view kFailingStatement = "usher: prepared statement error";
// Never created: the failing statement above does not parse.
constexpr std::string_view kFailingName = "usher_failed";

std::string error_bytes(std::string_view sqlstate, std::string message) {
  std::string out;
  protocol::write_error_response(out, "ERROR", sqlstate, message);
  return out;
}

std::string not_found(std::string_view name) {
  return "prepared statement \"" + std::string(name) + "\" does not exist";
}

std::string already_exists(std::string_view name) {
  return "prepared statement \"" + std::string(name) + "\" already exists";
}

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

}  // namespace

void ClientSession::enable_statement_tracking(size_t max_per_server) {
  static std::atomic<uint64_t> next_id{1};
  tracking_ = true;
  max_prepared_ = max_per_server;
  client_id_ = next_id.fetch_add(1, std::memory_order_relaxed);
  // A Query is looked at for PREPARE/EXECUTE/DEALLOCATE only when it is
  // small: a multi-megabyte INSERT still streams through.
  auto is_query = [](char type) { return type == 'Q'; };
  client_scan_ = protocol::StreamScanner(max_packet_, max_packet_, tracking_wants_whole, is_query,
                                         kMaxControlMessage);
  relay_scan_ = protocol::StreamScanner(max_packet_, max_packet_, tracking_wants_whole, is_query,
                                        kMaxControlMessage);
  // Errors too, to put the client's statement name back in them.
  server_scan_ = protocol::StreamScanner(0x7fffffff, kMaxControlMessage, [](char type) {
    return type == 'E' || server_wants_whole(type);
  });
}

void ClientSession::translate_to_server() {
  to_server_.clear();
  bool tracker_was_empty = tracker_.empty();
  std::string& shape = retry().shape;  // the message types, for arm_retry()
  shape.clear();
  retry_candidate_.reset();
  auto data = in_.readable().first(pending_);
  size_t pos = 0;
  using Kind = protocol::StreamScanner::Kind;
  while (pos < data.size()) {
    auto piece = relay_scan_.next(data.subspan(pos));
    auto bytes = data.subspan(pos, piece.size);
    pos += piece.size;
    if (piece.kind == Kind::kBody) {
      to_server_.pass(bytes);
      continue;
    }
    if (shape.size() < 8) shape.push_back(piece.header.type);
    if (piece.kind == Kind::kWhole) {
      switch (piece.header.type) {
        case 'P':
          on_parse(bytes, piece.body);
          continue;
        case 'B':
          on_bind(bytes, piece.body);
          continue;
        case 'D':
          on_describe(bytes, piece.body);
          continue;
        case 'C':
          on_close(bytes, piece.body);
          continue;
        case 'Q':
          on_query(bytes, piece.body);
          continue;
        case 'E':
          on_execute(bytes, piece.body);
          continue;
        default:
          break;
      }
    }
    if (piece.header.type == 'Q') {  // too large to be one of ours: streamed
      on_query(bytes, {});
      continue;
    }
    // Streamed messages (Sync, Flush, FunctionCall, COPY data).
    to_server_.pass(bytes);
    switch (piece.header.type) {
      case 'S':
        expect(Reply::kSync);
        break;
      case 'F':
        expect(Reply::kQuery);
        break;
      default:
        break;
    }
  }
  arm_retry(tracker_was_empty);
}

void ClientSession::on_parse(std::span<const uint8_t> msg, std::span<const uint8_t> body) {
  auto parse = protocol::parse_parse(body);
  if (!parse || parse->name.empty()) {
    unnamed_command_.reset();
    if (parse && parse_unnamed_command(parse->query)) return;
    // The unnamed statement stays the server's, as the client sent it; we
    // keep a copy to replay if the client's Bind lands on another server.
    to_server_.pass(msg);
    if (!parse) {
      expect(Reply::kParse);
      return;
    }
    unnamed_parse_.assign(reinterpret_cast<const char*>(msg.data()), msg.size());
    server_->unnamed_owner = client_id_;
    expect(Entry{.reply = Reply::kParse,
                 .detail = detail({.client_undo = {.kind = Undo::Kind::kForgetUnnamed}})});
    return;
  }
  auto& stats = pool_->stats().slot(worker_.index);
  std::string name(parse->name);
  if (statements_.contains(name)) {
    refuse(Reply::kParse, "42P05", already_exists(name));
    return;
  }
  pool::bump(stats.client_parse_count, 1);
  auto s =
      pool_->statements().intern(prepared::Origin::kProtocol, parse->query, parse->param_types);
  statements_[name] = s;
  Undo forget{.kind = Undo::Kind::kForgetClientName, .name = std::move(name)};
  if (server_->statements.touch(s->id)) {
    std::string done;
    protocol::write_parse_complete(done);
    fake(Reply::kParse, std::move(done), std::move(forget));
    return;
  }
  make_room(s, false);
  pool::bump(stats.server_parse_count, 1);
  to_server_.write_own([&](std::string& out) {
    protocol::write_parse(out, s->server_name, s->query, s->param_types);
  });
  expect(
      Entry{.reply = Reply::kParse,
            .detail = detail({.client_undo = std::move(forget),
                              .server_undo = {.kind = Undo::Kind::kForgetOnServer, .stmt = s}})});
}

void ClientSession::on_bind(std::span<const uint8_t> msg, std::span<const uint8_t> body) {
  auto bind = protocol::parse_bind(body);
  if (bind && bind->portal.empty()) portal_command_ = false;
  if (bind && bind->statement.empty() && unnamed_command_) {
    // Binding a DEALLOCATE sent through the extended protocol.
    portal_command_ = bind->portal.empty();
    std::string done;
    protocol::write_bind_complete(done);
    fake(Reply::kBind, std::move(done));
    return;
  }
  auto it =
      bind && !bind->statement.empty() ? statements_.find(bind->statement) : statements_.end();
  if (it == statements_.end()) {
    if (bind && refuse_server_name(Reply::kBind, bind->statement)) return;
    // Unnamed, or unknown: the server answers 26000 with the client's name.
    if (bind && bind->statement.empty()) ensure_unnamed();
    to_server_.pass(msg);
  } else {
    pool::bump(pool_->stats().slot(worker_.index).bind_count, 1);
    if (ensure_prepared(it->second, false)) retry_candidate_ = it->second;
    to_server_.write_own([&](std::string& out) {
      protocol::write_bind_header(out, bind->portal, it->second->server_name, bind->rest.size());
    });
    to_server_.pass(bind->rest);
    expect(Entry{.reply = Reply::kBind, .renamed = it->second});
    return;
  }
  expect(Reply::kBind);
}

void ClientSession::on_describe(std::span<const uint8_t> msg, std::span<const uint8_t> body) {
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
  if (!describe || describe->kind == 'P') {
    to_server_.pass(msg);
    expect(Reply::kDescribePortal);
    return;
  }
  auto it = statements_.find(describe->name);
  if (it == statements_.end()) {
    if (refuse_server_name(Reply::kDescribeStatement, describe->name)) return;
    if (describe->name.empty()) ensure_unnamed();
    to_server_.pass(msg);
  } else {
    ensure_prepared(it->second, false);
    to_server_.write_own(
        [&](std::string& out) { protocol::write_describe(out, 'S', it->second->server_name); });
    expect(Entry{.reply = Reply::kDescribeStatement, .renamed = it->second});
    return;
  }
  expect(Reply::kDescribeStatement);
}

void ClientSession::on_close(std::span<const uint8_t> msg, std::span<const uint8_t> body) {
  auto close = protocol::parse_close(body);
  if (close && close->name.empty()) {
    if (close->kind == 'S') {
      unnamed_command_.reset();
      unnamed_parse_.clear();
    }
    portal_command_ = false;  // closing the unnamed statement closes its portal too
  }
  if (!close || close->kind == 'P' || close->name.empty()) {
    to_server_.pass(msg);
    if (close && close->kind == 'S') server_->unnamed_owner = 0;
    expect(Reply::kClose);
    return;
  }
  // The server keeps the statement (others may share it; the LRU bounds
  // it). Closing a name that does not exist is not an error.
  Undo restore;
  auto it = statements_.find(close->name);
  if (it != statements_.end()) {
    restore = {.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
    statements_.erase(it);
  }
  std::string done;
  protocol::write_close_complete(done);
  fake(Reply::kClose, std::move(done), std::move(restore));
}

void ClientSession::on_query(std::span<const uint8_t> msg, std::span<const uint8_t> body) {
  // A simple Query replaces the unnamed statement and portal.
  server_->unnamed_owner = 0;
  unnamed_command_.reset();
  portal_command_ = false;
  auto sql = protocol::parse_query(body);
  std::optional<prepared::SqlCommand> cmd;
  if (sql) cmd = prepared::classify_sql(*sql);
  using Cmd = prepared::SqlCommand::Kind;
  // In a failed transaction PostgreSQL refuses everything with 25P02: let
  // the server say so.
  if (!cmd || (tx_status_ == 'E' && cmd->kind != Cmd::kExecute)) {
    to_server_.pass(msg);
    expect(Reply::kQuery);
    return;
  }
  auto& stats = pool_->stats().slot(worker_.index);
  auto it = statements_.find(cmd->name);
  bool names_existing = cmd->kind == Cmd::kExecute || cmd->kind == Cmd::kDeallocate;
  if (names_existing && it == statements_.end() && refuse_server_name(Reply::kQuery, cmd->name)) {
    return;
  }
  switch (cmd->kind) {
    case Cmd::kPrepare: {
      if (it != statements_.end()) {
        refuse(Reply::kQuery, "42P05", already_exists(cmd->name));
        return;
      }
      pool::bump(stats.client_parse_count, 1);
      auto s = pool_->statements().intern(prepared::Origin::kSql, cmd->tail, {});
      statements_[cmd->name] = s;
      Undo forget{.kind = Undo::Kind::kForgetClientName, .name = cmd->name};
      if (server_->statements.touch(s->id)) {
        fake(Reply::kQuery, command_complete("PREPARE"), std::move(forget), true);
        return;
      }
      make_room(s, true);
      pool::bump(stats.server_parse_count, 1);
      to_server_.write_own([&](std::string& out) {
        protocol::write_query(out, "PREPARE " + s->server_name + s->query);
      });
      expect(Entry{
          .reply = Reply::kQuery,
          .detail = detail({.client_undo = std::move(forget),
                            .server_undo = {.kind = Undo::Kind::kForgetOnServer, .stmt = s}})});
      return;
    }
    case Cmd::kExecute: {
      if (it == statements_.end()) break;  // the server answers 26000
      pool::bump(stats.bind_count, 1);
      if (ensure_prepared(it->second, true)) retry_candidate_ = it->second;
      std::string prefix = "EXECUTE " + it->second->server_name;
      to_server_.write_own(
          [&](std::string& out) { protocol::write_query(out, prefix + std::string(cmd->tail)); });
      // An error position past the name must point into the client's text.
      int32_t sent = utf8_length(prefix);
      int32_t written =
          utf8_length(sql->substr(0, static_cast<size_t>(cmd->tail.data() - sql->data())));
      std::unique_ptr<prepared::Detail> fix;
      if (written != sent) fix = detail({.position_after = sent, .position_shift = written - sent});
      expect(Entry{.reply = Reply::kQuery, .renamed = it->second, .detail = std::move(fix)});
      return;
    }
    case Cmd::kDeallocate: {
      if (it == statements_.end()) break;  // the server answers 26000
      Undo restore{.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
      statements_.erase(it);
      fake(Reply::kQuery, command_complete("DEALLOCATE"), std::move(restore), true);
      return;
    }
    case Cmd::kDeallocateAll:
      statements_.clear();
      fake(Reply::kQuery, command_complete("DEALLOCATE ALL"), {}, true);
      return;
    case Cmd::kCombined:
      // Each client's names live only in Usher; splitting the query and
      // answering part of it here would change what an error in one
      // statement does to the others. A clear error loses nothing.
      refuse(Reply::kQuery, "0A000",
             "PREPARE, EXECUTE, DEALLOCATE and DISCARD ALL must be sent as a query of their "
             "own in transaction pooling mode");
      return;
    case Cmd::kDiscardAll:
      // Runs on the server (it resets more than statements); if it succeeds
      // (not in a transaction block), the statements are gone on both sides.
      to_server_.pass(msg);
      expect(Entry{.reply = Reply::kQuery, .discards_all = true});
      return;
  }
  to_server_.pass(msg);
  expect(Reply::kQuery);
}

bool ClientSession::parse_unnamed_command(std::string_view query) {
  // PostgreSQL refuses several statements in one Parse, so only a query
  // that starts with DEALLOCATE can be one; ordinary queries stop here.
  if (!prepared::starts_with_word(query, "deallocate")) return false;
  auto cmd = prepared::classify_sql(query);
  using Cmd = prepared::SqlCommand::Kind;
  if (!cmd || (cmd->kind != Cmd::kDeallocate && cmd->kind != Cmd::kDeallocateAll)) return false;
  // psycopg 3 sends DEALLOCATE as Parse/Bind/Describe/Execute: the whole
  // exchange is Usher's to answer, since the statement is not on the server
  // under the client's name. The name is looked up when it is executed.
  unnamed_command_ = std::make_unique<UnnamedCommand>(
      UnnamedCommand{cmd->kind == Cmd::kDeallocateAll, std::move(cmd->name)});
  unnamed_parse_.clear();
  std::string done;
  protocol::write_parse_complete(done);
  fake(Reply::kParse, std::move(done));
  return true;
}

void ClientSession::on_execute(std::span<const uint8_t> msg, std::span<const uint8_t> body) {
  std::string_view portal;
  protocol::ByteReader reader(body);
  if (!portal_command_ || !reader.read_cstring(portal) || !portal.empty() || !unnamed_command_) {
    to_server_.pass(msg);
    expect(Reply::kExecute);
    return;
  }
  if (unnamed_command_->all) {
    statements_.clear();
    fake(Reply::kExecute, command_complete("DEALLOCATE ALL"));
    return;
  }
  auto it = statements_.find(unnamed_command_->name);
  if (it == statements_.end()) {
    refuse(Reply::kExecute, "26000", not_found(unnamed_command_->name));
    return;
  }
  Undo restore{.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
  statements_.erase(it);
  fake(Reply::kExecute, command_complete("DEALLOCATE"), std::move(restore));
}

bool ClientSession::refuse_server_name(Reply reply, std::string_view name) {
  if (!prepared::is_server_name(name)) return false;
  refuse(reply, "26000", not_found(name));
  return true;
}

void ClientSession::refuse(Reply reply, std::string_view sqlstate, std::string message) {
  to_server_.write_own([&](std::string& out) {
    if (reply == Reply::kQuery) {
      protocol::write_query(out, kFailingStatement);
    } else {
      protocol::write_parse(out, kFailingName, kFailingStatement, std::string_view("\0\0", 2));
    }
  });
  expect(Entry{.reply = reply,
               .handling = Handling::kReplaceError,
               .detail = detail({.bytes = error_bytes(sqlstate, std::move(message))})});
}

bool ClientSession::ensure_prepared(const prepared::StatementPtr& s, bool simple) {
  if (server_->statements.touch(s->id)) return true;
  make_room(s, simple);
  prepare_on_server(s, simple);
  return false;
}

// Inside a simple Query exchange, Usher's own messages end with a Sync and
// every answer, errors included, is dropped; in the extended protocol the
// client's Sync ends them, and an error is the client's (its Bind fails).
void ClientSession::prepare_on_server(const prepared::StatementPtr& s, bool simple) {
  pool::bump(pool_->stats().slot(worker_.index).server_parse_count, 1);
  Undo forget{.kind = Undo::Kind::kForgetOnServer, .stmt = s};
  if (s->origin == prepared::Origin::kSql) {  // its text is PREPARE's, not a query
    to_server_.write_own([&](std::string& out) {
      protocol::write_query(out, "PREPARE " + s->server_name + s->query);
    });
    expect(Entry{.reply = Reply::kQuery,
                 .handling = Handling::kSwallowAll,
                 .detail = detail({.server_undo = std::move(forget)})});
    return;
  }
  to_server_.write_own([&](std::string& out) {
    protocol::write_parse(out, s->server_name, s->query, s->param_types);
    if (simple) protocol::write_sync(out);
  });
  expect(Entry{.reply = Reply::kParse,
               .handling = simple ? Handling::kSwallowAll : Handling::kSwallow,
               .detail = detail({.server_undo = std::move(forget)})});
  if (simple) expect(Entry{.reply = Reply::kSync, .handling = Handling::kSwallowAll});
}

void ClientSession::close_on_server(const prepared::Statement& s, bool simple, Undo undo) {
  to_server_.write_own([&](std::string& out) {
    protocol::write_close(out, 'S', s.server_name);
    if (simple) protocol::write_sync(out);
  });
  std::unique_ptr<prepared::Detail> d;
  if (undo.kind != Undo::Kind::kNone) d = detail({.server_undo = std::move(undo)});
  expect(Entry{.reply = Reply::kClose,
               .handling = simple ? Handling::kSwallowAll : Handling::kSwallow,
               .detail = std::move(d)});
  if (simple) expect(Entry{.reply = Reply::kSync, .handling = Handling::kSwallowAll});
}

void ClientSession::make_room(const prepared::StatementPtr& s, bool simple) {
  auto victim = server_->statements.insert(s, max_prepared_);
  if (!victim) return;
  pool::bump(pool_->stats().slot(worker_.index).statement_evictions, 1);
  close_on_server(**victim, simple, {.kind = Undo::Kind::kRestoreOnServer, .stmt = *victim});
}

void ClientSession::ensure_unnamed() {
  if (unnamed_parse_.empty() || server_->unnamed_owner == client_id_) return;
  pool::bump(pool_->stats().slot(worker_.index).server_parse_count, 1);
  to_server_.write_own([&](std::string& out) { out.append(unnamed_parse_); });
  server_->unnamed_owner = client_id_;
  expect(Entry{.reply = Reply::kParse, .handling = Handling::kSwallow});
}

void ClientSession::expect(Entry&& e) {
  tracker_.push(std::move(e), undone_);
  apply_undos();
}

void ClientSession::fake(Reply reply, std::string bytes, Undo client_undo, bool ready_for_query) {
  expect(
      Entry{.reply = reply,
            .handling = Handling::kFake,
            .ready_for_query = ready_for_query,
            .detail = detail({.bytes = std::move(bytes), .client_undo = std::move(client_undo)})});
}

}  // namespace usher::session
