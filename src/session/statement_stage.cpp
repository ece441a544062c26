#include "session/statement_stage.h"

#include <atomic>

#include "protocol/frame.h"

namespace usher::session {

namespace {

// What the relay reads whole, and what the translator reads.
bool wants_whole(char type) {
  return relay_reads_whole(type) || prepared::server_wants_whole(type);
}

// Errors longer than prepared::kServerErrorWhole stream through unread.
bool is_error(char type) {
  return type == protocol::PqMsg_ErrorResponse;
}

uint64_t next_client_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

StatementStage::StatementStage(prepared::StatementRegistry& registry, size_t max_per_server,
                               uint32_t max_length)
    : translator_(registry, max_per_server, next_client_id(), max_length) {}

protocol::StreamScanner StatementStage::client_scanner(uint32_t max_length) const {
  // Framed as the translator frames them: what it reads arrives whole.
  return prepared::client_scanner(max_length);
}

protocol::StreamScanner StatementStage::server_scanner() const {
  return protocol::StreamScanner(0x7fffffff, kMaxControlMessage, wants_whole, is_error,
                                 prepared::kServerErrorWhole);
}

void StatementStage::answered_elsewhere(std::span<const uint8_t> messages) {
  // Only an unnamed Parse changes what the client holds (the cache answers
  // no named one).
  while (!messages.empty()) {
    auto h = protocol::peek_header(messages, kMaxControlMessage);
    if (h.status != protocol::FrameStatus::kReady || messages.size() < h.header.total()) return;
    auto msg = messages.first(h.header.total());
    if (h.header.type == protocol::PqMsg_Parse && msg.size() > protocol::kHeaderSize &&
        msg[protocol::kHeaderSize] == 0)
      translator_.unnamed_parsed_elsewhere(msg);
    messages = messages.subspan(h.header.total());
  }
}

void StatementStage::flush_stats(pool::StatsSlot& slot) {
  bool any = false;
  const prepared::Counters c = translator_.take_counters(any);
  if (!any) return;
  auto add = [](std::atomic<uint64_t>& counter, uint64_t n) {
    if (n != 0) pool::bump(counter, n);
  };
  add(slot.client_parse_count, c.client_parses);
  add(slot.server_parse_count, c.server_parses);
  add(slot.bind_count, c.binds);
  add(slot.statement_evictions, c.evictions);
  add(slot.statement_retries, c.retries);
}

}  // namespace usher::session
