// The server's side of prepared statements: its answers matched to the
// requests sent (the ResponseTracker), Usher's own answers put in their
// place, errors shown as the client must see them, records taken back when
// a request fails, what the answers say about the server's statements, and
// the retry of an exchange whose statement went stale or missing
// (translator.cpp and translator_query.cpp have the client's side).
#include <algorithm>

#include "prepared/translator.h"
#include "protocol/frame.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::prepared {

using protocol::Outbox;

namespace {

// The SQLSTATEs the server answers about prepared statements.
constexpr std::string_view kUndefinedStatement =
    protocol::sqlstate::invalid_sql_statement_name;  // "... does not exist"
constexpr std::string_view kDuplicateStatement =
    protocol::sqlstate::duplicate_prepared_statement;  // "... already exists"

bool quotes(std::string_view message, const std::string& name) {
  if (message.size() < name.size() + 2) return false;
  for (size_t at = message.find(name); at != std::string_view::npos;
       at = message.find(name, at + 1)) {
    if (at > 0 && message[at - 1] == '"' && at + name.size() < message.size() &&
        message[at + name.size()] == '"') {
      return true;
    }
  }
  return false;
}

}  // namespace

bool server_wants_whole(char type) {
  return type == protocol::PqMsg_CommandComplete || type == protocol::PqMsg_ErrorResponse;
}

std::optional<std::string> Translator::restore_client_view(std::span<const uint8_t> error,
                                                           const ResponseTracker::Outcome& o) {
  std::string body(protocol::as_chars(error).substr(protocol::kHeaderSize));
  bool changed = o.position_shift != 0 &&
                 protocol::shift_error_position(body, o.position_after, o.position_shift);
  std::string quoted = "\"" + o.renamed->server_name + "\"";
  const std::string* client_name = nullptr;
  size_t count = 0;
  for (size_t at = body.find(quoted); at != std::string::npos; at = body.find(quoted, at + 1))
    ++count;
  if (count > 0) {
    for (const auto& [name, stmt] : statements_) {
      if (stmt == o.renamed) client_name = &name;
    }
  }
  // Rewritten in one pass, and only while the result stays an error of
  // ordinary size: a message that quotes the name many times (an input
  // value, say) keeps Usher's name rather than grow without bound.
  if (client_name != nullptr &&
      body.size() + count * (client_name->size() + 2) <= kServerErrorWhole) {
    std::string renamed;
    renamed.reserve(body.size() + count * (client_name->size() + 2));
    size_t from = 0;
    for (size_t at = body.find(quoted); at != std::string::npos; at = body.find(quoted, from)) {
      renamed.append(body, from, at - from).append("\"").append(*client_name).append("\"");
      from = at + quoted.size();
    }
    renamed.append(body, from);
    body = std::move(renamed);
    changed = true;
  }
  if (!changed) return std::nullopt;
  std::string out;
  protocol::MessageWriter(out).begin(protocol::PqMsg_ErrorResponse).bytes(body).finish();
  return out;
}

void Translator::apply_undos() {
  for (auto& u : undone_) {
    switch (u.kind) {
      case Undo::Kind::kNone:
        break;
      case Undo::Kind::kForgetClientName:
        if (auto it = statements_.find(u.name); it != statements_.end()) erase_name(it);
        break;
      case Undo::Kind::kRestoreClientName:
        restore_name(std::move(u.name), std::move(u.stmt));
        break;
      case Undo::Kind::kForgetOnServer:
        if (server_) server_->statements.erase(u.stmt->id);
        break;
      case Undo::Kind::kRestoreOnServer:
        if (server_) server_->statements.restore(std::move(u.stmt));
        break;
      case Undo::Kind::kForgetUnnamed:
        unnamed_ = Unnamed::kNone;
        unnamed_parse_.clear();
        if (server_ && server_->unnamed_owner == client_id_) server_->unnamed_owner = 0;
        break;
      case Undo::Kind::kForgetUnnamedOwner:
        if (server_ && server_->unnamed_owner == client_id_) server_->unnamed_owner = 0;
        break;
    }
  }
  undone_.clear();
}

// A shared statement can fail for a reason that is not the client's: its
// table changed (ALTER TABLE ... ADD COLUMN under SELECT * gives 0A000
// "cached plan must not change result type", once on every server that
// prepared it), or it is gone from the server (26000 for Usher's name: a
// DEALLOCATE Usher could not see, in a DO block). PostgreSQL would leave the
// first to the client and never give the second; Usher prepares the
// statement again on that server and runs the exchange once more, when that
// is invisible: the client has received nothing for it, it is not in a
// transaction block (the failure aborted nothing), and nothing was sent to
// the server after it.
void Translator::arm_retry(bool tracker_was_empty, Outbox& to_server) {
  retry().stmt.reset();
  if (!retry_candidate_ || !tracker_was_empty || tx_status_ != protocol::kTransactionIdle) return;
  const std::string& shape = retry().shape;
  if (shape != "BES" && shape != "BDES" && shape != "Q") return;
  if (tracker_.size() != shape.size()) return;  // Usher added messages of its own
  constexpr size_t kMaxRetryBytes = 64 * 1024;  // large parameters are not worth a copy
  std::string& bytes = retry().bytes;
  bytes.clear();
  bool fits = true;
  to_server.for_each_run([&](const void* data, size_t size) {
    fits = fits && bytes.size() + size <= kMaxRetryBytes;
    if (fits) bytes.append(static_cast<const char*>(data), size);
  });
  if (fits) retry().stmt = std::move(retry_candidate_);
}

