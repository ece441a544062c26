// Prepared statements, the server's side: its answers matched to the
// requests sent (the ResponseTracker), Usher's own answers put in their
// place, errors shown as the client must see them, records taken back when
// a request fails, and the retry after 0A000 (statements.cpp has the
// client's side).
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "runtime/worker.h"
#include "session/client_session.h"

namespace usher::session {

using prepared::Entry;
using prepared::Reply;
using prepared::Undo;

std::optional<std::string> ClientSession::restore_client_view(
    std::span<const uint8_t> error, const prepared::ResponseTracker::Outcome& o) {
  std::string body(protocol::as_chars(error).substr(protocol::kHeaderSize));
  bool changed = o.position_shift != 0 &&
                 protocol::shift_error_position(body, o.position_after, o.position_shift);
  std::string quoted = "\"" + o.renamed->server_name + "\"";
  const std::string* client_name = nullptr;
  if (body.find(quoted) != std::string::npos) {
    for (const auto& [name, stmt] : statements_) {
      if (stmt == o.renamed) client_name = &name;
    }
  }
  if (client_name != nullptr) {
    std::string replacement = "\"" + *client_name + "\"";
    for (size_t at = body.find(quoted); at != std::string::npos;
         at = body.find(quoted, at + replacement.size())) {
      body.replace(at, quoted.size(), replacement);
    }
    changed = true;
  }
  if (!changed) return std::nullopt;
  std::string out;
  protocol::MessageWriter(out).begin('E').bytes(body).finish();
  return out;
}

void ClientSession::apply_undos() {
  for (auto& u : undone_) {
    switch (u.kind) {
      case Undo::Kind::kNone:
        break;
      case Undo::Kind::kForgetClientName:
        statements_.erase(u.name);
        break;
      case Undo::Kind::kRestoreClientName:
        statements_[u.name] = std::move(u.stmt);
        break;
      case Undo::Kind::kForgetOnServer:
        if (server_) server_->statements.erase(u.stmt->id);
        break;
      case Undo::Kind::kRestoreOnServer:
        if (server_) server_->statements.restore(std::move(u.stmt));
        break;
      case Undo::Kind::kForgetUnnamed:
        unnamed_parse_.clear();
        if (server_ && server_->unnamed_owner == client_id_) server_->unnamed_owner = 0;
        break;
    }
  }
  undone_.clear();
}

// A shared statement whose table changed (ALTER TABLE ... ADD COLUMN under
// SELECT *) fails with 0A000 "cached plan must not change result type" on
// every server that prepared it, at Bind or at SQL EXECUTE. PostgreSQL
// leaves that to the client; Usher prepares it again on that server and
// runs the exchange once more, when that is invisible: the client has
// received nothing for it, it is not in a transaction block (the failure
// aborted nothing), and nothing was sent to the server after it. Without
// this, a client that prepares the statement after the DDL would get an
// error PostgreSQL itself never gives it: the failing plan is one another
// client made.
void ClientSession::arm_retry(bool tracker_was_empty) {
  retry().stmt.reset();
  if (!retry_candidate_ || !tracker_was_empty || tx_status_ != 'I') return;
  const std::string& shape = retry().shape;
  if (shape != "BES" && shape != "BDES" && shape != "Q") return;
  if (tracker_.size() != shape.size()) return;  // Usher added messages of its own
  constexpr size_t kMaxRetryBytes = 64 * 1024;  // large parameters are not worth a copy
  retry().bytes.clear();
  for (const auto& b : to_server_.buffers()) {
    if (retry().bytes.size() + b.size() > kMaxRetryBytes) return;
    retry().bytes.append(static_cast<const char*>(b.data()), b.size());
  }
  retry().stmt = std::move(retry_candidate_);
}

bool ClientSession::take_retry(std::span<const uint8_t> error) {
  const prepared::Entry* head = tracker_.front();
  Reply first = retry().shape == "Q" ? Reply::kQuery : Reply::kBind;
  if (!retry().stmt || head == nullptr || head->reply != first || head->failed ||
      tracker_.size() != retry().shape.size() || head->renamed != retry().stmt) {
    return false;
  }
  auto fields = protocol::parse_error_fields(error.subspan(protocol::kHeaderSize));
  if (!fields || fields->code != "0A000" ||
      !fields->message.starts_with("cached plan must not change result type")) {
    return false;
  }
  retry().now = true;
  return true;
}

void ClientSession::push_retry() {
  retry().now = false;
  auto s = std::move(retry().stmt);
  pool::bump(pool_->stats().slot(worker_.index).statement_retries, 1);
  // Prepare it again, then send the exchange again.
  bool simple = retry().shape == "Q";
  close_on_server(*s, simple, {});
  prepare_on_server(s, simple);
  to_server_.write_own([&](std::string& out) { out.append(retry().bytes); });
  for (char type : retry().shape) {
    switch (type) {
      case 'Q':
        expect(Entry{.reply = Reply::kQuery, .renamed = s});
        break;
      case 'B':
        expect(Entry{.reply = Reply::kBind, .renamed = s});
        break;
      case 'D':
        expect(Reply::kDescribePortal);
        break;
      case 'E':
        expect(Reply::kExecute);
        break;
      default:
        expect(Reply::kSync);
        break;
    }
  }
}

bool ClientSession::track_server_message(char type, std::span<const uint8_t> bytes, bool whole) {
  using Verdict = prepared::ResponseTracker::Verdict;
  if (type == 'E' && whole && take_retry(bytes)) {
    tracker_.on_message(type, undone_);  // skips to the Sync
    apply_undos();
    tracker_.swallow_front();
    return false;
  }
  if (tracker_.passes(type)) return true;
  auto outcome = tracker_.on_message(type, undone_);
  apply_undos();
  if (outcome.discarded_all) {
    server_->statements.clear();
    statements_.clear();
    unnamed_parse_.clear();
  }
  if (outcome.renamed && whole) {
    if (auto fixed = restore_client_view(bytes, outcome)) {
      outcome.verdict = Verdict::kReplace;
      outcome.replacement = std::move(*fixed);
    }
  }
  if (outcome.verdict == Verdict::kReplace) {
    to_client_.write_own([&](std::string& out) { out.append(outcome.replacement); });
  }
  return outcome.verdict == Verdict::kForward;
}

Result<bool> ClientSession::emit_due_fakes() {
  while (auto* e = tracker_.due_fake()) {
    to_client_.write_own([&](std::string& out) { out.append(e->detail->bytes); });
    bool rfq = e->ready_for_query;
    tracker_.pop_fake();
    if (rfq) {
      to_client_.write_own(
          [&](std::string& out) { protocol::write_ready_for_query(out, tx_status_); });
      auto release = ready_for_query(tx_status_);
      if (!release || *release) return release;
    }
  }
  return false;
}

}  // namespace usher::session
