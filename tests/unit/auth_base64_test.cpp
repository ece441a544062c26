#include "auth/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace usher::auth {
namespace {

TEST(AuthBase64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("n,,"), "biws");  // SCRAM's c= without channel binding
}

TEST(AuthBase64, DecodesRfc4648Vectors) {
  EXPECT_EQ(base64_decode(""), std::string());
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
}

TEST(AuthBase64, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i)
    all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 7) {
    std::string input = all.substr(0, len);
    EXPECT_EQ(base64_decode(base64_encode(input)), input) << len;
  }
}

TEST(AuthBase64, RejectsMalformedInput) {
  for (const char* bad : {"Zg", "Zg=", "Z===", "====", "Zm9v\n", " Zm9v", "Zm=v", "Zm9-", "Zm9_",
                          "Zg==Zg==", "=Zm9", "Zm9v=", "Zm9vYg=a"}) {
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
  }
}

TEST(AuthBase64, IgnoresUnusedTrailingBitsLikePostgres) {
  // "Zh==" is a non-canonical spelling of "f" (low bits set); PostgreSQL
  // accepts it, so we do too.
  EXPECT_EQ(base64_decode("Zh=="), "f");
}

}  // namespace
}  // namespace usher::auth
