// prepared::Translator on its own: what one client's messages become on a
// shared server, and what the server's answers do to Usher's view of it.
#include "prepared/translator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/byte_reader.h"
#include "protocol/extended.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "protocol_test_util.h"

namespace usher::prepared {
namespace {

using protocol::testing::bytes_of;

// One decoded message: its type, and the statement name it carries (Parse,
// Bind, Describe/Close of a statement) or the query (Query), or the SQLSTATE
// (ErrorResponse).
struct Msg {
  char type;
  std::string text;
};

std::vector<Msg> decode(const protocol::Outbox& out) {
  std::string all;
  out.for_each_run(
      [&](const void* data, size_t size) { all.append(static_cast<const char*>(data), size); });
  std::vector<Msg> msgs;
  auto data = bytes_of(all);
  while (!data.empty()) {
    auto h = protocol::peek_header(data, 0x3fffffff);
    EXPECT_EQ(h.status, protocol::FrameStatus::kReady);
    if (h.status != protocol::FrameStatus::kReady || data.size() < h.header.total()) break;
    auto body = data.subspan(protocol::kHeaderSize, h.header.body_size());
    Msg m{h.header.type, {}};
    switch (m.type) {
      case 'P':
        if (auto p = protocol::parse_parse(body)) m.text = p->name;
        break;
      case 'B':
        if (auto b = protocol::parse_bind(body)) m.text = b->statement;
        break;
      case 'Q':
        if (auto q = protocol::parse_query(body)) m.text = *q;
        break;
      case 'E':
        if (auto e = protocol::parse_error_fields(body))
          m.text = std::string(e->code) + " " + std::string(e->message);
        break;
      default:
        break;
    }
    msgs.push_back(std::move(m));
    data = data.subspan(h.header.total());
  }
  return msgs;
}

std::string types(const std::vector<Msg>& msgs) {
  std::string t;
  for (const auto& m : msgs)
    t.push_back(m.type);
  return t;
}

std::string parse(std::string_view name, std::string_view query) {
  std::string out;
  protocol::write_parse(out, name, query, std::string_view("\0\0", 2));
  return out;
}
std::string bind(std::string_view statement) {
  std::string out;
  protocol::write_bind(out, "", statement, bytes_of(std::string("\0\0\0\0\0\0", 6)));
  return out;
}
std::string execute() {
  std::string out;
  protocol::write_execute(out, "", 0);
  return out;
}
std::string sync() {
  std::string out;
  protocol::write_sync(out);
  return out;
}
std::string query(std::string_view sql) {
  std::string out;
  protocol::write_query(out, sql);
  return out;
}
std::string complete(char type) {
  std::string out;
  protocol::MessageWriter(out).begin(type).finish();
  return out;
}
std::string command_complete(std::string_view tag) {
  std::string out;
  protocol::write_command_complete(out, tag);
  return out;
}
std::string ready(char status = 'I') {
  std::string out;
  protocol::write_ready_for_query(out, status);
  return out;
}
std::string error(std::string_view code, std::string_view message) {
  std::string out;
  protocol::write_error_response(out, "ERROR", code, message);
  return out;
}

// A client of the shared registry, talking to one of the servers.
struct Client {
  Client(StatementRegistry& registry, uint64_t id) : t(registry, 10, id, 0x3fffffff) {}

  // Sends `batch` (whole messages) and returns what reaches the server.
  std::vector<Msg> send(const std::string& batch, char tx_status = 'I') {
    kept.push_back(batch);  // the outbox points into it
    protocol::Outbox out;
    t.translate(bytes_of(kept.back()), tx_status, false, params, out);
    return decode(out);
  }

  // The server's answer, message by message; returns what reaches the
  // client (made-up answers included).
  std::vector<Msg> answer(const std::string& messages) {
    kept.push_back(messages);
    auto data = bytes_of(kept.back());
    protocol::Outbox out;
    while (t.fake_due())
      t.take_fake(out);
    while (!data.empty()) {
      auto h = protocol::peek_header(data, 0x3fffffff);
      auto msg = data.first(h.header.total());
      if (t.server_message(h.header.type, msg, true, out)) out.pass(msg);
      while (t.fake_due())
        t.take_fake(out);
      data = data.subspan(h.header.total());
    }
    return decode(out);
  }