bool Translator::take_retry(std::span<const uint8_t> error) {
  // Prepared again only where it reads as it did when it was made.
  if (!retry_ || !retry_->stmt || server_params_ == nullptr || retry_->stmt->reading != reading()) {
    return false;
  }
  const Entry* head = tracker_.front();
  Reply first = retry_->shape == "Q" ? Reply::kQuery : Reply::kBind;
  if (head == nullptr || head->reply != first || head->failed ||
      tracker_.size() != retry_->shape.size() || head->renamed != retry_->stmt) {
    return false;
  }
  auto fields = protocol::parse_error_fields(error.subspan(protocol::kHeaderSize));
  if (!fields) return false;
  bool stale = fields->code == protocol::sqlstate::feature_not_supported &&
               fields->message.starts_with("cached plan must not change result type");
  bool gone =
      fields->code == kUndefinedStatement && quotes(fields->message, retry_->stmt->server_name);
  if (!stale && !gone) return false;
  retry_->now = true;
  return true;
}

void Translator::write_retry(Outbox& out) {
  retry_->now = false;
  auto s = std::move(retry_->stmt);
  ++counters_.retries;
  // Prepare it again (closing a statement that is gone is no error), then
  // send the exchange again.
  bool simple = retry_->shape == "Q";
  close_on_server(*s, simple, {}, out);
  if (!server_->statements.contains(s->id)) make_room(s, simple, out);  // it was gone
  prepare_on_server(s, simple, out);
  out.write_own([&](std::string& o) { o.append(retry_->bytes); });
  for (char type : retry_->shape) {
    switch (type) {
      case protocol::PqMsg_Query:
        expect(Entry{.reply = Reply::kQuery, .renamed = s});
        break;
      case protocol::PqMsg_Bind:
        expect(Entry{.reply = Reply::kBind, .renamed = s});
        break;
      case protocol::PqMsg_Describe:
        expect(Reply::kDescribePortal);
        break;
      case protocol::PqMsg_Execute:
        expect(Reply::kExecute);
        break;
      default:
        expect(Reply::kSync);
        break;
    }
  }
}

void Translator::check_tag(std::span<const uint8_t> body) {
  // The tags that matter start with D or P; every other one costs a compare.
  if (body.empty() || (body[0] != 'D' && body[0] != 'P')) return;
  std::string_view tag = protocol::as_chars(body);
  tag = tag.substr(0, tag.find('\0'));
  const Entry* head = tracker_.front();
  bool clients = head != nullptr && head->handling == Handling::kForward;
  if (tag == "DEALLOCATE ALL" || tag == "DISCARD ALL") {
    // Exact: the server has no named statement left. When the client ran
    // it (a Parse of DEALLOCATE ALL, a long query), its names go too, as
    // they would on its own session.
    server_->all_deallocated();
    if (clients) clear_names();
    return;
  }
  if (!clients || (tag != "PREPARE" && tag != "DEALLOCATE")) return;
  // Usher's own PREPARE (a client's, renamed) is expected; any other
  // PREPARE or DEALLOCATE came from text Usher could not see into.
  bool renamed_prepare = tag == "PREPARE" && head->detail &&
                         head->detail->server_undo.kind == Undo::Kind::kForgetOnServer;
  if (!renamed_prepare) server_->needs_reset = true;
}

void Translator::check_error(std::span<const uint8_t> error) {
  const Entry* head = tracker_.front();
  if (head == nullptr) return;
  // Only errors about a statement Usher believed the server had (or was
  // preparing) say anything about the server's list.
  const Statement* s = head->renamed.get();
  if (s == nullptr && head->detail && head->detail->server_undo.kind == Undo::Kind::kForgetOnServer)
    s = head->detail->server_undo.stmt.get();
  if (s == nullptr) return;
  auto fields = protocol::parse_error_fields(error.subspan(protocol::kHeaderSize));
  if (!fields || !quotes(fields->message, s->server_name)) return;
  if (fields->code == kUndefinedStatement) {
    // Gone from the server: prepare it again next time, and distrust the rest.
    server_->statements.erase(s->id);
    server_->needs_reset = true;
  } else if (fields->code == kDuplicateStatement) {
    // Something else sits under Usher's name: only a reset clears it.
    server_->needs_reset = true;
  }
}

bool Translator::server_message(char type, std::span<const uint8_t> bytes, bool whole,
                                Outbox& to_client) {
  using Verdict = ResponseTracker::Verdict;
  if (whole && type == protocol::PqMsg_CommandComplete)
    check_tag(bytes.subspan(protocol::kHeaderSize));
  if (type == protocol::PqMsg_ReadyForQuery && tracker_.front() &&
      tracker_.front()->reply == Reply::kSync)
    ++syncs_answered_;
  if (whole && type == protocol::PqMsg_ErrorResponse) {
    check_error(bytes);
    if (take_retry(bytes)) {
      tracker_.on_message(type, undone_);  // skips to the Sync
      apply_undos();
      tracker_.swallow_front();
      return false;
    }
  }
  if (tracker_.passes(type)) return true;
  auto outcome = tracker_.on_message(type, undone_);
  apply_undos();
  if (outcome.renamed && whole) {
    if (auto fixed = restore_client_view(bytes, outcome)) {
      outcome.verdict = Verdict::kReplace;
      outcome.replacement = std::move(*fixed);
    }
  }
  if (outcome.verdict == Verdict::kReplace) {
    to_client.write_own([&](std::string& out) { out.append(outcome.replacement); });
  }
  return outcome.verdict == Verdict::kForward;
}

bool Translator::take_fake(Outbox& to_client) {
  Entry* e = tracker_.due_fake();
  to_client.write_own([&](std::string& out) { out.append(e->detail->bytes); });
  bool ready_for_query = e->ready_for_query;
  tracker_.pop_fake();
  return ready_for_query;
}

}  // namespace usher::prepared
