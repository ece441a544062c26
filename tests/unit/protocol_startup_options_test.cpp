#include "protocol/startup_options.h"

#include <gtest/gtest.h>

namespace usher::protocol {
namespace {

std::vector<std::pair<std::string, std::string>> pairs(std::string_view options) {
  auto parsed = parse_startup_options(options);
  EXPECT_TRUE(parsed.ok()) << options;
  std::vector<std::pair<std::string, std::string>> out;
  if (!parsed.ok()) return out;
  for (auto& s : *parsed)
    out.emplace_back(s.name, s.value);
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(StartupOptions, EveryFormLibpqAndJdbcWrite) {
  EXPECT_EQ(pairs("-c search_path=app"), (Pairs{{"search_path", "app"}}));
  EXPECT_EQ(pairs("-csearch_path=app"), (Pairs{{"search_path", "app"}}));
  EXPECT_EQ(pairs("--search_path=app"), (Pairs{{"search_path", "app"}}));
  EXPECT_EQ(pairs("  -c  a=1\t--b=2   -cc=3  "), (Pairs{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  EXPECT_EQ(pairs(""), Pairs{});
  EXPECT_EQ(pairs("   "), Pairs{});
}

TEST(StartupOptions, BackslashMakesTheNextCharacterLiteral) {
  EXPECT_EQ(pairs(R"(-c search_path=a,\ b)"), (Pairs{{"search_path", "a, b"}}));
  EXPECT_EQ(pairs(R"(-c x=a\\b)"), (Pairs{{"x", R"(a\b)"}}));
  EXPECT_EQ(pairs(R"(-c x=it\'s)"), (Pairs{{"x", "it's"}}));
  EXPECT_EQ(pairs(R"(-c application_name=x\'\;\ DROP)"), (Pairs{{"application_name", "x'; DROP"}}));
}

TEST(StartupOptions, DashesInNamesAreUnderscoresAndValuesKeepThem) {
  EXPECT_EQ(pairs("--statement-timeout=5s"), (Pairs{{"statement_timeout", "5s"}}));
  EXPECT_EQ(pairs("-c DateStyle=ISO,-MDY"), (Pairs{{"DateStyle", "ISO,-MDY"}}));
  EXPECT_EQ(pairs("-c x=a=b"), (Pairs{{"x", "a=b"}}));
  EXPECT_EQ(pairs("-c x="), (Pairs{{"x", ""}}));
}

TEST(StartupOptions, AnythingElseIsRefused) {
  for (std::string_view bad : {"-c", "-c   ", "-c=", "-c =x", "--=x", "-c name", "--name", "-B 100",
                               "search_path=x", "-c a=1 -d", "-", "--"}) {
    auto parsed = parse_startup_options(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().sqlstate, "08P01");
    EXPECT_NE(parsed.error().message.find("only '-c config=val'"), std::string::npos);
  }
}

}  // namespace
}  // namespace usher::protocol