  Translator t;
  protocol::TrackedParams params;
  std::vector<std::string> kept;
};

class TranslatorTest : public ::testing::Test {
 protected:
  StatementRegistry registry;
  ServerState server;
  Client a{registry, 1};
  Client b{registry, 2};
  void SetUp() override {
    a.t.attach(&server);
    b.t.attach(&server);
  }
};

TEST_F(TranslatorTest, NamedStatementsAreRenamedAndShared) {
  auto sent = a.send(parse("s1", "select 1") + bind("s1") + execute() + sync());
  ASSERT_EQ(types(sent), "PBES");
  EXPECT_TRUE(is_server_name(sent[0].text));
  EXPECT_EQ(sent[1].text, sent[0].text);
  a.answer(complete('1') + complete('2') + command_complete("SELECT 1") + ready());
  // The same text from another client under another name: nothing to parse.
  sent = b.send(parse("mine", "select 1") + bind("mine") + execute() + sync());
  EXPECT_EQ(types(sent), "BES");
  EXPECT_EQ(sent[0].text, a.send(bind("s1"))[0].text);
}

TEST_F(TranslatorTest, AnotherClientsUnnamedStatementIsUnreachable) {
  a.send(parse("", "select 'secret'") + sync());
  a.answer(complete('1') + ready());
  EXPECT_EQ(server.unnamed_owner, 1u);
  // b never parsed an unnamed statement: PostgreSQL's 26000, not a's row.
  auto sent = b.send(bind("") + execute() + sync());
  ASSERT_EQ(sent[0].type, 'P');
  EXPECT_EQ(sent[0].text, "usher_failed");
  auto got = b.answer(error("42601", "syntax error") + ready());
  ASSERT_EQ(types(got), "EZ");
  EXPECT_EQ(got[0].text, "26000 unnamed prepared statement does not exist");
}

TEST_F(TranslatorTest, UnnamedStatementIsReplayedWhereItIsMissing) {
  a.send(parse("", "select $1::int") + sync());
  a.answer(complete('1') + ready());
  b.send(query("select 2"));  // replaces the server's unnamed statement
  b.answer(command_complete("SELECT 1") + ready());
  auto sent = a.send(bind("") + execute() + sync());
  EXPECT_EQ(types(sent), "PBES");
  auto got = a.answer(complete('1') + complete('2') + command_complete("SELECT 1") + ready());
  EXPECT_EQ(types(got), "2CZ");  // the replay's ParseComplete is Usher's
  // And a's own simple query drops its unnamed statement, as in PostgreSQL.
  a.send(query("select 3"));
  a.answer(command_complete("SELECT 1") + ready());
  EXPECT_EQ(a.send(bind("") + execute() + sync())[0].text, "usher_failed");
}

TEST_F(TranslatorTest, DeallocateAllTagEmptiesTheServersList) {
  a.send(parse("s1", "select 1") + sync());
  a.answer(complete('1') + ready());
  ASSERT_EQ(server.statements.size(), 1u);
  // b prepares DEALLOCATE ALL under a name and runs it on the server.
  b.send(parse("d", "DEALLOCATE ALL") + bind("d") + execute() + sync());
  b.answer(complete('1') + complete('2') + command_complete("DEALLOCATE ALL") + ready());
  EXPECT_EQ(server.statements.size(), 0u);
  EXPECT_EQ(b.t.statement_count(), 0u);  // its own names went too
  EXPECT_EQ(a.t.statement_count(), 1u);
  // a's next Bind prepares s1 again first.
  EXPECT_EQ(types(a.send(bind("s1") + execute() + sync())), "PBES");
}

TEST_F(TranslatorTest, UnexpectedPrepareTagMarksTheServerForReset) {
  a.send(query("do $$ begin execute 'prepare x as select 1'; end $$"));
  a.answer(command_complete("PREPARE") + ready());
  EXPECT_TRUE(server.needs_reset);
  server.all_deallocated();
  // Usher's own renamed PREPARE is expected.
  a.send(query("prepare p as select 1"));
  a.answer(command_complete("PREPARE") + ready());
  EXPECT_FALSE(server.needs_reset);
}

TEST_F(TranslatorTest, MissingSharedStatementIsPreparedAgainAndRetried) {
  a.send(parse("s1", "select 1") + sync());
  a.answer(complete('1') + ready());
  std::string name = a.send(bind("s1") + execute() + sync())[0].text;
  // A DO block dropped it behind Usher's back.
  auto got = a.answer(error("26000", "prepared statement \"" + name + "\" does not exist"));
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(a.t.retry_due());
  EXPECT_TRUE(server.needs_reset);
  a.answer(ready());  // the failed exchange's Sync: swallowed
  protocol::Outbox again;
  a.t.write_retry(again);
  EXPECT_EQ(types(decode(again)), "CPBES");
  got = a.answer(complete('3') + complete('1') + complete('2') + command_complete("SELECT 1") +
                 ready());
  EXPECT_EQ(types(got), "2CZ");
}

TEST_F(TranslatorTest, SqlThatNamesAStatementIsNeverParsedAsWritten) {
  for (const char* sql :
       {"PREPARE x AS select 1", "EXECUTE x", "explain execute x", "DEALLOCATE x"}) {
    auto sent = a.send(parse("n", sql) + sync());
    ASSERT_FALSE(sent.empty());
    EXPECT_EQ(sent[0].text, "usher_failed") << sql;
    auto got = a.answer(error("42601", "syntax error") + ready());
    EXPECT_EQ(got[0].text.substr(0, 5), "0A000") << sql;
  }
  // Another client's server name in an EXPLAIN EXECUTE: refused with 26000.
  a.send(parse("s1", "select 1") + sync());
  a.answer(complete('1') + ready());
  std::string name = a.send(bind("s1"))[0].text;
  auto sent = b.send(query("explain analyze execute " + name));
  EXPECT_EQ(sent[0].text, "usher: prepared statement error");
}

TEST_F(TranslatorTest, OwnStatementInsideExplainIsRenamed) {
  a.send(query("prepare q(int) as select $1"));
  a.answer(command_complete("PREPARE") + ready());
  auto sent = a.send(query("/* c */ EXPLAIN (costs off) EXECUTE q(1)"));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].text.starts_with("/* c */ EXPLAIN (costs off) EXECUTE usher_"));
  EXPECT_TRUE(sent[0].text.ends_with("(1)"));
}

TEST_F(TranslatorTest, StatementsPerClientAreBounded) {
  std::string text(100 * 1024, ' ');
  size_t refused = 0;
  for (int i = 0; i < 200 && refused == 0; ++i) {
    auto sent = a.send(parse("s" + std::to_string(i), "select " + std::to_string(i) + text));
    ASSERT_FALSE(sent.empty());
    if (sent.back().text == "usher_failed") ++refused;
    a.t.attach(&server);  // answers are not the point here
  }
  EXPECT_EQ(refused, 1u);
  EXPECT_LE(a.t.statement_bytes(), kMaxClientStatementBytes);
  EXPECT_GT(a.t.statement_bytes(), kMaxClientStatementBytes - 200 * 1024);
}

TEST_F(TranslatorTest, LargeBindStreamsWithOnlyItsNameRewritten) {
  a.send(parse("s1", "select $1::text") + sync());
  a.answer(complete('1') + ready());
  std::string big;
  std::string params(kMaxStatementMessage, 'x');
  protocol::write_bind(big, "", "s1", bytes_of(params));
  auto sent = a.send(big);
  ASSERT_EQ(types(sent), "B");
  EXPECT_TRUE(is_server_name(sent[0].text));
}

}  // namespace
}  // namespace usher::prepared
