#include "cache/stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <random>

#include "cache/server_query.h"
#include "cache/stream_impl.h"
#include "common/socket_id.h"
#include "net/message_io.h"
#include "protocol/frame.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/replication.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"

namespace usher::cache {
namespace {

using asio::as_tuple;
using asio::use_awaitable;
using Clock = StreamClock;

// The slot's answer is one short row.
constexpr size_t kMaxSlotAnswer = 64 << 10;
// Of an XLogData message, only this much is looked at (the rest is read
// and dropped as it comes): plenty for a line's "table names: ACTION:" of
// any table, though not for a TRUNCATE of several hundred tables at once,
// which then counts as a catalog change.
constexpr size_t kInspectBytes = 64 << 10;
// A stream that ran this long was healthy: the next failure backs off
// from retry_min again.
constexpr std::chrono::seconds kHealthyRun{60};
// Settings below these would spin.
constexpr std::chrono::milliseconds kMinRetry{100};
constexpr std::chrono::milliseconds kMinStatusInterval{10};
// Updates due sooner than this after the last are sent together, at its
// end: a busy stream would otherwise answer every commit with one (a
// write here, a wake-up of the walsender there). The first update after a
// quiet spell still goes at once.
constexpr std::chrono::milliseconds kStatusCoalesce{10};
// The periodic status update asks the server for an answer: a stream that
// hears nothing for this long (or this many intervals) is taken for dead,
// as a silent stream would let the cache serve what it no longer knows.
// Longer than half the default wal_sender_timeout (60 s): a walsender busy
// replaying a transaction that prints nothing (a huge DDL) reads no replies
// and only pings on its own after that.
constexpr std::chrono::seconds kMinSilence{40};
constexpr int kSilentIntervals = 4;
constexpr int kSlotNameRandomBytes = 8;

std::string random_slot_name() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string name = "usher_";
  for (int i = 0; i < kSlotNameRandomBytes; ++i) {
    unsigned byte = random() & 0xff;
    name.push_back(kHex[byte >> 4]);
    name.push_back(kHex[byte & 0xf]);
  }
  return name;
}

Error protocol_error(std::string message) {
  return make_error(protocol::sqlstate::protocol_violation, std::move(message));
}

}  // namespace

Error stream_failed(std::string_view doing, const Error& e) {
  return make_error(e.sqlstate, std::string(doing) + ": " + e.message);
}

Stream::Stream(asio::io_context& io, net::OffloadPool& offload, StreamSettings settings,
               StreamSink& sink)
    : impl_(std::make_shared<Impl>(io, offload, std::move(settings), sink)) {}

Stream::~Stream() {
  stop();
}

void Stream::start() {
  impl_->spawn(impl_->run(), "stream");
}

void Stream::stop() {
  impl_->stopped = true;
  impl_->backoff.cancel();
  if (impl_->current) impl_->end(*impl_->current);
}

void Stream::reload_catalog() {
  // Weak: a reload asked for as the stream goes away finds nothing to do.
  asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_)] {
    auto self = weak.lock();
    if (!self || self->stopped || !self->current || self->current->over) return;
    spdlog::info("query cache: catalog of database {} to be reloaded (DDL through Usher)",
                 self->settings.target.dbname);
    self->sink.catalog_changed(self->caught_up);
    self->schedule_reload(*self->current, Impl::SeenBy::kCaller);
  });
}

void Stream::Impl::spawn(asio::awaitable<void> coroutine, std::string_view what) {
  // The handler keeps the Impl alive until the coroutine is done.
  asio::co_spawn(io, std::move(coroutine), [self = shared_from_this(), what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("query cache {} of database {} failed: {}", what,
                       self->settings.target.dbname, ex.what());
    }
  });
}

