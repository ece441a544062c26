// Prepared statements in transaction and statement mode: one client's view.
//
// A client's statement names live here, not on any server. Whatever server
// the client gets, its Bind, Describe and EXECUTE are rewritten to Usher's
// name for the statement (prepared there first if that server lacks it), a
// Parse of a statement the server already has is answered by Usher, and a
// Close only forgets the client's name. The ResponseTracker keeps the
// answers in the order PostgreSQL would have sent them (translator.cpp and
// translator_query.cpp have the client's side, translator_statements.cpp
// the records behind it, translator_answers.cpp the server's side).
//
// Isolation rests on three rules:
//  - The server's statement namespace holds only Usher's statements. SQL
//    that names a prepared statement is translated or refused, never passed
//    on as written (sql_command.h finds it, in a Query or a Parse).
//  - Usher's view of a server is checked against what the server says: a
//    DEALLOCATE ALL or DISCARD ALL tag empties it, and an unexpected
//    PREPARE or DEALLOCATE tag, or a 26000/42P05 about one of Usher's
//    names (a DO block can run anything), marks the server for a reset
//    before another client gets it (and the statement is prepared again,
//    once, when that is invisible to the client).
//  - Each client has its own unnamed statement: a Bind of it reaches the
//    server's unnamed statement only when that is the client's own.
//
// Pure: no I/O. The relay feeds it the client's messages as its scanner
// frames them and the server's messages as they arrive.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "prepared/response_tracker.h"
#include "prepared/server_state.h"
#include "prepared/sql_command.h"
#include "prepared/statement.h"
#include "protocol/messages.h"
#include "protocol/outbox.h"
#include "protocol/scanner.h"
#include "protocol/tracked_params.h"

namespace usher::prepared {

// Bounds on what one client can make Usher hold (docs/architecture.md).
// A Parse is kept whole, to share and replay it, up to this size; a larger
// named one is refused (54000), a larger unnamed one streams through.
inline constexpr uint32_t kMaxStatementMessage = 1 << 20;
// The text of all the statements one client holds names for.
inline constexpr size_t kMaxClientStatementBytes = 16 << 20;
// Requests whose answers are still due (the relay stops reading the client
// past this until the server catches up).
inline constexpr size_t kMaxPendingAnswers = 8192;
// A streamed Bind or Parse is looked at once this much of it (its names)
// has arrived.
inline constexpr uint32_t kStreamedHead = 64 * 1024;

// How the client's messages are framed for the translator: whole up to
// kMaxStatementMessage for the types it reads (Parse, Bind and Query stream
// past it, once their names are in), at most `max_length` long. The relay
// frames with the same, so that its pieces are the translator's.
protocol::StreamScanner client_scanner(uint32_t max_length);
// Server messages it needs whole: CommandComplete (its tag) and errors up
// to kServerErrorWhole (larger ones stream through as they are).
bool server_wants_whole(char type);
inline constexpr uint32_t kServerErrorWhole = 64 * 1024;

struct Counters {
  uint64_t client_parses = 0;  // a client Parse or PREPARE of a new name
  uint64_t server_parses = 0;  // a Parse or PREPARE sent to a server
  uint64_t binds = 0;          // a Bind or EXECUTE of a named statement
  uint64_t evictions = 0;      // closed on a server to stay in bounds
  uint64_t retries = 0;        // prepared again after 0A000/26000 and run again
};

class Translator {
 public:
  // `registry`: the pool's shared statements; `max_per_server`:
  // max_prepared_statements; `client_id`: unique per client;
  // `max_length`: the longest client message allowed.
  Translator(StatementRegistry& registry, size_t max_per_server, uint64_t client_id,
             uint32_t max_length);

  // The server the client now talks to (null: none). Its answers to
  // earlier requests are no longer expected. Inline: it runs twice per
  // transaction, nearly always with nothing pending.
  void attach(ServerState* server) {
    server_ = server;
    server_params_ = nullptr;
    dropping_ = false;
    if (retry_) retry_->now = false;
    if (!tracker_.empty()) forget_pending();
  }

  // --- The client's side (translator.cpp, translator_query.cpp) ---
  // The client's next bytes, framed by client_scanner() into whole messages
  // and pieces of streamed ones (a streamed message may go on in the next
  // call), rewritten for the server into `to_server`. `tx_status`: the last
  // ReadyForQuery status; `in_copy`: the server is taking COPY data (it
  // ignores a Sync); `server`: the server's settings, which say how it reads
  // SQL (they must stay valid while the server is attached).
  void translate(std::span<const uint8_t> bytes, char tx_status, bool in_copy,
                 const protocol::TrackedParams& server, protocol::Outbox& to_server);

