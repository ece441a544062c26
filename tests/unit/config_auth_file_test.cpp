#include "config/auth_file.h"

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace usher::config {
namespace {

using testing::TempDir;

constexpr std::string_view kMd5Secret = "md545f2603610af569b6155c45067268c6b";
constexpr std::string_view kScramSecret =
    "SCRAM-SHA-256$4096:NDEyY2FlMWQ5ZTZjYTQ5OQ==$"
    "5a3fbBQxN2WHhFY5XG4t3ppKmvwLJ2OhuV7Xjh/8Og0=:"
    "4tH0oW3Fq/2ytVZeMHCdyQoaPV6UJ1NP+1x0nQzqtf0=";

TEST(ConfigAuthFile, AllThreeSecretKindsKeptVerbatim) {
  const std::string text = "\"alice\" \"plain password\"\n\"bob\" \"" + std::string(kMd5Secret) +
                           "\"\n\"carol\" \"" + std::string(kScramSecret) + "\"\n";
  auto users = parse_auth_file(text, "userlist.txt");
  ASSERT_TRUE(users.ok()) << users.error().message;
  ASSERT_EQ(users->size(), 3u);
  EXPECT_EQ(users->at("alice"), "plain password");
  EXPECT_EQ(users->at("bob"), kMd5Secret);
  EXPECT_EQ(users->at("carol"), kScramSecret);
  EXPECT_EQ(classify_secret(users->at("alice")), SecretKind::kPlain);
  EXPECT_EQ(classify_secret(users->at("bob")), SecretKind::kMd5);
  EXPECT_EQ(classify_secret(users->at("carol")), SecretKind::kScramSha256);
}

TEST(ConfigAuthFile, DoubledQuotesEscapeAQuote) {
  auto users = parse_auth_file(R"("we""ird" "pa""ss""")", "u.txt");
  ASSERT_TRUE(users.ok()) << users.error().message;
  EXPECT_EQ(users->at("we\"ird"), "pa\"ss\"");
}

TEST(ConfigAuthFile, CommentsBlankLinesAndTrailingFields) {
  auto users = parse_auth_file(
      "; semicolon comment\n"
      "# hash comment\n"
      "\n"
      "   \"u1\"   \"p1\"   extra fields are ignored\r\n"
      "\t\"u2\"\t\"\"\n",
      "u.txt");
  ASSERT_TRUE(users.ok()) << users.error().message;
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ(users->at("u1"), "p1");
  EXPECT_EQ(users->at("u2"), "");  // an empty password is allowed
}

TEST(ConfigAuthFile, LaterLineWins) {
  auto users = parse_auth_file("\"u\" \"old\"\n\"u\" \"new\"\n", "u.txt");
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->at("u"), "new");
}

TEST(ConfigAuthFile, MalformedLinesNameFileAndLine) {
  EXPECT_EQ(parse_auth_file("\"ok\" \"x\"\nbob secret\n", "u.txt").error().message,
            "u.txt:2: expected a double-quoted user name, as in \"user\" \"password\"");
  EXPECT_EQ(parse_auth_file("\"bob\n", "u.txt").error().message,
            "u.txt:1: missing closing quote after the user name");
  EXPECT_EQ(parse_auth_file("\"bob\"\n", "u.txt").error().message,
            "u.txt:1: expected a double-quoted password after the user name");
  EXPECT_EQ(parse_auth_file("\n\n\"bob\" secret\n", "u.txt").error().message,
            "u.txt:3: expected a double-quoted password after the user name");
  EXPECT_EQ(parse_auth_file("\"bob\" \"secret\n", "u.txt").error().message,
            "u.txt:1: missing closing quote after the password");
  EXPECT_EQ(parse_auth_file("\"\" \"secret\"\n", "u.txt").error().message,
            "u.txt:1: empty user name");
  EXPECT_EQ(parse_auth_file("x", "u.txt").error().sqlstate, "F0000");
}

TEST(ConfigAuthFile, LoadFromDisk) {
  TempDir dir;
  const std::string path = dir.write("userlist.txt", "\"admin\" \"1234\"\n");
  auto users = load_auth_file(path);
  ASSERT_TRUE(users.ok()) << users.error().message;
  EXPECT_EQ(users->at("admin"), "1234");

  auto missing = load_auth_file(dir.path() + "/nope.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            "cannot open \"" + dir.path() + "/nope.txt\": No such file or directory");

  const std::string bad = dir.write("bad.txt", "\"a\" \"b\"\nnot quoted\n");
  EXPECT_EQ(load_auth_file(bad).error().message,
            bad + ":2: expected a double-quoted user name, as in \"user\" \"password\"");
}

TEST(ConfigAuthFile, ClassifySecretEdgeCases) {
  // md5 needs exactly 32 lowercase hex digits; anything else is plain text.
  EXPECT_EQ(classify_secret("md5"), SecretKind::kPlain);
  EXPECT_EQ(classify_secret("md545F2603610AF569B6155C45067268C6B"), SecretKind::kPlain);
  EXPECT_EQ(classify_secret("md545f2603610af569b6155c45067268c6"), SecretKind::kPlain);
  EXPECT_EQ(classify_secret("SCRAM-SHA-256$"), SecretKind::kPlain);
  EXPECT_EQ(classify_secret("SCRAM-SHA-256$abc:salt$k1:k2"), SecretKind::kPlain);
  EXPECT_EQ(classify_secret("SCRAM-SHA-256$4096:c2FsdA==$a2V5:"), SecretKind::kPlain);
  EXPECT_EQ(classify_secret("SCRAM-SHA-256$4096:c2FsdA==$a2V5MQ==:a2V5Mg=="),
            SecretKind::kScramSha256);
  EXPECT_EQ(classify_secret(""), SecretKind::kPlain);
}

}  // namespace
}  // namespace usher::config
