// The translator's records: the client's names and the bound on what they
// hold, what each server has (prepared on demand, closed to stay within
// max_prepared_statements), the owner of the server's unnamed statement,
// and the requests Usher adds to the server's stream or answers itself
// (refusals, made-up answers), each expected in the ResponseTracker.
// translator.cpp and translator_query.cpp have the client's messages.
#include <algorithm>

#include "prepared/statement_errors.h"
#include "prepared/translator.h"
#include "protocol/extended.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "sql/lexical.h"

namespace usher::prepared {

namespace {

using protocol::Outbox;

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

size_t cost(std::string_view name, const Statement& s) {
  return name.size() + s.query.size() + s.param_types.size() + kNameOverhead;
}

}  // namespace

bool Translator::ensure_unnamed(Reply reply, Outbox& out) {
  if (unnamed_ == Unnamed::kNone) {
    // PostgreSQL's answer; the server's unnamed statement, if any, is
    // another client's.
    refuse(reply, protocol::sqlstate::invalid_sql_statement_name, std::string(kUnnamedNotFound),
           out);
    return false;
  }
  // The server's unnamed statement is the client's when the claim is known
  // to hold: in the claim's own Sync segment (if its Parse failed, the
  // server skips this too), or once that segment has been answered.
  if (!unnamed_elsewhere_ && server_->unnamed_owner == client_id_ &&
      (syncs_sent_ == claim_segment_ || syncs_answered_ > claim_segment_)) {
    return true;
  }
  if (unnamed_ == Unnamed::kUncopied) {
    refuse(reply, protocol::sqlstate::feature_not_supported,
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
  refuse(reply, protocol::sqlstate::invalid_sql_statement_name, not_found(name), out);
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

bool Translator::use_statement(const StatementPtr& s, std::string_view name, Reply reply,
                               bool simple, protocol::Outbox& out) {
  ++counters_.binds;
  switch (ensure_prepared(s, name, reply, simple, out)) {
    case Ready::kHad:
      retry_candidate_ = s;
      return true;
    case Ready::kPrepared:
      return true;
    case Ready::kRefused:
      return false;
  }
  return false;
}

Translator::Ready Translator::ensure_prepared(const StatementPtr& s, std::string_view name,
                                              Reply reply, bool simple, Outbox& out) {
  if (server_->statements.touch(s->id)) return Ready::kHad;
  if (s->reading != reading()) {
    // Its text would mean something else here than when it was prepared.
    refuse(reply, protocol::sqlstate::feature_not_supported,
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
  return {
      .standard_conforming_strings = p.standard_conforming_strings(),
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
    protocol::write_close(o, protocol::kTargetStatement, s.server_name);
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
    refuse(reply, protocol::sqlstate::program_limit_exceeded,
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
  unnamed_elsewhere_ = false;
}

void Translator::unnamed_parsed_elsewhere(std::span<const uint8_t> msg) {
  forget_unnamed();
  unnamed_parse_.assign(reinterpret_cast<const char*>(msg.data()), msg.size());
  unnamed_ = Unnamed::kCopied;
  unnamed_elsewhere_ = true;
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