  // --- The server's side (translator_answers.cpp) ---
  // A server message at its start (`whole` when all of it): true when it
  // goes to the client as it is; a replacement, if any, goes to `to_client`.
  bool server_message(char type, std::span<const uint8_t> bytes, bool whole,
                      protocol::Outbox& to_client);
  // A made-up answer is due before the server's next message.
  bool fake_due() { return tracker_.due_fake() != nullptr; }
  // Adds the due made-up answer to `to_client`; true when it answers a
  // whole Query, so that the caller adds its ReadyForQuery.
  bool take_fake(protocol::Outbox& to_client);
  // After 0A000 or 26000 for a statement Usher shares: the exchange is to
  // be sent again (write_retry()) with the statement prepared anew.
  bool retry_due() const { return retry_ && retry_->now; }
  void write_retry(protocol::Outbox& to_server);

  // No answer is due from the server.
  bool idle() const { return tracker_.empty(); }
  // See ResponseTracker::take_dropped_queries().
  size_t take_dropped_queries() { return tracker_.take_dropped_queries(); }
  // Room for more client requests (see kMaxPendingAnswers).
  bool has_room() const { return pending_answers() < kMaxPendingAnswers; }
  size_t pending_answers() const { return tracker_.size(); }
  // Gives spare memory back (an idle client).
  void release_memory();
  // The client's unnamed Parse `msg` (whole) was answered by the result
  // cache and never reached a server: it is the client's unnamed statement
  // from now on, and a later Bind of it parses it on the server first.
  void unnamed_parsed_elsewhere(std::span<const uint8_t> msg);
  // Counters since the last call; `any` is false when all are zero.
  Counters take_counters(bool& any) {
    any = (counters_.client_parses | counters_.server_parses | counters_.binds |
           counters_.evictions | counters_.retries) != 0;
    return any ? std::exchange(counters_, {}) : Counters{};
  }

  size_t statement_count() const { return statements_.size(); }
  size_t statement_bytes() const { return statement_bytes_; }

 private:
  // By client name; looked up by string_view without a copy.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Names = std::unordered_map<std::string, StatementPtr, NameHash, std::equal_to<>>;

  // The client's unnamed statement: none, a copy Usher can replay on any
  // server, or one too large to copy that lives only where it was parsed.
  enum class Unnamed : uint8_t { kNone, kCopied, kUncopied };
  // The unnamed statement (and portal) when it is a DEALLOCATE Usher answers.
  struct UnnamedCommand {
    bool all = false;
    std::string name;
  };
  // The last exchange that may be run again if its Bind or EXECUTE fails
  // because the server's copy of the statement is stale or gone.
  struct Retry {
    StatementPtr stmt;  // null: none
    std::string shape;  // message types of the exchange: "BES", "BDES" or "Q"
    std::string bytes;  // what was sent to the server
    bool now = false;   // triggered: send it again
  };

  // translator.cpp: the extended protocol's messages
  void forget_pending();
  void client_piece(const protocol::StreamScanner::Piece& piece, std::span<const uint8_t> bytes,
                    protocol::Outbox& out);
  void on_parse(std::span<const uint8_t> msg, std::span<const uint8_t> body, protocol::Outbox& out);
  void on_unnamed_parse(std::span<const uint8_t> msg, std::string_view query,
                        protocol::Outbox& out);
  void on_large_parse(std::span<const uint8_t> bytes, protocol::Outbox& out);
  void on_bind(std::string_view portal, std::string_view statement, std::span<const uint8_t> rest,
               size_t rest_size, std::span<const uint8_t> msg, protocol::Outbox& out);
  void on_describe(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                   protocol::Outbox& out);
  void on_close(std::span<const uint8_t> msg, std::span<const uint8_t> body, protocol::Outbox& out);

  // translator_query.cpp: SQL PREPARE, EXECUTE and DEALLOCATE
  void on_query(std::span<const uint8_t> msg, std::span<const uint8_t> body, protocol::Outbox& out);
  void on_execute(std::span<const uint8_t> msg, std::span<const uint8_t> body,
                  protocol::Outbox& out);
  // Refuses `cmd` (one that must not pass as written) as PostgreSQL or Usher would.
  void refuse_command(Reply reply, const SqlCommand& cmd, protocol::Outbox& out);

