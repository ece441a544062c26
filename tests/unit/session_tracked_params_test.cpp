#include "session/tracked_params.h"

#include <gtest/gtest.h>

namespace usher::session {
namespace {

TEST(TrackedParams, NamesAreCaseInsensitive) {
  EXPECT_EQ(TrackedParams::index_of("TimeZone"), TrackedParams::index_of("timezone"));
  EXPECT_GE(TrackedParams::index_of("DATESTYLE"), 0);
  EXPECT_EQ(TrackedParams::index_of("search_path"), -1);
}

TEST(TrackedParams, SetOnlyRecordsTrackedNames) {
  TrackedParams p;
  EXPECT_TRUE(p.set("application_name", "app"));
  EXPECT_FALSE(p.set("search_path", "x"));
  int i = TrackedParams::index_of("application_name");
  ASSERT_TRUE(p.has(i));
  EXPECT_EQ(p.get(i), "app");
}

TEST(TrackedParams, SyncSqlOnlyForDifferences) {
  TrackedParams client, server;
  client.set("TimeZone", "UTC");
  client.set("DateStyle", "ISO, MDY");
  server.set("TimeZone", "UTC");
  server.set("DateStyle", "ISO, DMY");
  EXPECT_EQ(client.sync_sql(server), "SET DateStyle = 'ISO, MDY';");
  server.set("DateStyle", "ISO, MDY");
  EXPECT_EQ(client.sync_sql(server), "");
}

TEST(TrackedParams, SyncSqlQuotesValues) {
  TrackedParams client, server;
  client.set("application_name", "it's");
  EXPECT_EQ(client.sync_sql(server), "SET application_name = 'it''s';");
}

TEST(TrackedParams, ValuesTheClientNeverHadAreLeftAlone) {
  TrackedParams client, server;
  server.set("TimeZone", "Europe/Paris");
  EXPECT_EQ(client.sync_sql(server), "");
}

}  // namespace
}  // namespace usher::session
