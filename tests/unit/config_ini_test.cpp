#include "config/ini.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "config_test_util.h"

namespace usher::config {
namespace {

using testing::TempDir;

IniDocument parse_ok(std::string_view text) {
  auto doc = parse_ini_string(text, "test.ini");
  EXPECT_TRUE(doc.ok()) << (doc.ok() ? "" : doc.error().message);
  return doc.ok() ? std::move(doc).value() : IniDocument{};
}

std::string parse_error(std::string_view text) {
  auto doc = parse_ini_string(text, "test.ini");
  EXPECT_FALSE(doc.ok());
  return doc.ok() ? "" : doc.error().message;
}

TEST(ConfigIni, SectionsEntriesAndLineNumbers) {
  const auto doc = parse_ok(
      "; a comment\n"
      "[databases]\n"
      "  mydb = host=localhost   \n"
      "\n"
      "# another comment\n"
      "[pgbouncer]\n"
      "listen_port=6433\n");
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].name, "databases");
  EXPECT_EQ(doc.sections[0].where.str(), "test.ini:2");
  ASSERT_EQ(doc.entries.size(), 2u);
  EXPECT_EQ(doc.entries[0].section, "databases");
  EXPECT_EQ(doc.entries[0].key, "mydb");
  EXPECT_EQ(doc.entries[0].value, "host=localhost");
  EXPECT_EQ(doc.entries[0].where.str(), "test.ini:3");
  EXPECT_EQ(doc.entries[1].section, "pgbouncer");
  EXPECT_EQ(doc.entries[1].key, "listen_port");
  EXPECT_EQ(doc.entries[1].value, "6433");
  EXPECT_EQ(doc.entries[1].where.line, 7);
  EXPECT_EQ(doc.files, std::vector<std::string>{"test.ini"});
}

TEST(ConfigIni, CommentCharactersLaterInALineAreNotSpecial) {
  const auto doc = parse_ok("[pgbouncer]\nauth_query = SELECT 1 ; # not a comment\n");
  ASSERT_EQ(doc.entries.size(), 1u);
  EXPECT_EQ(doc.entries[0].value, "SELECT 1 ; # not a comment");
}

TEST(ConfigIni, EmptyValueAndEqualsInValue) {
  const auto doc = parse_ok("[databases]\nfoodb =\nbar = host=x dbname=y\n");
  ASSERT_EQ(doc.entries.size(), 2u);
  EXPECT_EQ(doc.entries[0].value, "");
  EXPECT_EQ(doc.entries[1].value, "host=x dbname=y");
}

TEST(ConfigIni, QuotedKeys) {
  const auto doc = parse_ok(
      "[databases]\n"
      "\"my db\" = host=a\n"
      "\"we\"\"ird\" = host=b\n"
      "'single q' = host=c\n"
      "* = host=d\n");
  ASSERT_EQ(doc.entries.size(), 4u);
  EXPECT_EQ(doc.entries[0].key, "my db");
  EXPECT_EQ(doc.entries[1].key, "we\"ird");
  EXPECT_EQ(doc.entries[2].key, "single q");
  EXPECT_EQ(doc.entries[3].key, "*");
}

TEST(ConfigIni, CrLfAndByteOrderMark) {
  const auto doc = parse_ok("\xEF\xBB\xBF[pgbouncer]\r\nlisten_port = 1\r\n");
  ASSERT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections[0].name, "pgbouncer");
  ASSERT_EQ(doc.entries.size(), 1u);
  EXPECT_EQ(doc.entries[0].value, "1");
}

TEST(ConfigIni, SectionNameTrimmedAndCommentAfterIt) {
  const auto doc = parse_ok("[ pgbouncer ] ; main\n");
  ASSERT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections[0].name, "pgbouncer");
}

TEST(ConfigIni, SyntaxErrorsNameFileAndLine) {
  EXPECT_EQ(parse_error("[pgbouncer]\n\nlisten_port 6432\n"),
            "test.ini:3: syntax error: expected \"key = value\"");
  EXPECT_EQ(parse_error("[pgbouncer\n"),
            "test.ini:1: syntax error: missing \"]\" after section name");
  EXPECT_EQ(parse_error("[]\n"), "test.ini:1: syntax error: empty section name");
  EXPECT_EQ(parse_error("[pgbouncer] x\n"),
            "test.ini:1: syntax error: unexpected text after the section name");
  EXPECT_EQ(parse_error("[databases]\n\"open = x\n"),
            "test.ini:2: syntax error: unterminated quoted key");
  EXPECT_EQ(parse_error("[databases]\n= x\n"), "test.ini:2: syntax error: empty key");
  EXPECT_EQ(parse_error("[databases]\nmy db = x\n"),
            "test.ini:2: syntax error: the key contains a space (quote it with double "
            "quotes)");
  EXPECT_EQ(parse_error("\nlisten_port = 1\n[pgbouncer]\n"),
            "test.ini:2: an entry appears before any [section]");
  EXPECT_EQ(parse_error("[pgbouncer]\n%include\n"),
            "test.ini:2: syntax error: expected \"%include FILE\"");
}

