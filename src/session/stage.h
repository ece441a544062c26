// A stage of the relay: it sees the messages of one client's session on
// their way between client and server, with state of its own, and may
// change what passes. The relay (session/relay.h) moves the bytes and calls
// its stage at fixed points; a stage does no I/O.
//
// Prepared statements are the first stage (session/statement_stage.h):
// they rewrite the client's messages for whatever server it holds, add
// their own (a Parse the server lacks), and answer some requests
// themselves (a Parse the server already has). The result cache, metrics
// and routing come next; a stage that answers without any server (a cache
// hit) will add a hook before the relay takes one.
//
// What every stage must keep: the answers the client receives are those,
// and in the order, that PostgreSQL would have sent it; and memory per
// client stays bounded (has_room() is its backpressure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "pool/pool_stats.h"
#include "pool/server_connection.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/outbox.h"
#include "protocol/scanner.h"
#include "protocol/tracked_params.h"

namespace usher::session {

// Messages the relay or a stage reads must arrive whole and fit in this.
inline constexpr uint32_t kMaxControlMessage = 1 << 20;

// Server messages the relay itself reads whole: ReadyForQuery decides when
// the server can go back to the pool, ParameterStatus updates the tracked
// settings. A stage's server_scanner() reads them whole too.
inline bool relay_reads_whole(char type) {
  return type == protocol::PqMsg_ReadyForQuery || type == protocol::PqMsg_ParameterStatus;
}

// The relay's view of the exchange in progress, as a stage needs it.
struct RelayState {
  char tx_status = protocol::kTransactionIdle;  // the last ReadyForQuery status
  bool in_copy = false;  // the server is taking COPY data (it ignores a Sync)
};

class Stage {
 public:
  virtual ~Stage() = default;

  // How the relay frames the client's messages for this stage (what it
  // must see whole), and the server's (with relay_reads_whole()).
  virtual protocol::StreamScanner client_scanner(uint32_t max_length) const = 0;
  virtual protocol::StreamScanner server_scanner() const = 0;

  // The server the client now holds (null: none). Its answers to earlier
  // requests are no longer expected.
  virtual void attach(pool::ServerConnection* server) = 0;

  // --- Client to server ---
  // Room for more client requests; while false the relay reads no more of
  // the client.
  virtual bool has_room() const = 0;
  // The client's next bytes, as client_scanner() framed them (whole
  // messages and pieces of streamed ones), written for the attached server
  // into `to_server`.
  virtual void from_client(std::span<const uint8_t> bytes, const RelayState& state,
                           protocol::Outbox& to_server) = 0;

  // --- Server to client ---
  // A server message at its start (`whole` when all of it): true when it
  // goes to the client as it is; a replacement, if any, goes to `to_client`.
  virtual bool from_server(char type, std::span<const uint8_t> bytes, bool whole,
                           protocol::Outbox& to_client) = 0;
  // An answer of the stage's own is due before the server's next message.
  virtual bool answer_due() = 0;
  // Adds it to `to_client`; true when it answers a whole Query, so that the
  // relay adds its ReadyForQuery.
  virtual bool take_answer(protocol::Outbox& to_client) = 0;
  // The exchange is to be sent again (write_resend()), as it was, now that
  // the stage has made the server ready for it.
  virtual bool resend_due() const = 0;
  virtual void write_resend(protocol::Outbox& to_server) = 0;
  // Requests the server skipped (while skipping to Sync after an error)
  // that the relay counted as owed a ReadyForQuery, since the last call.
  virtual size_t take_skipped_queries() = 0;
  // No answer is due from the server, as far as this stage knows.
  virtual bool idle() const = 0;

  // Whole client messages the result cache answered (session/cache_tap.h):
  // they reach no server, but count for what the client believes exists.
  virtual void answered_elsewhere(std::span<const uint8_t> messages) { (void)messages; }

  // Its statistics since the last call, added to the pool's `slot`.
  virtual void flush_stats(pool::StatsSlot& slot) = 0;
  // An idle client: give spare memory back.
  virtual void release_memory() = 0;
  // SHOW CLIENTS prepared_statements: the client's own.
  virtual size_t statement_count() const { return 0; }
};

}  // namespace usher::session
