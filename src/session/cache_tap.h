// The result cache's place in the relay (docs/cache.md): it sees the
// client's requests and the server's answers without changing them, and
//  - answers a Query from the cache before any server is taken (a hit),
//    when the relay owes the client nothing and no transaction is open;
//  - on a miss it can cache, keeps a copy of the server's answer
//    (RowDescription, DataRows, CommandComplete) and stores it at the
//    ReadyForQuery, unless anything else came, it grew past
//    query_cache_max_entry, or the tables' generations moved meanwhile;
//  - tells the database's Domain of every write it sees commit: with
//    `replication` it adds `SELECT pg_current_wal_insert_lsn()` behind the
//    committing request and keeps that answer from the client; with
//    `proxy` it invalidates what the write touched before the client hears
//    of the commit.
// Every read is counted once, per statement shape (cache/query_stats.h):
// a hit, a miss, or a refusal with its reason; a client whose settings
// Usher cannot know (SET ROLE, set_config()...) is not served from the
// cache again.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/cache.h"
#include "cache/domain.h"
#include "cache/flights.h"
#include "cache/statements.h"
#include "cache/store.h"
#include "protocol/outbox.h"
#include "protocol/scanner.h"
#include "protocol/tracked_params.h"

namespace usher::session {

class CacheTap {
 public:
  // `role`: the role the server runs the client's queries as (the pool's
  // user); `params`: the client's tracked settings, part of every key.
  CacheTap(cache::Access access, cache::StatementMemo& memo, std::string role,
           const protocol::TrackedParams& params);

  // How the relay frames the server's messages with the tap (and the
  // statement stage, when `statements`).
  static protocol::StreamScanner server_scanner(bool statements);

  // --- The client's side, in order.
  // Each client message as scanned: whole, or only its head (`whole`
  // false: a message too large to read whole).
  void client_message(char type, std::span<const uint8_t> message, bool whole);
  // Before the batch goes to a server: answers its leading Queries that
  // are hits into `to_client`, each with its ReadyForQuery. Only when the
  // relay owes the client nothing (`idle`) and no transaction is open.
  struct Answered {
    size_t bytes = 0;  // of `pending`, answered
    int queries = 0;
    // Nothing answered: a miss on what another client's fill is getting.
    // The relay may wait for it to land (once per batch), then ask again.
    std::shared_ptr<cache::Flight> flight;
  };
  // `no_server`: no server is held (transaction mode): only then may a
  // Parse be answered, since a held server would keep the old statement.
  Answered answer(std::span<const uint8_t> pending, bool idle, bool no_server, char tx_status,
                  protocol::Outbox& to_client);
  // The batch (what client_message() saw since the last call, less what
  // answer() took) goes to the server: arms a fill, and appends the
  // commit-position query when the batch may commit a write; true when it
  // did (one more ReadyForQuery is due from the server).
  // `answered_after`: how many ReadyForQuery messages the client will
  // have received when this batch is all answered (the relay's count so
  // far plus those due), which places the appended query in the stream.
  bool batch_ready(bool idle, char tx_status, uint64_t answered_after, protocol::Outbox& to_server);

  // --- The server's side.
  enum class Verdict {
    kForward,   // to the client, as usual
    kSwallow,   // the tap's own: not for the client
    kOwnReady,  // the ReadyForQuery of the tap's own query
  };
  // `answered`: ReadyForQuery messages the client has received so far.
  Verdict from_server(char type, std::span<const uint8_t> message, bool whole, uint64_t answered);
  // A ReadyForQuery the client receives (the server's, or one the stage
  // made up), before the relay counts it: a copied answer is stored, and
  // the end of a transaction invalidates what it wrote. Not for one the
  // stage swallows: that is not the end of anything the client asked.
  void client_ready(char status, int client_owed);
  // Own position queries still to answer (the relay counts them in).
  int own_pending() const { return static_cast<int>(own_at_.size()); }
  // The server is gone or given back: nothing more comes of what was sent.
  void detach();

  void release_memory();

 private:
  struct Capture {
    std::string key;
    cache::Store::Ticket ticket;
    cache::Clock::time_point expires;
    std::string bytes;
    bool complete = false;    // CommandComplete seen
    bool extended = false;    // an extended execution: BindComplete... ParseComplete left out
    cache::FlightLease lead;  // lands when the copy is stored or given up
    std::shared_ptr<cache::QueryRecord> stats;  // the read's, when counted
  };

