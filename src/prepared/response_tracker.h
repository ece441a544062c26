// Keeps the server's answers in step with what the client asked for, when
// Usher has changed the conversation: it sends Parse messages the client did
// not (to prepare a statement on a server that lacks it), leaves out some the
// client did send (a Parse of a statement the server already has, a Close
// of a shared statement), and answers those itself.
//
// Every message sent to the server that the server answers gets an Entry,
// in order, and so does every answer Usher makes up. Server messages are
// matched against the head entry: each kind of request ends with a known
// message (BindComplete, CommandComplete, ReadyForQuery, ...). Made-up
// answers at the head are due as soon as everything before them is done.
//
// PostgreSQL skips everything up to the next Sync after an error in the
// extended protocol; so does the tracker, dropping skipped entries (their
// made-up answers are never sent) and reporting their Undo so the caller
// can take back what it recorded when it sent them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "prepared/statement.h"
#include "protocol/message_type.h"

namespace usher::prepared {

// What kind of request an entry stands for, which says how its answer ends.
enum class Reply : uint8_t {
  kParse,              // ParseComplete
  kBind,               // BindComplete
  kDescribeStatement,  // ParameterDescription, then RowDescription or NoData
  kDescribePortal,     // RowDescription or NoData
  kExecute,            // CommandComplete, EmptyQueryResponse or PortalSuspended
  kClose,              // CloseComplete
  kSync,               // ReadyForQuery
  kQuery,              // Query or FunctionCall: ends with ReadyForQuery
};

enum class Handling : uint8_t {
  kForward,       // the client's request: the answer goes to the client
  kSwallow,       // Usher's request: the answer is dropped, but an error reaches the client
  kSwallowAll,    // Usher's request: everything is dropped, errors too
  kReplaceError,  // the client's request, sent so that it fails: the error becomes `bytes`
  kFake,          // nothing was sent: Usher answers `bytes` itself
};

// Something recorded when a request was sent, to take back if the server
// refuses or skips it.
struct Undo {
  enum class Kind : uint8_t {
    kNone,
    kForgetClientName,    // a client Parse/PREPARE of `name` did not happen
    kRestoreClientName,   // a client Close/DEALLOCATE of `name` (was `stmt`) did not happen
    kForgetOnServer,      // `stmt` was not prepared on the server after all
    kRestoreOnServer,     // `stmt` was not closed on the server after all
    kForgetUnnamed,       // the client's unnamed statement failed to parse
    kForgetUnnamedOwner,  // Usher's replay of it did not happen: the server's is not the client's
  };
  Kind kind = Kind::kNone;
  std::string name;
  StatementPtr stmt;
};

// What only some entries carry: made-up answers, and the records to take
// back on failure. Behind a pointer, so the plain requests that make up
// nearly all traffic are small and cheap to queue.
struct Detail {
  std::string bytes;  // kFake, kReplaceError
  Undo client_undo;
  Undo server_undo;
  // A rewritten SQL EXECUTE: an error position (in characters) past
  // `position_after` is moved by `position_shift` to point into the text
  // the client sent.
  int32_t position_after = 0;
  int32_t position_shift = 0;
};

struct Entry {
  Reply reply = Reply::kSync;
  Handling handling = Handling::kForward;
  // kFake answering a whole Query: Usher adds ReadyForQuery with the
  // transaction status of the moment.
  bool ready_for_query = false;
  bool failed = false;  // an ErrorResponse was seen in a Query/Sync answer
  // The client's statement name was replaced by this statement's server
  // name: an error that quotes it must quote the client's name instead.
  StatementPtr renamed;
  std::unique_ptr<Detail> detail;
};

inline std::unique_ptr<Detail> detail(Detail d) {
  return std::make_unique<Detail>(std::move(d));
}

// True when `type` is the last message of the answer to `reply`.
inline bool ends(Reply reply, char type) {
  switch (reply) {
    case Reply::kParse:
      return type == protocol::PqMsg_ParseComplete;
    case Reply::kBind:
      return type == protocol::PqMsg_BindComplete;
    case Reply::kDescribeStatement:
    case Reply::kDescribePortal:
      return type == protocol::PqMsg_RowDescription || type == protocol::PqMsg_NoData;
    case Reply::kExecute:
      return type == protocol::PqMsg_CommandComplete ||
             type == protocol::PqMsg_EmptyQueryResponse || type == protocol::PqMsg_PortalSuspended;
    case Reply::kClose:
      return type == protocol::PqMsg_CloseComplete;
    case Reply::kSync:
    case Reply::kQuery:
      return type == protocol::PqMsg_ReadyForQuery;
  }
  return false;
}

class ResponseTracker {
 public:
  // What to do with one server message.
  enum class Verdict : uint8_t { kForward, kDrop, kReplace };
  struct Outcome {
    Verdict verdict = Verdict::kForward;
    std::string replacement;     // kReplace
    StatementPtr renamed;        // kForward of an ErrorResponse: see Entry::renamed
    int32_t position_after = 0;  // and Detail's position fix, if any
    int32_t position_shift = 0;
  };

  // Records a request just sent (or answered by Usher). While the server is
  // skipping to Sync, anything but a Sync is dropped at once.
  void push(Entry&& e, std::vector<Undo>& undone);

  // The client's Query and FunctionCall requests dropped since the last
  // call: PostgreSQL ignores them while it skips to Sync, so the
  // ReadyForQuery the relay counted for each will never come.
  size_t take_dropped_queries() { return std::exchange(dropped_queries_, 0); }

  // Classifies a server message by its type byte, at its start. Undo records
  // of failed or skipped requests are appended to `undone`, latest first.
  Outcome on_message(char type, std::vector<Undo>& undone);

  // The common case, without building an Outcome: a message other than an
  // error that answers a plain forwarded request (or no request) goes to
  // the client as it is. Returns false, having changed nothing, when
  // on_message() must decide.
  bool passes(char type) {
    if (type == protocol::PqMsg_ErrorResponse) return false;
    if (type == protocol::PqMsg_NoticeResponse || type == protocol::PqMsg_NotificationResponse ||
        type == protocol::PqMsg_ParameterStatus || empty())
      return true;
    Entry& h = head();
    if (h.handling != Handling::kForward || h.failed) return false;
    if (ends(h.reply, type)) pop_head();
    return true;
  }

  // The head entry when it is a made-up answer that is now due.
  Entry* due_fake() { return !empty() && head().handling == Handling::kFake ? &head() : nullptr; }
  void pop_fake() { pop_head(); }

  bool empty() const { return head_ == entries_.size(); }
  size_t size() const { return entries_.size() - head_; }
  const Entry* front() const { return empty() ? nullptr : &entries_[head_]; }
  // The answer to the head request goes to no one (a retried exchange's
  // Sync, whose ReadyForQuery the retry will send).
  void swallow_front() { head().handling = Handling::kSwallowAll; }
  void clear() {
    entries_.clear();
    head_ = 0;
    skipping_ = false;
  }
  // Gives the memory back (an idle client); only when empty.
  void release() {
    if (!empty()) return;
    clear();
    entries_.shrink_to_fit();
  }

 private:
  Entry& head() { return entries_[head_]; }
  void pop_head();
  void drop_front(std::vector<Undo>& undone);

  // A FIFO as a vector and the index of its head: std::deque would allocate
  // about 600 bytes even while empty, for every client.
  std::vector<Entry> entries_;
  size_t head_ = 0;
  bool skipping_ = false;  // an error was seen and no Sync has been sent since
  size_t dropped_queries_ = 0;
};

}  // namespace usher::prepared
