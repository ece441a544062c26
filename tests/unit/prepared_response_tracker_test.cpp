#include "prepared/response_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usher::prepared {
namespace {

using Verdict = ResponseTracker::Verdict;

// Feeds server message types and returns one letter per verdict:
// f(orward), d(rop), r(eplace).
std::string feed(ResponseTracker& t, std::string_view types, std::vector<Undo>& undone) {
  std::string out;
  for (char c : types) {
    auto o = t.on_message(c, undone);
    out += o.verdict == Verdict::kForward ? 'f' : o.verdict == Verdict::kDrop ? 'd' : 'r';
  }
  return out;
}

Entry entry(Reply reply, Handling handling = Handling::kForward) {
  return Entry{.reply = reply, .handling = handling};
}

TEST(ResponseTracker, InjectedParseIsSwallowedAndFakesWaitTheirTurn) {
  ResponseTracker t;
  std::vector<Undo> undone;
  t.push(entry(Reply::kParse, Handling::kSwallow), undone);  // Usher's Parse
  t.push(entry(Reply::kBind), undone);
  t.push(entry(Reply::kExecute), undone);
  t.push(
      Entry{.reply = Reply::kClose, .handling = Handling::kFake, .detail = detail({.bytes = "3"})},
      undone);
  t.push(entry(Reply::kSync), undone);
  EXPECT_EQ(t.due_fake(), nullptr);
  EXPECT_EQ(feed(t, "12DDC", undone), "dffff");
  ASSERT_NE(t.due_fake(), nullptr);
  EXPECT_EQ(t.due_fake()->detail->bytes, "3");
  t.pop_fake();
  EXPECT_EQ(feed(t, "Z", undone), "f");
  EXPECT_TRUE(t.empty());
  EXPECT_TRUE(undone.empty());
}

TEST(ResponseTracker, ALongPipelineThatNeverDrainsKeepsItsOrder) {
  // Always a few requests ahead of the answers, for longer than the point
  // where the spent head of the queue is dropped.
  ResponseTracker t;
  std::vector<Undo> undone;
  auto push_round = [&](int i) {
    t.push(entry(Reply::kBind, i % 2 ? Handling::kSwallow : Handling::kForward), undone);
    t.push(entry(Reply::kSync), undone);
  };
  for (int i = 0; i < 3; ++i)
    push_round(i);
  for (int i = 0; i < 500; ++i) {
    push_round(i + 3);
    EXPECT_EQ(feed(t, "2Z", undone), i % 2 ? "df" : "ff") << i;
    EXPECT_EQ(t.size(), 6u);
  }
  EXPECT_EQ(feed(t, "2Z2Z2Z", undone), "ffdfff");  // rounds 500, 501, 502
  EXPECT_TRUE(t.empty());
  t.release();
  EXPECT_TRUE(t.empty());
}

TEST(ResponseTracker, AsyncMessagesBelongToNoRequest) {
  ResponseTracker t;
  std::vector<Undo> undone;
  t.push(entry(Reply::kQuery, Handling::kSwallowAll), undone);
  EXPECT_EQ(feed(t, "NSACZ", undone), "fffdd");
  EXPECT_TRUE(t.empty());
}

TEST(ResponseTracker, ErrorSkipsToSyncAndUndoesLatestFirst) {
  ResponseTracker t;
  std::vector<Undo> undone;
  t.push(Entry{.reply = Reply::kParse,
               .detail =
                   detail({.client_undo = {.kind = Undo::Kind::kForgetClientName, .name = "a"}})},
         undone);
  t.push(Entry{.reply = Reply::kClose,
               .handling = Handling::kFake,
               .detail =
                   detail({.bytes = "3",
                           .client_undo = {.kind = Undo::Kind::kRestoreClientName, .name = "b"}})},
         undone);
  t.push(Entry{.reply = Reply::kParse,
               .detail =
                   detail({.client_undo = {.kind = Undo::Kind::kForgetClientName, .name = "c"}})},
         undone);
  t.push(entry(Reply::kSync), undone);
  t.push(entry(Reply::kBind), undone);  // after the Sync: not skipped
  EXPECT_EQ(feed(t, "E", undone), "f");
  ASSERT_EQ(undone.size(), 3u);
  EXPECT_EQ(undone[0].name, "c");
  EXPECT_EQ(undone[1].name, "b");
  EXPECT_EQ(undone[2].name, "a");
  EXPECT_EQ(t.due_fake(), nullptr);  // the skipped Close is never answered
  EXPECT_EQ(feed(t, "Z2", undone), "ff");
  EXPECT_TRUE(t.empty());
}

TEST(ResponseTracker, AfterAnErrorWithNoSyncYetLaterRequestsAreSkipped) {
  ResponseTracker t;
  std::vector<Undo> undone;
  t.push(entry(Reply::kBind), undone);
  EXPECT_EQ(feed(t, "E", undone), "f");
  // Sent before the client's Sync: PostgreSQL ignores them.
  t.push(Entry{.reply = Reply::kParse,
               .handling = Handling::kSwallow,
               .detail = detail({.server_undo = {.kind = Undo::Kind::kForgetOnServer}})},
         undone);
  t.push(
      Entry{.reply = Reply::kParse, .handling = Handling::kFake, .detail = detail({.bytes = "1"})},
      undone);
  ASSERT_EQ(undone.size(), 1u);
  EXPECT_EQ(undone[0].kind, Undo::Kind::kForgetOnServer);
  EXPECT_TRUE(t.empty());
  t.push(entry(Reply::kSync), undone);
  t.push(entry(Reply::kBind), undone);
  EXPECT_EQ(feed(t, "Z2", undone), "ff");
}

TEST(ResponseTracker, ReplacedErrorAndFailedQueryUndo) {
  ResponseTracker t;
  std::vector<Undo> undone;
  t.push(Entry{.reply = Reply::kQuery,
               .handling = Handling::kReplaceError,
               .detail = detail({.bytes = "mine"})},
         undone);
  auto o = t.on_message('E', undone);
  EXPECT_EQ(o.verdict, Verdict::kReplace);
  EXPECT_EQ(o.replacement, "mine");
  EXPECT_EQ(feed(t, "Z", undone), "f");

  t.push(Entry{.reply = Reply::kQuery,
               .handling = Handling::kSwallowAll,
               .detail = detail({.server_undo = {.kind = Undo::Kind::kForgetOnServer}})},
         undone);
  EXPECT_EQ(feed(t, "E", undone), "d");
  EXPECT_TRUE(undone.empty());  // a Query's error ends nothing: its ReadyForQuery does
  EXPECT_EQ(feed(t, "Z", undone), "d");
  ASSERT_EQ(undone.size(), 1u);
  EXPECT_EQ(undone[0].kind, Undo::Kind::kForgetOnServer);
}

TEST(ResponseTracker, DescribeAndExecuteEndings) {
  ResponseTracker t;
  std::vector<Undo> undone;
  t.push(entry(Reply::kDescribeStatement), undone);
  t.push(entry(Reply::kDescribePortal), undone);
  t.push(entry(Reply::kExecute), undone);  // COPY FROM STDIN
  t.push(entry(Reply::kExecute), undone);  // portal suspended
  t.push(entry(Reply::kExecute, Handling::kSwallow), undone);
  EXPECT_EQ(feed(t,
                 "tn"
                 "T"
                 "GC"
                 "DDs"
                 "I",
                 undone),
            "ff"
            "f"
            "ff"
            "fff"
            "d");
  EXPECT_TRUE(t.empty());
}

}  // namespace
}  // namespace usher::prepared
