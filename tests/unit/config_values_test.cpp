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
  for (const char* text : {"pam", "ldap"}) {
    auto v = parse_auth_type(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message,
              "not supported by Usher yet; use trust, any, plain, md5, scram-sha-256, cert or hba");
  }
  EXPECT_EQ(*parse_auth_type("cert"), AuthType::kCert);
  EXPECT_EQ(*parse_auth_type("hba"), AuthType::kHba);
  EXPECT_EQ(parse_auth_type("password").error().message,
            "expected trust, any, plain, md5, scram-sha-256, cert or hba");
}

constexpr std::int64_t kMax = kTerabyte;

TEST(ConfigValues, ByteSizePlainBytesAndUnits) {
  EXPECT_EQ(parse_byte_size("0", 0, kMax)->bytes, 0);
  EXPECT_EQ(parse_byte_size("1500", 0, kMax)->bytes, 1500);
  EXPECT_EQ(parse_byte_size("10B", 0, kMax)->bytes, 10);
  EXPECT_EQ(parse_byte_size("8kB", 0, kMax)->bytes, 8 * 1024);
  EXPECT_EQ(parse_byte_size("256MB", 0, kMax)->bytes, 256LL * 1024 * 1024);
  EXPECT_EQ(parse_byte_size(" 2 GB ", 0, kMax)->bytes, 2LL * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("1TB", 0, kMax)->bytes, 1024LL * 1024 * 1024 * 1024);
  // Any case: "mb" is what people type, and nobody means millibits.
  EXPECT_EQ(parse_byte_size("64mb", 0, kMax)->bytes, 64LL * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("4KB", 0, kMax)->bytes, 4096);
}

TEST(ConfigValues, ByteSizeRejectsGarbage) {
  for (const char* text : {"", "MB", "-1", "-1MB", "1.5GB", "1e6", "5 M", "5K", "10 mib", "1,5",
                           "1MB2", "0x10", "MB5", "1 MB MB"}) {
    auto v = parse_byte_size(text, 0, kMax);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message,
              "expected a number of bytes or a whole number with a unit (kB, MB, GB, TB), e.g. "
              "256MB")
        << text;
    EXPECT_EQ(v.error().sqlstate, "F0000");
  }
}

TEST(ConfigValues, ByteSizeRangeWithoutOverflow) {
  EXPECT_EQ(parse_byte_size("1TB", 0, kMax)->bytes, kMax);
  for (const char* text : {"1025GB", "1099511627777", "9223372036854775807TB",
                           "99999999999999999999999999", "9007199254740993kB"}) {
    auto v = parse_byte_size(text, 0, kMax);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message, "expected a size between 0 and 1TB") << text;
  }
  auto small = parse_byte_size("512", 1024, kMax);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().message, "expected a size between 1kB and 1TB");
}

TEST(ConfigValues, FormatByteSizeWithTheLargestExactUnit) {
  EXPECT_EQ(format_byte_size(ByteSize{0}), "0");
  EXPECT_EQ(format_byte_size(ByteSize{1500}), "1500");
  EXPECT_EQ(format_byte_size(ByteSize{1024}), "1kB");
  EXPECT_EQ(format_byte_size(ByteSize{1536 * 1024}), "1536kB");
  EXPECT_EQ(format_byte_size(ByteSize{256 * kMegabyte}), "256MB");
  EXPECT_EQ(format_byte_size(ByteSize{3 * kGigabyte}), "3GB");
  EXPECT_EQ(format_byte_size(ByteSize{kTerabyte}), "1TB");
  for (std::int64_t bytes : {std::int64_t{0}, std::int64_t{1}, std::int64_t{1025}, 5 * kKilobyte,
                             1536 * kKilobyte, 256 * kMegabyte, kTerabyte}) {
    EXPECT_EQ(parse_byte_size(format_byte_size(ByteSize{bytes}), 0, kMax)->bytes, bytes) << bytes;
  }
}

TEST(ConfigValues, CacheInvalidation) {
  EXPECT_EQ(*parse_cache_invalidation("replication"), CacheInvalidation::kReplication);
  EXPECT_EQ(*parse_cache_invalidation(" Proxy "), CacheInvalidation::kProxy);
  EXPECT_EQ(to_string(CacheInvalidation::kProxy), "proxy");
  EXPECT_EQ(to_string(CacheInvalidation::kReplication), "replication");
  for (const char* text : {"", "ttl", "none", "replication,proxy"}) {
    auto v = parse_cache_invalidation(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().message, "expected replication or proxy");
  }
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
