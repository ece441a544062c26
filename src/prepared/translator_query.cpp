// SQL-level prepared statements: PREPARE, EXECUTE and DEALLOCATE in a
// simple Query, translated to Usher's names or answered by Usher; a
// DEALLOCATE sent through the extended protocol (psycopg 3), answered at
// its Execute; and the refusal of SQL that names a prepared statement where
// it cannot be translated (translator.cpp has the extended protocol's
// messages, translator_statements.cpp the records behind both).
#include <algorithm>

#include "prepared/statement_errors.h"
#include "prepared/translator.h"
#include "protocol/byte_reader.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::prepared {

namespace {

using protocol::Outbox;
using Cmd = SqlCommand::Kind;

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
  bool aborted = tx_status_ == protocol::kTransactionFailed;
  if (aborted && (cmd->kind == Cmd::kDeallocate || cmd->kind == Cmd::kDeallocateAll ||
                  (cmd->kind == Cmd::kPrepare && it != statements_.end()))) {
    refuse(Reply::kQuery, protocol::sqlstate::in_failed_sql_transaction, std::string(kAborted),
           out);
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
        refuse(Reply::kQuery, protocol::sqlstate::duplicate_prepared_statement,
               already_exists(cmd->name), out);
        return;
      }
      auto s = registry_.intern(Origin::kSql, reading(), sql->substr(cmd->name_end), {});
      bool had = server_->statements.touch(s->id);
      if (had && aborted) {
        refuse(Reply::kQuery, protocol::sqlstate::in_failed_sql_transaction, std::string(kAborted),
               out);
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
      if (!use_statement(it->second, it->first, Reply::kQuery, true, out)) return;
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
      refuse(reply,
             cmd.error.find("stack depth") != std::string::npos
                 ? protocol::sqlstate::statement_too_complex
                 : protocol::sqlstate::syntax_error,
             cmd.error, out, cmd.position);
      return;
    case Cmd::kAmbiguous:
      refuse(reply, protocol::sqlstate::feature_not_supported,
             "Usher cannot tell for certain how PostgreSQL will read this query, and it names a "
             "prepared statement: write its string literals without backslashes (or as E'...' "
             "literals), in a client_encoding other than SJIS, BIG5, GBK, UHC, GB18030 or JOHAB",
             out);
      return;
    case Cmd::kTooLarge:
      refuse(reply, protocol::sqlstate::program_limit_exceeded,
             "a statement that names a prepared statement may be at most 64 kB long in "
             "transaction pooling mode",
             out);
      return;
    case Cmd::kUnlocatable:
      refuse(reply, protocol::sqlstate::feature_not_supported,
             "Usher cannot find the prepared statement's name in this query; write it as a "
             "plain or quoted identifier",
             out);
      return;
    case Cmd::kCombined:
      // Each client's names live only in Usher; splitting the query and
      // answering part of it here would change what an error in one
      // statement does to the others. A clear error loses nothing.
      refuse(reply, protocol::sqlstate::feature_not_supported,
             "PREPARE, EXECUTE and DEALLOCATE must be sent as a query of their own in "
             "transaction pooling mode",
             out);
      return;
    default:  // a single PREPARE, EXECUTE or DEALLOCATE: translated only in a simple Query
      refuse(reply, protocol::sqlstate::feature_not_supported,
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
    refuse(Reply::kExecute, protocol::sqlstate::invalid_sql_statement_name,
           not_found(unnamed_command_->name), out);
    return;
  }
  Undo restore{.kind = Undo::Kind::kRestoreClientName, .name = it->first, .stmt = it->second};
  erase_name(it);
  fake(Reply::kExecute, command_complete("DEALLOCATE"), std::move(restore));
}

}  // namespace usher::prepared
