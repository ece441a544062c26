#include "config/table_name.h"

#include <gtest/gtest.h>

#include <string>

namespace usher::config {
namespace {

TableName parsed(std::string_view text) {
  auto t = parse_table_name(text);
  EXPECT_TRUE(t.ok()) << text << ": " << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : TableName{"<error>", "<error>"};
}

TEST(ConfigTableName, UnqualifiedAndQualified) {
  EXPECT_EQ(parsed("orders"), (TableName{"", "orders"}));
  EXPECT_EQ(parsed("public.orders"), (TableName{"public", "orders"}));
  EXPECT_EQ(parsed(" app_2.t$1 "), (TableName{"app_2", "t$1"}));
  EXPECT_EQ(parsed("_x"), (TableName{"", "_x"}));
}

TEST(ConfigTableName, UnquotedFoldsToLowerCaseAsPostgresDoes) {
  EXPECT_EQ(parsed("Public.Orders"), (TableName{"public", "orders"}));
  // Only ASCII letters fold, as in PostgreSQL with a multibyte encoding.
  EXPECT_EQ(parsed("ÄPFEL"), (TableName{"", "Äpfel"}));
}

TEST(ConfigTableName, QuotedKeepsCaseAndAnyCharacter) {
  EXPECT_EQ(parsed("\"Orders\""), (TableName{"", "Orders"}));
  EXPECT_EQ(parsed("\"My Schema\".\"a.b\""), (TableName{"My Schema", "a.b"}));
  EXPECT_EQ(parsed("s.\"say \"\"hi\"\"\""), (TableName{"s", "say \"hi\""}));
}

TEST(ConfigTableName, FormatQuotesOnlyWhatMust) {
  EXPECT_EQ(format_table_name({"public", "orders"}), "public.orders");
  EXPECT_EQ(format_table_name({"", "orders"}), "orders");
  EXPECT_EQ(format_table_name({"", "Orders"}), "\"Orders\"");
  EXPECT_EQ(format_table_name({"My Schema", "a.b"}), "\"My Schema\".\"a.b\"");
  EXPECT_EQ(format_table_name({"s", "1st"}), "s.\"1st\"");
  EXPECT_EQ(format_table_name({"s", "say \"hi\""}), "s.\"say \"\"hi\"\"\"");
  for (const TableName& t :
       {TableName{"", "orders"}, TableName{"My Schema", "a.b"}, TableName{"s", "say \"hi\""},
        TableName{"x", "$"}, TableName{"", "Ab"}}) {
    EXPECT_EQ(parsed(format_table_name(t)), t) << format_table_name(t);
  }
}

TEST(ConfigTableName, NormalizeGivesTheCanonicalText) {
  EXPECT_EQ(*normalize_table_name("Public.Orders"), "public.orders");
  EXPECT_EQ(*normalize_table_name("\"public\".\"orders\""), "public.orders");
  EXPECT_EQ(*normalize_table_name("\"Orders\""), "\"Orders\"");
}

TEST(ConfigTableName, RejectsWhatIsNotANameWithAReason) {
  struct Case {
    std::string text;
    std::string why;
  };
  const std::string kStart = "a name starts with a letter or _, or is double-quoted";
  const std::string kAfter = "unexpected character after a name";
  for (const Case& c : std::initializer_list<Case>{
           {"", kStart},
           {"1orders", kStart},
           {".orders", kStart},
           {"public.", kStart},
           {"public..orders", kStart},
           {"db.public.orders", "at most one schema, no database"},
           {"public orders", kAfter},
           {"orders;drop", kAfter},
           {"\"open", "unterminated quoted name"},
           {"\"\"", "empty quoted name"},
           {"s.\"\"", "empty quoted name"},
           {"\"a\"b", kAfter},
           {std::string("\"a\0b\"", 5), "a name cannot contain a NUL byte"},
           {std::string(64, 'a'), "a name has at most 63 bytes"},
           {"s." + std::string(64, 'b'), "a name has at most 63 bytes"},
       }) {
    auto t = parse_table_name(c.text);
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.error().message, "expected name or schema.name (" + c.why + ")") << c.text;
    EXPECT_EQ(t.error().sqlstate, "F0000");
  }
  EXPECT_TRUE(parse_table_name(std::string(63, 'a')).ok());
}

}  // namespace
}  // namespace usher::config
