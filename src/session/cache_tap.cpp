#include "session/cache_tap.h"

#include <charconv>
#include <cstring>

#include "prepared/translator.h"
#include "protocol/extended.h"
#include "protocol/frame.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/replication.h"
#include "protocol/writer.h"
#include "session/stage.h"
#include "sql/lexical.h"

namespace usher::session {

namespace {

using protocol::PqMsg_CommandComplete;
using protocol::PqMsg_DataRow;
using protocol::PqMsg_ErrorResponse;
using protocol::PqMsg_ReadyForQuery;
using protocol::PqMsg_RowDescription;

// The position query behind a committing write: the insert position is at
// or past the end of every commit record written so far, even with
// synchronous_commit off (the write and flush positions may not be).
// The block size comes with it: see exact_commit_position().
constexpr std::string_view kPositionQuery =
    "SELECT pg_catalog.pg_current_wal_insert_lsn(), "
    "pg_catalog.current_setting('wal_block_size')::int";

// A WAL page that is not a segment's first starts with a 24-byte header
// (SizeOfXLogShortPHD). An insert position right after one means the last
// record ended at the page's start, and the stream reports that start, not
// the position: without this, hits would wait for the next WAL record,
// seconds on an idle server. (A segment's first page has a 40-byte header,
// so no insert position sits 24 bytes into it.)
constexpr uint64_t kShortPageHeader = 24;
uint64_t exact_commit_position(uint64_t lsn, uint64_t block_size) {
  if (block_size == 0 || lsn % block_size != kShortPageHeader) return lsn;
  return lsn - kShortPageHeader;
}

// What a result the tap copies is made of; messages up to this size are
// read whole (larger ones stream through, and the copy is abandoned).
constexpr uint32_t kCopiedWhole = prepared::kServerErrorWhole;

// Per client: statements and portals followed for write detection. Past
// this, everything executed counts as a write.
constexpr size_t kMaxTrackedNames = 1024;

// Bind's parameters are part of the key; larger ones are not cached.
constexpr size_t kMaxBindInKey = 64 * 1024;

// The version of the key's layout: a new layout never reads an old key.
constexpr char kKeyVersion = '1';

// What an answer the tap copies is made of: a simple Query's
// RowDescription, DataRows and CommandComplete; an extended execution's
// BindComplete, RowDescription or NoData, DataRows and CommandComplete
// (its ParseComplete is left out and written on a hit that has a Parse).
bool copied_type(char type) {
  return type == PqMsg_RowDescription || type == PqMsg_DataRow || type == PqMsg_CommandComplete;
}
bool copied_extended_type(char type) {
  return copied_type(type) || type == protocol::PqMsg_BindComplete ||
         type == protocol::PqMsg_NoData;
}
bool tiny_type(char type) {
  return type == protocol::PqMsg_ParseComplete || type == protocol::PqMsg_BindComplete ||
         type == protocol::PqMsg_NoData;
}
bool tap_whole(char type) {
  return relay_reads_whole(type) || copied_type(type) || tiny_type(type);
}
bool tap_and_statements_whole(char type) {
  return tap_whole(type) || prepared::server_wants_whole(type);
}
bool streams_when_large(char type) {
  return copied_type(type) || type == PqMsg_ErrorResponse;
}

void append_sized(std::string& out, std::string_view s) {
  const auto n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(s);
}

void bump(std::atomic<uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

std::string_view as_text(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The NUL-terminated string at the start of `body`.
std::string_view leading_cstring(std::span<const uint8_t> body) {
  const auto* p = static_cast<const uint8_t*>(std::memchr(body.data(), 0, body.size()));
  if (!p) return {};
  return {reinterpret_cast<const char*>(body.data()), size_t(p - body.data())};
}

}  // namespace

CacheTap::CacheTap(cache::Access access, cache::StatementMemo& memo, std::string role,
                   const protocol::TrackedParams& params)
    : domain_(std::move(access.domain)),
      store_(*access.store),
      flights_(*access.flights),
      memo_(memo),
      settings_(std::move(access.settings)),
      role_(std::move(role)),
      params_(params) {}

protocol::StreamScanner CacheTap::server_scanner(bool statements) {
  return protocol::StreamScanner(0x7fffffff, kMaxControlMessage,
                                 statements ? tap_and_statements_whole : tap_whole,
                                 streams_when_large, kCopiedWhole);
}

std::shared_ptr<const cache::StatementInfo> CacheTap::info_for(std::string_view text) {
  return memo_.get(domain_->id(), domain_->catalog(), text, params_.standard_conforming_strings(),
                   domain_->mode() == cache::Invalidation::kProxy, settings_->include,
                   settings_->exclude, &domain_->queries());
}

bool CacheTap::skip_analysis(std::string_view text) const {
  // Inside a transaction that has written, a read is never cached and
  // adds nothing to what the commit does: the position query follows it
  // anyway, and the stream sees whatever a view's function might write.
  // Only a SELECT that calls nothing is taken on its word; the rest is
  // parsed (a function may SET, or run DDL).
  return tx_writes_ && domain_->mode() == cache::Invalidation::kReplication &&
         cache::plain_select(text, params_.standard_conforming_strings());
}

std::shared_ptr<const cache::StatementInfo> CacheTap::plain_read_in_write_transaction() {
  static const auto kInfo = [] {
    cache::StatementInfo info;
    info.kind = sql::StatementKind::kRead;
    info.refusal = cache::refusal::kInTransaction;
    return std::make_shared<const cache::StatementInfo>(std::move(info));
  }();
  return kInfo;
}

std::string CacheTap::key_for(const cache::StatementInfo& info, char protocol) const {
  // Everything that changes the bytes of a result: the database, the role,
  // every tracked setting (TimeZone, DateStyle, client_encoding, search_path
  // when set at login...), and the statement's text without comments.
  std::string key;
  key.push_back(kKeyVersion);
  const uint32_t db = domain_->id();
  key.append(reinterpret_cast<const char*>(&db), sizeof db);
  append_sized(key, role_);
  for (int i = 0; i < int(params_.size()); ++i) {
    if (i == protocol::TrackedParams::kApplicationName || !params_.has(i)) continue;
    append_sized(key, params_.name(i));
    append_sized(key, params_.get(i));
  }
  key.push_back(protocol);
  append_sized(key, info.key_text);
  return key;
}

bool CacheTap::client_may_hit() const {
  // In SJIS, BIG5, GBK... a character's second byte may be a backslash:
  // Usher lexes the bytes, the server lexes after converting them, and the
  // two may not see the same statements (a SET ROLE hidden in a string).
  const int encoding = protocol::TrackedParams::kClientEncoding;
  return !settings_unknown_ &&
         !(params_.has(encoding) && sql::backslash_in_multibyte(params_.get(encoding)));
}

std::shared_ptr<cache::Flight> CacheTap::miss(std::string_view key) {
  if (!domain_->filling()) return nullptr;
  return flights_.join_or_lead(key, lead_);
}

void CacheTap::client_message(char type, std::span<const uint8_t> message, bool whole) {
  ++batch_messages_;
  batch_last_ = type;
  batch_query_.reset();
  std::span<const uint8_t> body =
      whole ? message.subspan(protocol::kHeaderSize) : std::span<const uint8_t>{};
  // A Parse's statement is decided once, for both uses below.
  std::shared_ptr<const cache::StatementInfo> parsed;
  auto parse = type == protocol::PqMsg_Parse && whole
                   ? protocol::parse_parse(body)
                   : Result<protocol::ParseMessage>(make_error("", "not read"));
  if (parse) parsed = info_for(parse->query);
  follow_execution(type, body, whole, parsed);
  switch (type) {
    case protocol::PqMsg_Query: {
      if (!whole) {  // too large to read: assume the worst
        batch_writes_ = true;
        batch_controls_tx_ = true;
        batch_copies_ = true;
        settings_unknown_ = true;
        note_write(std::nullopt, true);
        return;
      }
      auto text = protocol::parse_query(body);
      if (!text) {
        batch_writes_ = true;
        note_write(std::nullopt, true);
        return;
      }
      auto info = skip_analysis(*text) ? plain_read_in_write_transaction() : info_for(*text);
      executed(*info, 'Q');
      if (info->hides_settings) settings_unknown_ = true;
      if (info->may_write) {
        batch_writes_ = true;
        note_write(info->written, info->may_change_catalog);
      }
      batch_commits_ = info->commits;
      // DEALLOCATE and DISCARD drop statements: which, is the server's say.
      if (sql::is_word(sql::first_word(*text), "deallocate") ||
          sql::is_word(sql::first_word(*text), "discard"))
        statements_.clear();
      if (info->copies) batch_copies_ = true;
      if (info->chains) ++chained_commits_;
      if (info->kind == sql::StatementKind::kTransaction ||
          info->refusal == sql::refusal::kMultipleStatements)
        batch_controls_tx_ = true;
      if (batch_messages_ == 1) batch_query_ = std::move(info);
      return;
    }
    case protocol::PqMsg_Parse: {
      if (!parse) {
        settings_unknown_ = true;
        return;  // its Execute will count as a catalog change
      }
      auto info = std::move(parsed);
      if (info->hides_settings) settings_unknown_ = true;
      if (statements_.size() >= kMaxTrackedNames) statements_.clear();
      Statement& st = statements_[std::string(parse->name)];
      st.effect = info->kind == sql::StatementKind::kTransaction ? Effect::kTransaction
                  : !info->may_write                             ? Effect::kRead
                  : info->may_change_catalog                     ? Effect::kCatalog
                                                                 : Effect::kWrite;
      st.info = std::move(info);
      st.param_types.assign(parse->param_types);
      return;
    }
    case protocol::PqMsg_Bind: {
      auto bind = whole ? protocol::parse_bind(body)
                        : Result<protocol::BindMessage>(make_error("", "streamed"));
      if (!bind) return;  // its Execute will count as a catalog change
      auto it = statements_.find(std::string(bind->statement));
      if (portal_effects_.size() >= kMaxTrackedNames) portal_effects_.clear();
      portal_effects_[std::string(bind->portal)] =
          it == statements_.end() ? Portal{} : Portal{it->second.effect, it->second.info};
      return;
    }
    case protocol::PqMsg_Execute: {
      const std::string_view portal = whole ? leading_cstring(body) : std::string_view{};
      auto it = whole ? portal_effects_.find(std::string(portal)) : portal_effects_.end();
      const Effect effect = it == portal_effects_.end() ? Effect::kCatalog : it->second.effect;
      if (it != portal_effects_.end() && it->second.info) {
        // Its row limit: the int32 after the portal's name.
        const size_t at = portal.size() + 1;
        if (body.size() >= at + 4 && std::memcmp(body.data() + at, "\0\0\0\0", 4) != 0)
          batch_row_limit_ = true;
        executed(*it->second.info, 'E');
      }
      // Unknown: it might be BEGIN as well as anything else.
      if (effect == Effect::kTransaction || it == portal_effects_.end()) batch_controls_tx_ = true;
      if (effect == Effect::kWrite || effect == Effect::kCatalog) {
        batch_writes_ = true;
        // Which tables: only the proxy needs them, and then only a flush is
        // sure for a statement parsed in another batch.
        note_write(std::nullopt, effect == Effect::kCatalog);
      }
      return;
    }
    case protocol::PqMsg_Close: {
      // A closed statement is no longer the client's: a Bind of it must
      // reach the server and fail there, not be answered from the cache.
      auto close = whole ? protocol::parse_close(body)
                         : Result<protocol::TargetMessage>(make_error("", "streamed"));
      if (!close) {
        statements_.clear();
      } else if (close->kind == protocol::kTargetPortal) {
        portal_effects_.erase(std::string(close->name));
      } else {
        statements_.erase(std::string(close->name));
      }
      return;
    }
    case protocol::PqMsg_FunctionCall:
      batch_writes_ = true;
      note_write(std::nullopt, true);
      return;
    default:
      return;
  }
}

void CacheTap::follow_execution(char type, std::span<const uint8_t> body, bool whole,
                                const std::shared_ptr<const cache::StatementInfo>& parsed) {
  using Step = Execution::Step;
  Execution& e = exec_;
  ++e.messages;
  if (e.step == Step::kOther) return;
  const Step step = e.step;
  e.step = Step::kOther;  // unless the message fits the shape
  // A Sync has no body (the scanner does not read it whole); the others
  // are read whole unless too large to be cached anyway.
  if (type == protocol::PqMsg_Sync) {
    if (step == Step::kExecuted) e.step = Step::kSynced;
    return;
  }
  if (!whole) return;
  switch (type) {
    case protocol::PqMsg_Parse: {
      auto parse = protocol::parse_parse(body);
      if (step != Step::kNone || !parse || !parsed) return;
      e.parse = true;
      e.named_parse = !parse->name.empty();
      e.param_types.assign(parse->param_types);
      e.info = parsed;
      e.step = Step::kParsed;
      return;
    }
    case protocol::PqMsg_Bind: {
      auto bind = protocol::parse_bind(body);
      if ((step != Step::kNone && step != Step::kParsed) || !bind || !bind->portal.empty() ||
          bind->rest.size() > kMaxBindInKey)
        return;
      if (step == Step::kNone) {
        // A statement parsed in an earlier batch.
        auto it = statements_.find(std::string(bind->statement));
        if (it == statements_.end() || !it->second.info) return;
        e.info = it->second.info;
        e.param_types = it->second.param_types;
      }
      e.bind.assign(as_text(bind->rest));
      e.step = Step::kBound;
      return;
    }
    case protocol::PqMsg_Describe: {
      auto d = protocol::parse_describe(body);
      if (step != Step::kBound || !d || d->kind != protocol::kTargetPortal || !d->name.empty())
        return;
      e.describe = true;
      e.step = Step::kDescribed;
      return;
    }
    case protocol::PqMsg_Execute: {
      // The unnamed portal, every row: a row limit ends in PortalSuspended,
      // a partial answer never stored.
      constexpr size_t kAllRows = 5;  // "" and an int32 of 0
      static constexpr uint8_t kUnnamedAllRows[kAllRows] = {0, 0, 0, 0, 0};
      if ((step != Step::kBound && step != Step::kDescribed) || body.size() != kAllRows ||
          std::memcmp(body.data(), kUnnamedAllRows, kAllRows) != 0)
        return;
      e.step = Step::kExecuted;
      return;
    }
    default:
      return;
  }
}

std::string CacheTap::execution_key() const {
  const Execution& e = exec_;
  if (e.step != Execution::kSynced || e.messages != batch_messages_ || !e.info ||
      !e.info->refusal.empty())
    return {};
  std::string key = key_for(*e.info, 'E');
  key.push_back(e.describe ? 'D' : '-');
  append_sized(key, e.param_types);
  append_sized(key, e.bind);
  return key;
}

void CacheTap::note_write(const std::optional<std::vector<std::string>>& written,
                          bool changes_catalog) {
  tx_writes_ = true;
  if (changes_catalog) tx_changes_catalog_ = true;
  if (!written) {
    tx_targets_unknown_ = true;
    tx_targets_.clear();
  } else if (!tx_targets_unknown_) {
    tx_targets_.insert(tx_targets_.end(), written->begin(), written->end());
    // A transaction of many writes flushes rather than grow without bound.
    if (tx_targets_.size() > kMaxTrackedNames) {
      tx_targets_unknown_ = true;
      tx_targets_.clear();
    }
  }
}

CacheTap::Answered CacheTap::answer(std::span<const uint8_t> pending, bool idle, bool no_server,
                                    char tx_status, protocol::Outbox& to_client) {
  held_.clear();
  lead_.drop();  // a batch not sent: its fill never ran
  Answered done;
  first_missed_ = false;
  why_unanswered_ = why_no_hit(idle, tx_status);
  if (!why_unanswered_.empty()) return done;
  const auto now = cache::Clock::now();
  if (exec_.step == Execution::kSynced) {
    // The batch is one extended execution: answered whole, or not at all.
    if (exec_.parse && exec_.named_parse) {
      why_unanswered_ = cache::refusal::kNamedParse;
      return done;
    }
    if (exec_.parse && !no_server) {
      why_unanswered_ = cache::refusal::kServerHeld;
      return done;
    }
    const std::string key = execution_key();
    if (key.empty()) return done;
    auto value = store_.find(key, now);
    if (!value) {
      first_missed_ = true;
      done.flight = miss(key);
      return done;
    }
    answered_read();
    if (exec_.parse)
      to_client.write_own([](std::string& out) { protocol::write_parse_complete(out); });
    to_client.pass(std::span(reinterpret_cast<const uint8_t*>(value->data()), value->size()));
    to_client.write_own(
        [](std::string& out) { protocol::write_ready_for_query(out, protocol::kTransactionIdle); });
    held_.push_back(std::move(value));
    done.bytes = pending.size();
    done.queries = 1;
    batch_messages_ = 0;
    batch_query_.reset();
    exec_ = {};
    return done;
  }
  while (done.bytes < pending.size()) {
    auto h = protocol::peek_header(pending.subspan(done.bytes), kMaxControlMessage);
    if (h.status != protocol::FrameStatus::kReady || h.header.type != protocol::PqMsg_Query ||
        pending.size() - done.bytes < h.header.total())
      break;
    auto body = pending.subspan(done.bytes + protocol::kHeaderSize, h.header.body_size());
    auto text = protocol::parse_query(body);
    if (!text) break;
    auto info = info_for(*text);
    if (!info->refusal.empty()) break;
    std::string key = key_for(*info, 'Q');
    auto value = store_.find(key, now);
    if (!value) {
      first_missed_ = true;
      // Only a batch of one Query is filled.
      if (done.queries == 0 && batch_messages_ == 1 && h.header.total() == pending.size())
        done.flight = miss(key);
      break;
    }
    answered_read();
    to_client.pass(std::span(reinterpret_cast<const uint8_t*>(value->data()), value->size()));
    to_client.write_own(
        [](std::string& out) { protocol::write_ready_for_query(out, protocol::kTransactionIdle); });
    held_.push_back(std::move(value));
    done.bytes += h.header.total();
    ++done.queries;
  }
  if (done.queries > 0) {
    // The batch client_message() saw now starts after the answered ones;
    // only a batch of one Query is ever filled, so start afresh.
    batch_messages_ = std::max(0, batch_messages_ - done.queries);
    batch_query_.reset();
  }
  return done;
}

bool CacheTap::batch_ready(bool idle, char tx_status, uint64_t answered_after,
                           protocol::Outbox& to_server) {
  const bool single = batch_messages_ == 1;
  auto query = std::move(batch_query_);
  std::string exec_key = execution_key();
  auto exec_info = exec_.info;
  exec_ = {};
  const bool writes = batch_writes_;
  const bool commits = batch_commits_;
  const bool controls_tx = batch_controls_tx_;
  const bool copies = batch_copies_;
  const char last = batch_last_;
  batch_messages_ = 0;
  batch_writes_ = false;
  batch_commits_ = false;
  batch_controls_tx_ = false;
  batch_copies_ = false;
  batch_last_ = 0;
  const bool fill_query = single && query && query->refusal.empty();
  const bool may_fill = idle && (fill_query || !exec_key.empty()) &&
                        tx_status == protocol::kTransactionIdle && client_may_hit();
  const bool fill = may_fill && domain_->filling();
  std::shared_ptr<cache::QueryRecord> stats =
      batch_reads_.empty() ? nullptr : batch_reads_.front().stats;
  if (first_missed_ && stats && !fill) {
    stats->not_stored(may_fill ? cache::unstored::kNotFilling : cache::refusal::kPipelined);
  }
  count_unanswered();
  if (fill) {
    // A miss we may fill: the generations are read now, before the query
    // runs, so that a write committed meanwhile refuses the result.
    const auto& info = fill_query ? *query : *exec_info;
    Capture c;
    c.extended = !fill_query;
    c.key = fill_query ? key_for(info, 'Q') : std::move(exec_key);
    c.ticket = store_.begin_fill(domain_->id(), info.tables);
    if (lead_ && lead_.key() == c.key) c.lead = std::move(lead_);
    c.stats = std::move(stats);
    const int64_t ttl = info.ttl_ms >= 0 ? info.ttl_ms : settings_->ttl.count();
    c.expires = ttl > 0 ? cache::Clock::now() + std::chrono::milliseconds(ttl)
                        : cache::Clock::time_point::max();
    capture_ = std::move(c);
  }
  lead_.drop();  // not filled after all: whoever waits goes to the server
  // Not behind a COPY: the server would read the query as CopyData.
  if (domain_->mode() != cache::Invalidation::kReplication || !tx_writes_ || copies) return false;
  // Only where the transaction is sure to be over when the position query
  // runs (it must not run in an aborted transaction): after COMMIT and
  // friends, after one write statement sent outside a transaction, or
  // after extended-protocol writes sent outside a transaction and ended by
  // a Sync, with no statement among them that could open one.
  const bool outside = idle && tx_status == protocol::kTransactionIdle;
  const bool autocommit = last == protocol::PqMsg_Query && outside && single && writes && query &&
                          query->refusal != sql::refusal::kMultipleStatements;
  const bool extended = last == protocol::PqMsg_Sync && outside && writes && !controls_tx;
  if (!(last == protocol::PqMsg_Query && commits) && !autocommit && !extended) return false;
  to_server.write_own([](std::string& out) { protocol::write_query(out, kPositionQuery); });
  domain_->commit_begin();
  own_at_.push_back(answered_after);
  return true;
}

CacheTap::Verdict CacheTap::from_server(char type, std::span<const uint8_t> message, bool whole,
                                        uint64_t answered) {
  if (!own_at_.empty() && own_at_.front() == answered) {
    // The client's requests before it are answered: this is the position
    // query's.
    own_answer(type, whole ? message : std::span<const uint8_t>{});
    if (type != PqMsg_ReadyForQuery) return Verdict::kSwallow;
    own_at_.pop_front();
    domain_->commit_end(own_lsn_);
    own_lsn_.reset();
    return Verdict::kOwnReady;
  }
  if (capture_ && type != PqMsg_ReadyForQuery) copy(type, message, whole);
  return Verdict::kForward;
}

void CacheTap::client_ready(char status, int client_owed) {
  if (capture_) {
    if (!capture_->complete) {
      drop_capture(cache::unstored::kOtherMessage);
    } else if (status != protocol::kTransactionIdle) {
      drop_capture(cache::unstored::kEndedInTransaction);
    } else if (!domain_->filling()) {
      drop_capture(cache::unstored::kNotFilling);
    } else {
      bump(domain_->lookups().fills);
      const bool stored = store_.insert(std::move(capture_->key), std::move(capture_->bytes),
                                        capture_->ticket, capture_->expires);
      if (capture_->stats) {
        if (stored) {
          capture_->stats->stored();
        } else {
          capture_->stats->not_stored(cache::unstored::kStaleFill);
        }
      }
      capture_.reset();
    }
  }
  // Requests still owed may include writes not run yet: invalidate at every
  // end of a transaction until the last is answered.
  if (status == protocol::kTransactionIdle || chained_commits_ > 0) {
    if (client_owed <= 1) chained_commits_ = 0;
    end_of_transaction(client_owed <= 1);
  }
}

void CacheTap::own_answer(char type, std::span<const uint8_t> message) {
  if (type == PqMsg_DataRow && !message.empty()) {
    auto row = protocol::parse_data_row(message.subspan(protocol::kHeaderSize));
    if (!row || row->size() != 2 || !(*row)[0] || !(*row)[1]) return;
    uint64_t block_size = 0;
    const std::string_view bs = *(*row)[1];
    std::from_chars(bs.data(), bs.data() + bs.size(), block_size);
    if (auto lsn = protocol::parse_lsn(*(*row)[0]))
      own_lsn_ = exact_commit_position(*lsn, block_size);
  } else if (type == PqMsg_ErrorResponse) {
    own_lsn_.reset();
  }
}

void CacheTap::end_of_transaction(bool last) {
  // The client is about to hear that its transaction is over; whatever it
  // wrote must be invalidated (or be covered by a position query still to
  // answer: that query was sent after this request) before it does.
  if (!tx_writes_) return;
  if (tx_changes_catalog_) {
    domain_->reload_catalog();
  } else if (domain_->mode() == cache::Invalidation::kProxy) {
    domain_->tables_written(tx_targets_unknown_ ? std::nullopt : std::optional(tx_targets_));
  } else if (own_at_.empty()) {
    domain_->commit_unknown();
  }
  if (!last) return;
  tx_writes_ = false;
  tx_changes_catalog_ = false;
  tx_targets_unknown_ = false;
  tx_targets_.clear();
}

void CacheTap::copy(char type, std::span<const uint8_t> message, bool whole) {
  Capture& c = *capture_;
  // A Parse's answer: on a hit, Usher writes its own when the hit has one.
  if (c.extended && type == protocol::PqMsg_ParseComplete && c.bytes.empty()) return;
  if (!whole || c.bytes.size() + message.size() > settings_->max_entry) {
    drop_capture(cache::unstored::kTooLarge);
    return;
  }
  if (c.complete || !(c.extended ? copied_extended_type(type) : copied_type(type))) {
    // Anything else (a notice, an error, a setting reported, a row limit):
    // this answer is not kept.
    drop_capture(cache::unstored::kOtherMessage);
    return;
  }
  c.bytes.append(as_text(message));
  c.complete = type == PqMsg_CommandComplete;
}

void CacheTap::detach() {
  capture_.reset();
  count_unanswered();
  lead_.drop();
  // Position queries that will never answer: their commits may have
  // happened, at a position no one knows.
  for (; !own_at_.empty(); own_at_.pop_front())
    domain_->commit_end(std::nullopt);
  own_lsn_.reset();
  // A transaction cut off may have committed.
  end_of_transaction(true);
}

void CacheTap::release_memory() {
  held_.clear();
  held_.shrink_to_fit();
  batch_reads_.shrink_to_fit();
}

}  // namespace usher::session
