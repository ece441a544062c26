// Prepared statements in transaction and statement mode, as a stage of the
// relay: prepared::Translator (pure, fuzzed) does the work; this gives it
// the relay's view and the server the client holds.
#pragma once

#include <memory>

#include "prepared/server_statements.h"
#include "prepared/translator.h"
#include "session/stage.h"

namespace usher::session {

class StatementStage final : public Stage {
 public:
  // `registry`: the pool's shared statements; `max_per_server`:
  // max_prepared_statements; `max_length`: the longest client message.
  StatementStage(prepared::StatementRegistry& registry, size_t max_per_server, uint32_t max_length);

  protocol::StreamScanner client_scanner(uint32_t max_length) const override;
  protocol::StreamScanner server_scanner() const override;
  void attach(pool::ServerConnection* server) override {
    server_ = server;
    translator_.attach(server ? &server->prepared : nullptr);
  }

  bool has_room() const override { return translator_.has_room(); }
  void from_client(std::span<const uint8_t> bytes, const RelayState& state,
                   protocol::Outbox& to_server) override {
    translator_.translate(bytes, state.tx_status, state.in_copy, server_->tracked(), to_server);
  }

  bool from_server(char type, std::span<const uint8_t> bytes, bool whole,
                   protocol::Outbox& to_client) override {
    return translator_.server_message(type, bytes, whole, to_client);
  }
  bool answer_due() override { return translator_.fake_due(); }
  bool take_answer(protocol::Outbox& to_client) override {
    return translator_.take_fake(to_client);
  }
  bool resend_due() const override { return translator_.retry_due(); }
  void write_resend(protocol::Outbox& to_server) override { translator_.write_retry(to_server); }
  size_t take_skipped_queries() override { return translator_.take_dropped_queries(); }
  bool idle() const override { return translator_.idle(); }

  void answered_elsewhere(std::span<const uint8_t> messages) override;
  void flush_stats(pool::StatsSlot& slot) override;
  void release_memory() override { translator_.release_memory(); }
  size_t statement_count() const override { return translator_.statement_count(); }

 private:
  prepared::Translator translator_;
  pool::ServerConnection* server_ = nullptr;
};

}  // namespace usher::session
