#include "config/values.h"

#include <gtest/gtest.h>

namespace usher::config {
namespace {

using std::chrono::milliseconds;

TEST(ConfigValues, BoolAcceptsEverySpelling) {
  for (const char* text : {"1", "yes", "on", "true", "YES", "On", " True "}) {
    auto v = parse_bool(text);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_TRUE(*v) << text;
  }
  for (const char* text : {"0", "no", "off", "false", "NO", "Off"}) {
    auto v = parse_bool(text);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_FALSE(*v) << text;
  }
}

TEST(ConfigValues, BoolReadsIntegersAsPgBouncerDoes) {
  // PgBouncer stores booleans as ints: any nonzero number is on
  // (tcp_defer_accept = 45 is in old configurations).
  for (const char* text : {"2", "45", "-1", " 7 "}) {
    auto v = parse_bool(text);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_TRUE(*v) << text;
  }
  auto zero = parse_bool("00");
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(*zero);
}

TEST(ConfigValues, BoolRejectsOtherWords) {
  for (const char* text : {"", "y", "enable", "1.5", "0x1", "- 1"}) {
    auto v = parse_bool(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message, "expected 0, 1, yes, no, on, off, true or false");
    EXPECT_EQ(v.error().sqlstate, "F0000");
  }
}

TEST(ConfigValues, IntChecksRangeAndSyntax) {
  EXPECT_EQ(*parse_int("6432", 1, 65535), 6432);
  EXPECT_EQ(*parse_int(" 0 ", 0, 10), 0);
  EXPECT_EQ(*parse_int("010", 0, 100), 10);  // decimal, not octal
  for (const char* text : {"0", "65536", "-1", "12abc", "", "1.5", "+3", "0x10"}) {
    auto v = parse_int(text, 1, 65535);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message, "expected an integer between 1 and 65535");
  }
  EXPECT_EQ(parse_int("-5", 0, 2147483647).error().message, "expected an integer >= 0");
  EXPECT_FALSE(parse_int("99999999999999999999", 0, 2147483647).ok());
}

TEST(ConfigValues, IntegerBeyondIntRange) {
  EXPECT_EQ(*parse_integer("4294967295", 0, 4294967295LL), 4294967295LL);
  EXPECT_FALSE(parse_integer("4294967296", 0, 4294967295LL).ok());
  // parse_int never returns more than an int holds, whatever max says.
  EXPECT_FALSE(parse_int("2147483648", 0, 4294967295LL).ok());
}

TEST(ConfigValues, IntInBaseEightForFileModes) {
  EXPECT_EQ(*parse_int("0777", 0, 0777, 8), 0777);
  EXPECT_EQ(*parse_int("0700", 0, 0777, 8), 0700);
  EXPECT_EQ(*parse_int("600", 0, 0777, 8), 0600);
  auto bad = parse_int("0888", 0, 0777, 8);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "expected an octal mode between 0 and 0777");
  EXPECT_FALSE(parse_int("01777", 0, 0777, 8).ok());
}

TEST(ConfigValues, DurationPlainSecondsAsPgBouncerWritesThem) {
  EXPECT_EQ(*parse_duration("30"), milliseconds(30'000));
  EXPECT_EQ(*parse_duration("0"), milliseconds(0));
  EXPECT_EQ(*parse_duration("0.5"), milliseconds(500));
  EXPECT_EQ(*parse_duration("5.0"), milliseconds(5000));
  EXPECT_EQ(*parse_duration(".25"), milliseconds(250));
  EXPECT_EQ(*parse_duration("3."), milliseconds(3000));
  EXPECT_EQ(*parse_duration("3600"), milliseconds(3'600'000));
}

TEST(ConfigValues, DurationWithUnits) {
  EXPECT_EQ(*parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(*parse_duration("10s"), milliseconds(10'000));
  EXPECT_EQ(*parse_duration("10 s"), milliseconds(10'000));
  EXPECT_EQ(*parse_duration("2min"), milliseconds(120'000));
  EXPECT_EQ(*parse_duration("1.5h"), milliseconds(5'400'000));
  EXPECT_EQ(*parse_duration("1d"), milliseconds(86'400'000));
  EXPECT_EQ(*parse_duration("5MS"), milliseconds(5));
}

TEST(ConfigValues, DurationBelowOneMillisecondIsNotZero) {
  // 0 means "disabled" for most timeouts; a tiny value must not become that.
  EXPECT_EQ(*parse_duration("0.0001"), milliseconds(1));
}

TEST(ConfigValues, DurationRejectsGarbage) {
  for (const char* text : {"", "abc", "-1", "1e3", "5 m", "10 sec", "1..2", "s", "1,5"}) {
    auto v = parse_duration(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message,
              "expected a duration in seconds (e.g. 30 or 0.5) or with a unit (ms, s, min, h, d)")
        << text;
  }
  EXPECT_FALSE(parse_duration("99999999999999d").ok());
}

TEST(ConfigValues, FormatDurationAsSeconds) {
  EXPECT_EQ(format_duration(milliseconds(5000)), "5");
  EXPECT_EQ(format_duration(milliseconds(500)), "0.5");
  EXPECT_EQ(format_duration(milliseconds(1250)), "1.25");
  EXPECT_EQ(format_duration(milliseconds(1)), "0.001");
  EXPECT_EQ(format_duration(milliseconds(0)), "0");
  EXPECT_EQ(format_duration(milliseconds(3'600'000)), "3600");
}

TEST(ConfigValues, PoolMode) {
  EXPECT_EQ(*parse_pool_mode("session"), PoolMode::kSession);
  EXPECT_EQ(*parse_pool_mode("Transaction"), PoolMode::kTransaction);
  EXPECT_EQ(*parse_pool_mode("statement"), PoolMode::kStatement);
  auto bad = parse_pool_mode("abc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "expected session, transaction or statement");
  EXPECT_EQ(to_string(PoolMode::kTransaction), "transaction");
}

TEST(ConfigValues, AuthTypeSupportedOnes) {
  EXPECT_EQ(*parse_auth_type("trust"), AuthType::kTrust);
  EXPECT_EQ(*parse_auth_type("any"), AuthType::kAny);
  EXPECT_EQ(*parse_auth_type("plain"), AuthType::kPlain);
  EXPECT_EQ(*parse_auth_type("md5"), AuthType::kMd5);
  EXPECT_EQ(*parse_auth_type("scram-sha-256"), AuthType::kScramSha256);
  EXPECT_EQ(to_string(AuthType::kScramSha256), "scram-sha-256");
}

TEST(ConfigValues, AuthTypeKnownButUnsupportedSaysSo) {
  for (const char* text : {"cert", "hba", "pam", "ldap"}) {
    auto v = parse_auth_type(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message,
              "not supported by Usher yet; use trust, any, plain, md5 or scram-sha-256");
  }
  EXPECT_EQ(parse_auth_type("password").error().message,
            "expected trust, any, plain, md5 or scram-sha-256");
}

TEST(ConfigValues, SplitListTrimsAndDropsEmptyItems) {
  EXPECT_EQ(split_list("a, b,,c ,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list(" , ").empty());
  EXPECT_EQ(split_list("*"), (std::vector<std::string>{"*"}));
  EXPECT_EQ(join_list({"a", "b"}), "a,b");
}

}  // namespace
}  // namespace usher::config