TEST(ConfigIni, IncludeIsRelativeToTheIncludingFile) {
  TempDir dir;
  dir.write("conf/dbs/databases.ini", "[databases]\nmydb = host=a\n");
  dir.write("conf/more.ini", "%include dbs/databases.ini\nother = host=b\n");
  const std::string main = dir.write("conf/pgbouncer.ini",
                                     "[pgbouncer]\n"
                                     "listen_port = 1\n"
                                     "%include more.ini\n"
                                     "after = host=c\n");
  auto doc = read_ini_file(main);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  ASSERT_EQ(doc->entries.size(), 4u);
  EXPECT_EQ(doc->entries[0].key, "listen_port");
  EXPECT_EQ(doc->entries[1].key, "mydb");
  EXPECT_EQ(doc->entries[1].where.str(), dir.path() + "/conf/dbs/databases.ini:2");
  // The section set inside an include stays in force after it, as in
  // PgBouncer: "other" and "after" land in [databases].
  EXPECT_EQ(doc->entries[2].key, "other");
  EXPECT_EQ(doc->entries[2].section, "databases");
  EXPECT_EQ(doc->entries[2].where.str(), dir.path() + "/conf/more.ini:2");
  EXPECT_EQ(doc->entries[3].key, "after");
  EXPECT_EQ(doc->entries[3].section, "databases");
  EXPECT_EQ(doc->entries[3].where.line, 4);
  EXPECT_EQ(doc->files.size(), 3u);
  EXPECT_TRUE(doc->warnings.empty());
}

TEST(ConfigIni, IncludeAbsolutePath) {
  TempDir dir;
  const std::string inc = dir.write("elsewhere/users.ini", "[users]\nbob = pool_mode=session\n");
  const std::string main = dir.write("pgbouncer.ini", "[pgbouncer]\n%include " + inc + "\n");
  auto doc = read_ini_file(main);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  ASSERT_EQ(doc->entries.size(), 1u);
  EXPECT_EQ(doc->entries[0].section, "users");
}

TEST(ConfigIni, IncludeFallsBackToTheCurrentDirectoryWithAWarning) {
  TempDir dir;
  dir.write("cwd/extra.ini", "[databases]\nx = host=a\n");
  const std::string main = dir.write("conf/pgbouncer.ini", "[pgbouncer]\n%include extra.ini\n");
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path() + "/cwd");
  auto doc = read_ini_file(main);
  std::filesystem::current_path(old_cwd);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  ASSERT_EQ(doc->entries.size(), 1u);
  ASSERT_EQ(doc->warnings.size(), 1u);
  EXPECT_NE(doc->warnings[0].find(main + ":2: included file \"extra.ini\" found relative to the "
                                         "current directory"),
            std::string::npos)
      << doc->warnings[0];
}

TEST(ConfigIni, IncludeLoopIsAnError) {
  TempDir dir;
  dir.write("a.ini", "[pgbouncer]\n%include b.ini\n");
  dir.write("b.ini", "\n\n%include ./a.ini\n");
  auto doc = read_ini_file(dir.path() + "/a.ini");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().message, dir.path() + "/b.ini:3: %include loop: \"" + dir.path() +
                                     "/./a.ini\" is already being read");
}

TEST(ConfigIni, SelfIncludeIsAnError) {
  TempDir dir;
  const std::string main = dir.write("self.ini", "[pgbouncer]\n%include self.ini\n");
  auto doc = read_ini_file(main);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.error().message.find("%include loop"), std::string::npos);
}

TEST(ConfigIni, IncludingTheSameFileTwiceInSequenceIsFine) {
  TempDir dir;
  dir.write("common.ini", "x = 1\n");
  const std::string main =
      dir.write("main.ini", "[pgbouncer]\n%include common.ini\n%include common.ini\n");
  auto doc = read_ini_file(main);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ(doc->entries.size(), 2u);
}

TEST(ConfigIni, IncludeDepthIsLimited) {
  TempDir dir;
  // f0 includes f1 ... up to fN; ten levels of nesting are allowed.
  auto make_chain = [&](int levels) {
    for (int i = 0; i < levels; ++i) {
      dir.write("f" + std::to_string(i) + ".ini", (i == 0 ? "[pgbouncer]\n" : "") +
                                                      std::string("%include f") +
                                                      std::to_string(i + 1) + ".ini\n");
    }
    dir.write("f" + std::to_string(levels) + ".ini", "deep = 1\n");
    return dir.path() + "/f0.ini";
  };
  auto ok = read_ini_file(make_chain(10));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->entries.size(), 1u);

  auto too_deep = read_ini_file(make_chain(11));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.error().message,
            dir.path() + "/f10.ini:1: %include nested deeper than 10 levels");
}

TEST(ConfigIni, MissingIncludeNamesTheIncludingLine) {
  TempDir dir;
  const std::string main = dir.write("main.ini", "[pgbouncer]\n%include nope.ini\n");
  auto doc = read_ini_file(main);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().message, main + ":2: cannot include: cannot open \"" + dir.path() +
                                     "/nope.ini\": No such file or directory");
}

TEST(ConfigIni, MissingTopFile) {
  auto doc = read_ini_file("/nonexistent/usher.ini");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().message,
            "cannot open \"/nonexistent/usher.ini\": No such file or directory");
}

TEST(ConfigIni, ErrorInsideIncludeNamesTheIncludedFile) {
  TempDir dir;
  dir.write("bad.ini", "ok = 1\nbroken line\n");
  const std::string main = dir.write("main.ini", "[pgbouncer]\n%include bad.ini\n");
  auto doc = read_ini_file(main);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().message, dir.path() + "/bad.ini:2: syntax error: expected \"key = value\"");
}

}  // namespace
}  // namespace usher::config