void Stream::Impl::end(Attempt& a) {
  a.over = true;
  a.status_timer.cancel();
  a.catalog_timer.cancel();
  // Closed, not destroyed: a coroutine may be reading them.
  if (a.repl) {
    say_goodbye(*a.repl);
    a.repl->close();
  }
  if (a.catalog) {
    say_goodbye(*a.catalog);
    a.catalog->close();
  }
}

asio::awaitable<void> Stream::Impl::run() {
  const auto retry_min = std::max(settings.retry_min, kMinRetry);
  const auto retry_max = std::max(settings.retry_max, retry_min);
  auto delay = retry_min;
  while (!stopped) {
    auto a = std::make_shared<Attempt>(io);
    current = a;
    const auto began = Clock::now();
    Status st = co_await stream(a);
    end(*a);
    current.reset();
    if (stopped) co_return;
    std::string why = !a->failure.empty() ? a->failure : st ? "stream ended" : st.error().message;
    spdlog::warn("query cache invalidation for database {} stopped: {}", settings.target.dbname,
                 why);
    sink.stream_stopped(std::move(why));
    if (Clock::now() - began >= kHealthyRun) delay = retry_min;
    backoff.expires_after(delay);
    co_await backoff.async_wait(as_tuple(use_awaitable));
    delay = std::min(delay * 2, retry_max);
  }
}

asio::awaitable<Result<pool::ServerPtr>> Stream::Impl::connect(const pool::ServerTarget& target) {
  auto conn =
      co_await pool::connect_server(target, settings.connect_timeout, next_socket_id(), login);
  // A server that used SCRAM once is not let off with less next time.
  if (conn) login.weakest_allowed = std::max(login.weakest_allowed, (*conn)->auth);
  co_return conn;
}

asio::awaitable<Status> Stream::Impl::stream(std::shared_ptr<Attempt> a) {
  decoder = TransactionDecoder();
  caught_up = 0;
  if (settings.replicate) co_return co_await replicate(a);
  // Proxy invalidation: the catalog connection is the whole attempt. It is
  // up once connected, so that a server that is down does not make the
  // cache flap between started and stopped at every try.
  Status st = co_await open_catalog_connection(a);
  if (gone(*a)) co_return ok_status();
  if (!st) co_return st;
  spdlog::info("query cache for database {}: catalog only (proxy invalidation)",
               settings.target.dbname);
  sink.stream_started(0);
  co_return co_await keep_catalog(a);
}

asio::awaitable<Status> Stream::Impl::replicate(std::shared_ptr<Attempt> a) {
  pool::ServerTarget target = settings.target;
  if (target.hosts.size() > 1) target.host = target.hosts[next_host++ % target.hosts.size()];
  target.startup_params.emplace_back("replication", "database");
  target.connect_query.clear();  // for the pool's connections, not a walsender
  auto conn = co_await connect(target);
  if (gone(*a)) co_return ok_status();
  if (!conn) co_return stream_failed("could not connect for replication", conn.error());
  a->repl = std::move(*conn);

  // The slot first: every change after its consistent point will be
  // streamed, so nothing that stream_started() flushes can be missed, and
  // the catalog, read after it, is at least that new.
  const std::string slot = random_slot_name();
  size_t budget = kMaxSlotAnswer;
  auto created = co_await query_rows(
      *a->repl,
      "CREATE_REPLICATION_SLOT " + slot + " TEMPORARY LOGICAL test_decoding NOEXPORT_SNAPSHOT",
      budget, kMaxServerMessage);
  if (gone(*a)) co_return ok_status();
  if (!created) co_return stream_failed("could not create a replication slot", created.error());
  // slot_name, consistent_point, snapshot_name, output_plugin
  std::optional<uint64_t> start;
  if (created->size() == 1 && (*created)[0].size() >= 2)
    start = protocol::parse_lsn((*created)[0][1]);
  if (!start)
    co_return protocol_error("CREATE_REPLICATION_SLOT answered without a consistent point");
  a->processed = *start;
  spdlog::info("query cache invalidation for database {}: slot {} from {}", settings.target.dbname,
               slot, protocol::format_lsn(*start));
  sink.stream_started(*start);

  // The catalog, read after the slot's consistent point, is at least that
  // new; it loads while replication starts (a change streamed meanwhile
  // loads it again).
  spawn(keep_catalog_aside(a), "catalog");

  // include-xids off: the lines carry nothing the stream uses.
  // skip-empty-xacts off: a transaction of DDL alone must show, as BEGIN
  // and COMMIT with no change between.
  std::string start_command = "START_REPLICATION SLOT " + slot + " LOGICAL " +
                              protocol::format_lsn(*start) +
                              " (\"include-xids\" '0', \"skip-empty-xacts\" '0')";
  std::string out;
  protocol::write_query(out, start_command);
  Status st = co_await net::write_all(a->repl->stream(), out);
  if (st) st = co_await await_copy_both(*a->repl);
  if (gone(*a)) co_return ok_status();
  if (!st) co_return stream_failed("could not start replication", st.error());
  a->last_heard = Clock::now();
  spawn(write_status(a), "status updates");
  co_return co_await follow(a);
}

