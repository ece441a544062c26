// The HTTP endpoint's keys: origins as browsers send them, the token file
// (its errors name the file, never the token) and the refused pairing of
// "*" with credentials.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/http_origin.h"
#include "config_test_util.h"

namespace usher::config {
namespace {

std::string origin(std::string_view text) {
  auto o = normalize_origin(text);
  return o.ok() ? *o : "<error>";
}

TEST(ConfigHttpOrigin, CanonicalFormIsLowerCase) {
  EXPECT_EQ(origin("https://App.Example.COM"), "https://app.example.com");
  EXPECT_EQ(origin("http://localhost:8080"), "http://localhost:8080");
  EXPECT_EQ(origin("http://[::1]:3000"), "http://[::1]:3000");
  EXPECT_EQ(origin("HTTP://127.0.0.1"), "http://127.0.0.1");
  EXPECT_EQ(origin("*"), "*");
  // Browsers leave out the default port.
  EXPECT_EQ(origin("https://app.example.com:443"), "https://app.example.com");
  EXPECT_EQ(origin("http://app.example.com:80"), "http://app.example.com");
  EXPECT_EQ(origin("http://app.example.com:443"), "http://app.example.com:443");
}

TEST(ConfigHttpOrigin, AnythingButAnOriginIsRefused) {
  for (std::string_view bad :
       {"", "null", "app.example.com", "https://", "https://app.example.com/",
        "https://app.example.com/path", "https://user@app.example.com", "ftp://app.example.com",
        "https://app.example.com:", "https://app.example.com:0", "https://app.example.com:65536",
        "https://app.example.com:80a", "https://*.example.com", "https://.example.com",
        "https://[::1", "https://app example.com", "*.example.com"}) {
    EXPECT_EQ(origin(bad), "<error>") << bad;
  }
}

class ConfigHttp : public testing::ConfigFileTest {};

TEST_F(ConfigHttp, KeysAndDefaults) {
  const Config defaults;
  EXPECT_EQ(defaults.http_listen_port, 0);
  EXPECT_EQ(defaults.http_listen_addr, "127.0.0.1");
  EXPECT_FALSE(defaults.http_public_read);
  dir_.write("token", "s3cr3t-Token_1\n");
  auto r = load_ok(
      "[pgbouncer]\nhttp_listen_port = 8080\nhttp_listen_addr = *\nhttp_auth_token_file = token\n"
      "http_public_read = on\nhttp_cors_origins = https://A.example.com, http://localhost:3000\n"
      "http_cors_allow_credentials = on\n");
  EXPECT_EQ(r.config.http_listen_port, 8080);
  EXPECT_EQ(r.config.http_listen_addr, "*");
  EXPECT_EQ(r.config.http_auth_token, "s3cr3t-Token_1");
  EXPECT_TRUE(r.config.http_public_read);
  EXPECT_EQ(r.config.http_cors_origins,
            (std::vector<std::string>{"https://a.example.com", "http://localhost:3000"}));
  EXPECT_TRUE(r.config.http_cors_allow_credentials);
}

TEST_F(ConfigHttp, ABadOriginNamesTheLine) {
  const std::string e = load_error("[pgbouncer]\n\nhttp_cors_origins = https://a.example.com/x\n");
  EXPECT_NE(e.find(path_ + ":3"), std::string::npos) << e;
  EXPECT_NE(e.find("scheme://host[:port]"), std::string::npos) << e;
}

TEST_F(ConfigHttp, AnyOriginWithCredentialsIsRefused) {
  const std::string e =
      load_error("[pgbouncer]\nhttp_cors_origins = *\nhttp_cors_allow_credentials = on\n");
  EXPECT_NE(e.find("cannot go with http_cors_allow_credentials"), std::string::npos) << e;
  load_ok("[pgbouncer]\nhttp_cors_origins = *\n");
}

TEST_F(ConfigHttp, TokenFileErrorsNameTheFileNotTheToken) {
  std::string e = load_error("[pgbouncer]\nhttp_auth_token_file = missing\n");
  EXPECT_NE(e.find("cannot read http_auth_token_file"), std::string::npos) << e;
  dir_.write("empty", "\n");
  e = load_error("[pgbouncer]\nhttp_auth_token_file = empty\n");
  EXPECT_NE(e.find("has no token"), std::string::npos) << e;
  dir_.write("spaced", "two words-SECRET\n");
  e = load_error("[pgbouncer]\nhttp_auth_token_file = spaced\n");
  EXPECT_NE(e.find("only letters, digits"), std::string::npos) << e;
  EXPECT_EQ(e.find("SECRET"), std::string::npos) << e;
  dir_.write("long", std::string(5000, 'a'));
  e = load_error("[pgbouncer]\nhttp_auth_token_file = long\n");
  EXPECT_NE(e.find("longer than"), std::string::npos) << e;
}

TEST_F(ConfigHttp, TokenIsTheFirstLineWithoutTrailingBlanks) {
  dir_.write("token", "abc.DEF~123=\r\nsecond line ignored\n");
  auto r = load_ok("[pgbouncer]\nhttp_auth_token_file = token\n");
  EXPECT_EQ(r.config.http_auth_token, "abc.DEF~123=");
  // Not a setting: SHOW CONFIG never shows it.
  for (const auto& row : describe(r.config))
    EXPECT_EQ(row.value.find("abc.DEF"), std::string::npos) << row.key;
}

}  // namespace
}  // namespace usher::config
