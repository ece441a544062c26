// auth_ident_file: PgBouncer's pg_ident.conf subset plus PostgreSQL's
// regular expressions in system-username, and what each line lets in.
#include "auth/ident.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usher::auth {
namespace {

std::vector<IdentEntry> parse_ok(std::string_view text) {
  auto entries = parse_ident(text, "ident.conf");
  EXPECT_TRUE(entries) << (entries ? "" : entries.error().message);
  return entries ? std::move(*entries) : std::vector<IdentEntry>{};
}

std::string parse_error(std::string_view text) {
  auto entries = parse_ident(text, "ident.conf");
  if (entries) return "";
  EXPECT_EQ(entries.error().sqlstate, "F0000");
  return entries.error().message;
}

TEST(Ident, ExactNamesMapOneSystemUserToDatabaseUsers) {
  auto e = parse_ok(
      "# comment\n"
      "ops   alice   app\n"
      "ops   alice   reporting   # two entries: alice may be either\n"
      "\n"
      "ops   bob     all\n"
      "other carol   app\n");
  EXPECT_EQ(e.size(), 4u);
  EXPECT_TRUE(ident_allows(e, "ops", "alice", "app"));
  EXPECT_TRUE(ident_allows(e, "ops", "alice", "reporting"));
  EXPECT_FALSE(ident_allows(e, "ops", "alice", "postgres"));
  EXPECT_TRUE(ident_allows(e, "ops", "bob", "anything"));  // all
  EXPECT_FALSE(ident_allows(e, "ops", "carol", "app"));    // another map's line
  EXPECT_TRUE(ident_allows(e, "other", "carol", "app"));
  EXPECT_FALSE(ident_allows(e, "nomap", "alice", "app"));
  EXPECT_FALSE(ident_allows(e, "ops", "Alice", "app"));  // exact, as PostgreSQL
  EXPECT_FALSE(ident_allows(e, "ops", "alice", "App"));
}

TEST(Ident, QuotedAllIsAName) {
  auto e = parse_ok("ops bob \"all\"\n");
  EXPECT_TRUE(ident_allows(e, "ops", "bob", "all"));
  EXPECT_FALSE(ident_allows(e, "ops", "bob", "app"));
}

TEST(Ident, RegularExpressionsWithACapture) {
  auto e = parse_ok(
      "certs /^(.*)@example\\.com$ \\1\n"
      "certs /^svc-   app\n");
  EXPECT_TRUE(ident_allows(e, "certs", "alice@example.com", "alice"));
  EXPECT_FALSE(ident_allows(e, "certs", "alice@example.com", "bob"));
  EXPECT_FALSE(ident_allows(e, "certs", "alice@example.org", "alice"));
  EXPECT_FALSE(ident_allows(e, "certs", "alice@example.com.evil", "alice"));  // anchored
  EXPECT_TRUE(ident_allows(e, "certs", "svc-billing", "app"));  // unanchored end: a search
  EXPECT_FALSE(ident_allows(e, "certs", "xsvc-billing", "app"));
  // The capture is used as it is: an empty one maps to the empty name only.
  EXPECT_FALSE(ident_allows(e, "certs", "@example.com", "alice"));
}

TEST(Ident, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(parse_error("ops alice\n"),
            "ident.conf:1: expected map-name system-username database-username");
  EXPECT_EQ(parse_error("\nops alice app extra\n"),
            "ident.conf:2: expected map-name system-username database-username");
  EXPECT_EQ(parse_error("ops alice,bob app\n"),
            "ident.conf:1: lists are not allowed in auth_ident_file");
  EXPECT_EQ(
      parse_error("ops alice +admins\n"),
      "ident.conf:1: group membership (+admins) is not supported: Usher cannot see the roles");
  EXPECT_EQ(parse_error("ops alice /^a\n"),
            "ident.conf:1: regular expressions in database-username are not supported");
  EXPECT_EQ(parse_error("include other.conf\n"),
            "ident.conf:1: include lines are not supported in auth_ident_file");
  EXPECT_EQ(parse_error("ops alice \\1\n"),
            "ident.conf:1: \\1 in database-username needs a regular expression");
  EXPECT_EQ(parse_error("ops /^a$ \\1\n"),
            "ident.conf:1: regular expression \"^a$\" has no subexpressions as requested by "
            "backreference in \"\\1\"");
  EXPECT_NE(parse_error("ops /^(a app\n").find("ident.conf:1: invalid regular expression"),
            std::string::npos);
  EXPECT_EQ(parse_error("ops \"alice app\n"), "ident.conf:1: unterminated quote");
  EXPECT_EQ(parse_error("ops \"\" app\n"), "ident.conf:1: empty name");
}

TEST(Ident, ContinuationLinesCountFromTheirFirstLine) {
  auto e = parse_ok("ops \\\n alice app\nops bob app\n");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].line, 1);
  EXPECT_EQ(e[1].line, 3);
}

}  // namespace
}  // namespace usher::auth