asio::awaitable<Status> Stream::Impl::follow(std::shared_ptr<Attempt> a) {
  net::Stream& socket = a->repl->stream();
  net::ByteBuffer& in = a->repl->in();
  while (true) {
    Status st = co_await net::read_at_least(socket, in, protocol::kHeaderSize);
    if (gone(*a)) co_return ok_status();
    if (!st) co_return stream_failed("replication connection lost", st.error());
    a->last_heard = Clock::now();
    // CopyData may be as long as a row is; anything else is read whole.
    auto h = protocol::peek_header(in.readable(), std::numeric_limits<uint32_t>::max());
    if (h.status == protocol::FrameStatus::kInvalid) {
      co_return protocol::framing_error(h.header.type, h.header.length);
    }
    const size_t total = h.header.total();
    if (h.header.type != protocol::PqMsg_CopyData) {
      if (h.header.length > kMaxServerMessage) {
        co_return protocol::framing_error(h.header.type, h.header.length);
      }
      st = co_await net::read_at_least(socket, in, total);
      if (gone(*a)) co_return ok_status();
      if (!st) co_return stream_failed("replication connection lost", st.error());
      a->last_heard = Clock::now();
      auto body = in.readable().subspan(protocol::kHeaderSize, h.header.body_size());
      if (h.header.type == protocol::PqMsg_ErrorResponse) {
        auto e = protocol::parse_error_fields(body);
        if (!e) co_return e.take_error();
        co_return make_error(std::string(e->code),
                             "server ended replication: " + std::string(e->message));
      }
      if (h.header.type == protocol::PqMsg_CopyDone) {
        co_return protocol_error("server ended replication (CopyDone)");
      }
      if (h.header.type != protocol::PqMsg_NoticeResponse &&
          h.header.type != protocol::PqMsg_ParameterStatus) {
        co_return protocol_error("unexpected message (type " +
                                 std::to_string(static_cast<unsigned char>(h.header.type)) +
                                 ") in the replication stream");
      }
      in.consume(total);
      continue;
    }
    const size_t inspect = std::min(total, protocol::kHeaderSize + kInspectBytes);
    st = co_await net::read_at_least(socket, in, inspect);
    if (gone(*a)) co_return ok_status();
    if (!st) co_return stream_failed("replication connection lost", st.error());
    a->last_heard = Clock::now();
    st = handle_copy_data(
        a, in.readable().subspan(protocol::kHeaderSize, inspect - protocol::kHeaderSize));
    if (!st) co_return st;
    // The rest of a long message is read and dropped as it arrives, never
    // held whole.
    size_t left = total;
    while (true) {
      const size_t n = std::min(left, in.size());
      in.consume(n);
      left -= n;
      if (left == 0) break;
      st = co_await net::read_at_least(socket, in, 1);
      if (gone(*a)) co_return ok_status();
      if (!st) co_return stream_failed("replication connection lost", st.error());
      a->last_heard = Clock::now();
    }
  }
}

