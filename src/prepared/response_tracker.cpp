#include "prepared/response_tracker.h"

#include <algorithm>

#include "protocol/message_type.h"

namespace usher::prepared {
namespace {

bool extended(Reply reply) {
  return reply != Reply::kSync && reply != Reply::kQuery;
}

void add_undo(Undo& u, std::vector<Undo>& undone) {
  if (u.kind != Undo::Kind::kNone) undone.push_back(std::move(u));
}

// A Query or FunctionCall of the client's (forwarded, refused, or answered
// by Usher), as opposed to Usher's own queries.
bool clients_query(const Entry& e) {
  return e.reply == Reply::kQuery && e.handling != Handling::kSwallow &&
         e.handling != Handling::kSwallowAll;
}

// The client's record first, then the server's: callers apply in order, and
// the list is reversed as a whole afterwards, so later requests come first.
void take_undos(Entry& e, std::vector<Undo>& undone) {
  if (!e.detail) return;
  add_undo(e.detail->server_undo, undone);
  add_undo(e.detail->client_undo, undone);
}

}  // namespace

void ResponseTracker::push(Entry&& e, std::vector<Undo>& undone) {
  if (skipping_) {
    if (e.reply != Reply::kSync) {
      if (clients_query(e)) ++dropped_queries_;
      take_undos(e, undone);
      return;
    }
    skipping_ = false;
  }
  entries_.push_back(std::move(e));
}

void ResponseTracker::pop_head() {
  // The spent entry is destroyed when the queue drains (at the latest when
  // the transaction ends), not here: one less Entry built per message.
  ++head_;
  if (head_ == entries_.size()) {
    entries_.clear();
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= entries_.size()) {
    // A pipeline that never drains: drop the spent half.
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void ResponseTracker::drop_front(std::vector<Undo>& undone) {
  if (clients_query(head())) ++dropped_queries_;
  take_undos(head(), undone);
  pop_head();
}

ResponseTracker::Outcome ResponseTracker::on_message(char type, std::vector<Undo>& undone) {
  Outcome out;
  // Notices, notifications and parameter changes can come at any time and
  // belong to no request.
  if (type == protocol::PqMsg_NoticeResponse || type == protocol::PqMsg_NotificationResponse ||
      type == protocol::PqMsg_ParameterStatus || empty())
    return out;
  Entry& head = this->head();

  switch (head.handling) {
    case Handling::kForward:
    case Handling::kFake:  // not reached: fakes are taken before server messages
      break;
    case Handling::kSwallow:
      if (type != protocol::PqMsg_ErrorResponse) out.verdict = Verdict::kDrop;
      break;
    case Handling::kSwallowAll:
      out.verdict = Verdict::kDrop;
      break;
    case Handling::kReplaceError:
      if (type == protocol::PqMsg_ErrorResponse && head.detail) {
        out.verdict = Verdict::kReplace;
        out.replacement = std::move(head.detail->bytes);
      }
      break;
  }

  size_t first_undo = undone.size();
  if (type == protocol::PqMsg_ErrorResponse && out.verdict == Verdict::kForward) {
    out.renamed = head.renamed;
    if (head.detail) {
      out.position_after = head.detail->position_after;
      out.position_shift = head.detail->position_shift;
    }
  }
  if (type == protocol::PqMsg_ErrorResponse) {
    if (!extended(head.reply)) {
      head.failed = true;
    } else {
      // The request failed and PostgreSQL now skips to the next Sync.
      drop_front(undone);
      while (!empty() && this->head().reply != Reply::kSync)
        drop_front(undone);
      skipping_ = empty();
    }
  } else if (ends(head.reply, type)) {
    if (head.failed) take_undos(head, undone);
    pop_head();
  }
  std::reverse(undone.begin() + static_cast<std::ptrdiff_t>(first_undo), undone.end());
  return out;
}

}  // namespace usher::prepared