  // translator_statements.cpp: the records
  // The client's unnamed statement on this server, replayed if it is not;
  // false when there is none to bind (refused, as PostgreSQL would).
  bool ensure_unnamed(Reply reply, protocol::Outbox& out);
  // Makes sure the server has `s`, preparing it (and closing the least
  // recently used one) when it does not. `simple`: inside a simple Query
  // exchange, where the preparation must be invisible and self-contained.
  // kRefused: the server reads SQL otherwise than when `s` was made, so it
  // cannot be prepared here (the request is refused with 0A000).
  enum class Ready : uint8_t { kHad, kPrepared, kRefused };
  Ready ensure_prepared(const StatementPtr& s, std::string_view name, Reply reply, bool simple,
                        protocol::Outbox& out);
  // A Bind or EXECUTE of `s`: counted, and ensure_prepared(); a statement
  // the server had already is the candidate for a retry should that copy
  // turn out stale. false when refused.
  bool use_statement(const StatementPtr& s, std::string_view name, Reply reply, bool simple,
                     protocol::Outbox& out);
  // How the server reads SQL now: client_encoding and
  // standard_conforming_strings (Statement::reading), and what
  // classify_sql() needs of them. Worked out only when needed: most
  // batches classify nothing.
  std::string reading() const;
  SqlReading sql_reading() const;
  std::optional<SqlCommand> classify(std::string_view sql) const {
    if (!is_candidate(sql)) return std::nullopt;
    return classify_sql(sql, sql_reading());
  }
  // Records `s` on the server; past max_prepared_statements, closes the
  // least recently used statement there first.
  void make_room(const StatementPtr& s, bool simple, protocol::Outbox& out);
  // Usher's own requests to the server, the way `s` was made (Parse, or SQL
  // PREPARE); `simple`: inside a simple Query exchange, so they carry their
  // own Sync. Their answers never reach the client.
  void prepare_on_server(const StatementPtr& s, bool simple, protocol::Outbox& out);
  void close_on_server(const Statement& s, bool simple, Undo undo, protocol::Outbox& out);
  // Answers the request with PostgreSQL's `sqlstate` error: sends the server
  // a statement that fails to parse (so it aborts the transaction and skips
  // to Sync as for the real error) and replaces its error with ours.
  void refuse(Reply reply, std::string_view sqlstate, std::string message, protocol::Outbox& out,
              int position = 0);
  // For a name the client never prepared: when it has the form of Usher's
  // own names, refuses with 26000 (true) rather than let the server find
  // another client's statement under it.
  bool refuse_server_name(Reply reply, std::string_view name, protocol::Outbox& out);
  // A new client name for `s`, within kMaxClientStatementBytes; false (and
  // the request refused with 54000) past it.
  bool add_name(std::string name, StatementPtr s, Reply reply, protocol::Outbox& out);
  // A Close or DEALLOCATE taken back.
  void restore_name(std::string name, StatementPtr s);
  void erase_name(Names::iterator it);
  void clear_names();
  void forget_unnamed();
  // Records that the server's unnamed statement is now the client's.
  void claim_unnamed();
  void expect(Entry&& e);
  void expect(Reply reply) { expect(Entry{.reply = reply}); }
  void fake(Reply reply, std::string bytes, Undo client_undo = {}, bool ready_for_query = false);
  Retry& retry() {
    if (!retry_) retry_ = std::make_unique<Retry>();
    return *retry_;
  }

  // translator_answers.cpp
  void apply_undos();
  // After a batch: keeps the exchange for a retry when it qualifies.
  void arm_retry(bool tracker_was_empty, protocol::Outbox& to_server);
  // What the server's answers say about its statements, beyond the answer
  // itself: a CommandComplete tag, or an error about one of Usher's names.
  void check_tag(std::span<const uint8_t> body);
  void check_error(std::span<const uint8_t> error);
  bool take_retry(std::span<const uint8_t> error);
  // `error` (a whole ErrorResponse) as the client must see it: Usher's name
  // for the statement replaced by the client's, and a position in a
  // rewritten EXECUTE moved back into the client's text; nullopt when
  // nothing needed changing.
  std::optional<std::string> restore_client_view(std::span<const uint8_t> error,
                                                 const ResponseTracker::Outcome& o);

  StatementRegistry& registry_;
  const size_t max_per_server_;
  const uint64_t client_id_;
  protocol::StreamScanner scan_;  // frames the bytes translate() gets
  ServerState* server_ = nullptr;

  Names statements_;
  size_t statement_bytes_ = 0;  // see kMaxClientStatementBytes
  Unnamed unnamed_ = Unnamed::kNone;
  // Which Sync segment claimed the server's unnamed statement for this
  // client: the claim holds within its segment, and after that segment's
  // answer (had it failed, the Undo would have dropped it); in between, a
  // Bind of the unnamed statement replays it rather than trust the claim.
  uint64_t syncs_sent_ = 0;
  uint64_t syncs_answered_ = 0;
  uint64_t claim_segment_ = 0;
  // The unnamed statement was parsed where no server saw it: whatever a
  // server holds under that name is older.
  bool unnamed_elsewhere_ = false;
  std::string unnamed_parse_;                        // kCopied: the last Parse("")
  std::unique_ptr<UnnamedCommand> unnamed_command_;  // rare: a pointer keeps sessions small
  bool portal_command_ = false;

  // The batch in progress.
  char tx_status_ = protocol::kTransactionIdle;
  bool copy_in_ = false;
  const protocol::TrackedParams* server_params_ = nullptr;
  bool dropping_ = false;  // the streamed message in progress is not forwarded
  StatementPtr retry_candidate_;
  std::unique_ptr<Retry> retry_;

  ResponseTracker tracker_;
  std::vector<Undo> undone_;
  Counters counters_;
};

}  // namespace usher::prepared