Status Stream::Impl::handle_copy_data(const std::shared_ptr<Attempt>& a,
                                      std::span<const uint8_t> payload) {
  if (payload.empty()) return protocol_error("empty CopyData in the replication stream");
  if (payload[0] == protocol::kReplPrimaryKeepalive) {
    auto k = protocol::parse_primary_keepalive(payload);
    if (!k) return k.take_error();
    // Inside a transaction, its commit is still to come (test_decoding
    // sends the whole transaction at its commit, but a keepalive may slip
    // in while the server waits for room to send).
    if (!decoder.in_transaction()) advance(*a, k->wal_end);
    if (k->reply_requested) wake_status(*a);
    return ok_status();
  }
  if (payload[0] != protocol::kReplXLogData) {
    return protocol_error("unexpected message (type " + std::to_string(payload[0]) +
                          ") in the replication stream");
  }
  auto x = protocol::parse_xlog_data(payload);
  if (!x) return x.take_error();
  auto commit = decoder.feed(protocol::as_chars(x->data));
  if (!commit) return commit.take_error();
  if (*commit) {
    if ((*commit)->catalog_change) {
      sink.catalog_changed(x->wal_end);
      schedule_reload(*a, SeenBy::kStream);
    } else {
      sink.tables_changed((*commit)->tables, x->wal_end);
    }
  }
  if (!decoder.in_transaction()) advance(*a, x->wal_end);
  return ok_status();
}

void Stream::Impl::advance(Attempt& a, uint64_t lsn) {
  if (lsn <= caught_up) return;
  caught_up = lsn;
  sink.caught_up(lsn);
  // Telling the server at once keeps its keepalives coming as WAL moves
  // on (it sends one whenever the flush position we report is behind it),
  // which is what carries caught_up() forward on an otherwise idle server.
  a.processed = lsn;
  wake_status(a);
}

void Stream::Impl::wake_status(Attempt& a) {
  a.status_due = true;
  if (!a.status_held) a.status_timer.cancel();
}

asio::awaitable<void> Stream::Impl::write_status(std::shared_ptr<Attempt> a) {
  const auto interval = std::max(settings.status_interval, kMinStatusInterval);
  const auto silence =
      std::max<std::chrono::milliseconds>(kMinSilence, kSilentIntervals * interval);
  while (!gone(*a)) {
    // Woken early (the position moved, the server asked): an update now.
    // Otherwise the interval's update, which asks the server to answer, so
    // that a stream that has gone quiet is noticed.
    bool periodic = false;
    if (!a->status_due) {
      a->status_timer.expires_after(interval);
      auto [ec] = co_await a->status_timer.async_wait(as_tuple(use_awaitable));
      if (gone(*a)) co_return;
      periodic = !ec;
    }
    if (!periodic && Clock::now() - a->status_sent < kStatusCoalesce) {
      a->status_held = true;
      a->status_timer.expires_at(a->status_sent + kStatusCoalesce);
      co_await a->status_timer.async_wait(as_tuple(use_awaitable));
      a->status_held = false;
      if (gone(*a)) co_return;
    }
    if (periodic && Clock::now() - a->last_heard > silence) {
      a->failure =
          "no word from the server in " +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silence).count()) +
          " seconds";
      end(*a);
      co_return;
    }
    a->status_due = false;
    std::string out;
    protocol::write_standby_status(
        out, {.write = a->processed,
              .flush = a->processed,
              .apply = a->processed,
              .time = protocol::to_pg_timestamp(std::chrono::system_clock::now()),
              .reply_requested = periodic});
    a->status_sent = Clock::now();
    Status st = co_await net::write_all(a->repl->stream(), out);
    if (gone(*a)) co_return;
    if (!st) {
      a->repl->close();  // the reader fails and reports it
      co_return;
    }
  }
}

}  // namespace usher::cache