  std::shared_ptr<const cache::StatementInfo> info_for(std::string_view text);
  // A simple Query's text that need not be analysed (info_for()), and what
  // it is taken for then: a read inside a transaction that has written
  // (replication invalidation only). Such reads are counted in SHOW CACHE
  // as refused, and not in SHOW CACHE_QUERIES.
  bool skip_analysis(std::string_view text) const;
  static std::shared_ptr<const cache::StatementInfo> plain_read_in_write_transaction();
  // `protocol`: 'Q' for a simple Query, 'E' for an extended execution.
  std::string key_for(const cache::StatementInfo& info, char protocol) const;
  bool client_may_hit() const;
  // Why no read of this batch may be answered from the cache; empty: one may.
  std::string_view why_no_hit(bool idle, char tx_status) const;
  // A read the client sent for execution: a refusal is counted now, a
  // cacheable one waits in batch_reads_ for what answer() makes of it.
  void executed(const cache::StatementInfo& info, char protocol);
  void refuse(cache::QueryRecord& stats, std::string_view why);
  // batch_ready(): what became of the batch's reads that answer() did not
  // answer from the cache.
  void count_unanswered();
  // answer() answers the batch's first waiting read from the cache.
  void answered_read();
  // The copy being made is not kept, for this reason.
  void drop_capture(std::string_view why);
  // On a miss that will be filled: the flight to wait for, or null when
  // this client leads the fill (lead_) or none is made.
  std::shared_ptr<cache::Flight> miss(std::string_view key);
  void note_write(const std::optional<std::vector<std::string>>& written, bool changes_catalog);
  void end_of_transaction(bool last);
  // A server message of the answer being copied.
  void copy(char type, std::span<const uint8_t> message, bool whole);
  void own_answer(char type, std::span<const uint8_t> message);

  std::shared_ptr<cache::Domain> domain_;
  cache::Store& store_;
  cache::Flights& flights_;
  cache::StatementMemo& memo_;
  std::shared_ptr<const cache::ClientSettings> settings_;
  const std::string role_;
  const protocol::TrackedParams& params_;

  bool settings_unknown_ = false;  // sticky: see the header comment
  // The batch being scanned.
  int batch_messages_ = 0;
  std::shared_ptr<const cache::StatementInfo> batch_query_;  // its only message, a Query
  bool batch_writes_ = false;
  bool batch_commits_ = false;      // a Query that ends a transaction (COMMIT...)
  bool batch_controls_tx_ = false;  // an execution that may begin or end one
  bool batch_copies_ = false;       // a COPY: nothing may follow it unasked
  // COMMIT AND CHAIN requests not yet answered: their commit leaves a
  // transaction open, so invalidation cannot wait for status 'I'.
  int chained_commits_ = 0;
  char batch_last_ = 0;  // the type of its last message
  // Extended protocol: what the client's statements are, and what its
  // portals do when executed.
  enum class Effect : uint8_t { kRead, kWrite, kCatalog, kTransaction };
  struct Statement {
    Effect effect = Effect::kCatalog;
    std::shared_ptr<const cache::StatementInfo> info;
    std::string param_types;  // Parse's count and OIDs, as sent
  };
  std::unordered_map<std::string, Statement> statements_;
  struct Portal {
    Effect effect = Effect::kCatalog;
    std::shared_ptr<const cache::StatementInfo> info;
  };
  std::unordered_map<std::string, Portal> portal_effects_;
  // The batch as one extended-protocol execution, the shape the cache
  // answers: [Parse] Bind [Describe portal] Execute(all rows) Sync, all
  // unnamed but the statement.
  struct Execution {
    enum Step : uint8_t { kNone, kParsed, kBound, kDescribed, kExecuted, kSynced, kOther };
    Step step = kNone;
    int messages = 0;
    bool parse = false;        // the batch has the Parse
    bool named_parse = false;  // ... of a named statement (a miss: it must reach the server)
    bool describe = false;
    std::shared_ptr<const cache::StatementInfo> info;
    std::string param_types;
    std::string bind;  // parameter formats and values, result formats, as sent
  };
  Execution exec_;
  // `parsed`: the decision on a Parse's statement, when it is one.
  void follow_execution(char type, std::span<const uint8_t> body, bool whole,
                        const std::shared_ptr<const cache::StatementInfo>& parsed);
  // The execution's key, or empty when the batch is not one.
  std::string execution_key() const;
  // The batch's cacheable reads not yet answered, in order ('Q' or 'E'),
  // and what answer() made of them: the first was looked up and missed,
  // or why none was (empty: each by its own kind).
  struct BatchRead {
    std::shared_ptr<cache::QueryRecord> stats;
    char protocol = 0;
  };
  std::vector<BatchRead> batch_reads_;
  bool first_missed_ = false;
  std::string_view why_unanswered_;
  bool batch_row_limit_ = false;  // an Execute with a row limit
  // The transaction in progress wrote (or may have).
  bool tx_writes_ = false;
  bool tx_targets_unknown_ = false;
  bool tx_changes_catalog_ = false;
  std::vector<std::string> tx_targets_;
  // Own position queries sent whose answers have not come: for each, how
  // many ReadyForQuery the client has received when its answer starts.
  std::deque<uint64_t> own_at_;
  std::optional<uint64_t> own_lsn_;
  std::optional<Capture> capture_;
  cache::FlightLease lead_;  // from miss() until batch_ready() arms the capture
  std::vector<std::shared_ptr<const std::string>> held_;  // hits being written
};

}  // namespace usher::session
