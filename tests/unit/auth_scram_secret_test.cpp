#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/base64.h"
#include "auth/scram.h"

namespace usher::auth {
namespace {

// PostgreSQL's own regression tests store this secret for password "pencil"
// with RFC 7677's salt; recomputed independently with Python's hashlib.
constexpr std::string_view kPencilSecret =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

TEST(AuthScramSecret, ParsesPostgresSecret) {
  auto secret = parse_scram_secret(kPencilSecret);
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(secret->iterations, 4096);
  EXPECT_EQ(secret->salt, *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="));
  EXPECT_EQ(base64_encode(std::string_view(reinterpret_cast<const char*>(secret->stored_key.data()),
                                           secret->stored_key.size())),
            "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
  EXPECT_TRUE(is_scram_secret(kPencilSecret));
}

TEST(AuthScramSecret, FormatRoundTrips) {
  auto secret = parse_scram_secret(kPencilSecret);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(format_scram_secret(*secret), kPencilSecret);
}

TEST(AuthScramSecret, MakeMatchesPostgres) {
  ScramSecret made = make_scram_secret("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  EXPECT_EQ(format_scram_secret(made), kPencilSecret);
}

TEST(AuthScramSecret, MakeWithRandomSaltUsesPostgresDefaults) {
  ScramSecret a = make_scram_secret("pencil");
  ScramSecret b = make_scram_secret("pencil");
  EXPECT_EQ(a.iterations, 4096);
  EXPECT_EQ(a.salt.size(), 16u);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.stored_key, b.stored_key);
  EXPECT_TRUE(is_scram_secret(format_scram_secret(a)));
}

TEST(AuthScramSecret, RejectsMalformedSecrets) {
  const std::string keys =
      "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const std::vector<std::string> cases = {
      std::string(""),
      std::string("pencil"),
      std::string("md53175bce1d3201d16594cebf9d7eb3f9d"),
      "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$+4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$abc:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$4096:" + keys,                                // empty salt
      "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,         // no ':'
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=" + keys,         // bad base64
      std::string("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="),  // no keys
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$Zm9v:"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + "$extra",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + ":extra",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + " ",
  };
  for (const std::string& bad : cases) {
    auto parsed = parse_scram_secret(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_FALSE(is_scram_secret(bad)) << bad;
  }
}

}  // namespace
}  // namespace usher::auth
