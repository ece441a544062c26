#include "common/log_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace usher {
namespace {

TEST(LogEscape, PlainTextIsUnchanged) {
  EXPECT_FALSE(needs_log_escape("C-0x1: appdb/app@127.0.0.1:5432 login attempt"));
  EXPECT_EQ(escape_for_log("user \"app\" \\ path"), "user \"app\" \\ path");
  EXPECT_EQ(escape_for_log(""), "");
}

TEST(LogEscape, NewlinesCannotStartALine) {
  std::string forged = "app\n2025-01-01 00:00:00.000 UTC [1] LOG FAKE LOG LINE";
  EXPECT_TRUE(needs_log_escape(forged));
  EXPECT_EQ(escape_for_log(forged), "app\\x0a2025-01-01 00:00:00.000 UTC [1] LOG FAKE LOG LINE");
  EXPECT_EQ(escape_for_log("a\r\nb"), "a\\x0d\\x0ab");
}

TEST(LogEscape, AsciiControlsAndDel) {
  EXPECT_EQ(escape_for_log(std::string("\x00\t\x1b[2J\x7f", 7)), "\\x00\\x09\\x1b[2J\\x7f");
}

TEST(LogEscape, Utf8TextIsKept) {
  // é, €, 日本, an emoji: printable in any terminal.
  std::string text = "jos\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
  EXPECT_FALSE(needs_log_escape(text));
  EXPECT_EQ(escape_for_log(text), text);
}

TEST(LogEscape, InvalidUtf8IsEscapedByteByByte) {
  EXPECT_EQ(escape_for_log("a\xff"
                           "b"),
            "a\\xffb");
  EXPECT_EQ(escape_for_log("\xc3"), "\\xc3");                             // truncated sequence
  EXPECT_EQ(escape_for_log("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escape_for_log("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(escape_for_log("\x80z"), "\\x80z");                           // stray continuation byte
  EXPECT_EQ(escape_for_log("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST(LogEscape, UnicodeControlsAreEscaped) {
  EXPECT_EQ(escape_for_log("a\xc2\x85"
                           "b"),
            "a\\xc2\\x85b");  // NEL (C1)
  EXPECT_EQ(escape_for_log("a\xe2\x80\xa8"
                           "b"),
            "a\\xe2\\x80\\xa8b");                                // LINE SEPARATOR
  EXPECT_EQ(escape_for_log("\xe2\x80\xae"), "\\xe2\\x80\\xae");  // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(escape_for_log("\xe2\x81\xa6"), "\\xe2\\x81\\xa6");  // LEFT-TO-RIGHT ISOLATE
  // Neighbours of those ranges are ordinary characters.
  EXPECT_EQ(escape_for_log("\xc2\xa0\xe2\x80\xa7"), "\xc2\xa0\xe2\x80\xa7");
}

TEST(LogEscape, WellFormedUtf8KeepsControlsAndReplacesBadBytes) {
  EXPECT_EQ(to_well_formed_utf8("plain\n\ttext"), "plain\n\ttext");
  EXPECT_EQ(to_well_formed_utf8("caf\xc3\xa9 \xe2\x80\xa8 \xc2\x85"),
            "caf\xc3\xa9 \xe2\x80\xa8 \xc2\x85");
  EXPECT_EQ(to_well_formed_utf8("a\xff"
                                "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(to_well_formed_utf8("\xc3"), "\xef\xbf\xbd");                  // cut short
  EXPECT_EQ(to_well_formed_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
  EXPECT_EQ(to_well_formed_utf8("\xed\xa0\x80"),
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
}

TEST(LogEscape, JsonLineIsOneValidObject) {
  EXPECT_EQ(json_log_line("2026-12-08T00:00:00.000Z", 42, "info", "plain"),
            "{\"time\":\"2026-12-08T00:00:00.000Z\",\"pid\":42,\"level\":\"info\","
            "\"message\":\"plain\"}\n");
  // Quotes and backslashes escaped; a forged line break and a terminal
  // escape are \xNN text, as in the text format, so the object stays on
  // one line.
  EXPECT_EQ(json_log_line("t", 1, "warning", "user \"a\\b\"\n{\"level\":\"x\"}\x1b[2J"),
            "{\"time\":\"t\",\"pid\":1,\"level\":\"warning\",\"message\":\"user \\\"a\\\\b\\\""
            "\\\\x0a{\\\"level\\\":\\\"x\\\"}\\\\x1b[2J\"}\n");
}

}  // namespace
}  // namespace usher
