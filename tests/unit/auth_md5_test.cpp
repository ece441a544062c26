#include "auth/md5.h"

#include <gtest/gtest.h>

#include "auth/scram.h"

namespace usher::auth {
namespace {

// Expected values below were computed independently with Python's hashlib:
//   "md5" + md5(md5(password + user).hexdigest() + salt).hexdigest()

TEST(AuthMd5, HexDigest) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("postgrespostgres"), "3175bce1d3201d16594cebf9d7eb3f9d");
}

TEST(AuthMd5, PasswordSecretIsWhatPostgresStores) {
  EXPECT_EQ(md5_password_secret("postgres", "postgres"), "md53175bce1d3201d16594cebf9d7eb3f9d");
}

TEST(AuthMd5, RecognisesSecrets) {
  EXPECT_TRUE(is_md5_secret("md53175bce1d3201d16594cebf9d7eb3f9d"));
  EXPECT_FALSE(is_md5_secret("md53175BCE1d3201d16594cebf9d7eb3f9d"));   // uppercase
  EXPECT_FALSE(is_md5_secret("md53175bce1d3201d16594cebf9d7eb3f9"));    // short
  EXPECT_FALSE(is_md5_secret("md53175bce1d3201d16594cebf9d7eb3f9dd"));  // long
  EXPECT_FALSE(is_md5_secret("md53175bce1d3201d16594cebf9d7eb3f9g"));   // not hex
  EXPECT_FALSE(is_md5_secret("postgres"));
  EXPECT_FALSE(is_md5_secret(""));
}

TEST(AuthMd5, SaltedResponseFromPasswordOrSecret) {
  const Md5Salt salt{0x01, 0x02, 0x03, 0x04};
  const std::string expected = "md568be9ed08db75f318087ab337aaea044";
  EXPECT_EQ(md5_salted_response("postgres", "postgres", salt), expected);
  EXPECT_EQ(md5_salted_response("md53175bce1d3201d16594cebf9d7eb3f9d", "postgres", salt), expected);
  EXPECT_EQ(md5_salted_response("secret", "alice", Md5Salt{0xde, 0xad, 0xbe, 0xef}),
            "md53e1d73ba00a55e8805aa0277d29996c5");
}

TEST(AuthMd5, VerifyAcceptsOnlyTheRightResponse) {
  const Md5Salt salt{0x01, 0x02, 0x03, 0x04};
  const std::string good = "md568be9ed08db75f318087ab337aaea044";
  EXPECT_TRUE(md5_verify("postgres", "postgres", salt, good));
  EXPECT_TRUE(md5_verify("md53175bce1d3201d16594cebf9d7eb3f9d", "postgres", salt, good));

  EXPECT_FALSE(md5_verify("postgres", "postgres", Md5Salt{1, 2, 3, 5}, good));
  EXPECT_FALSE(md5_verify("postgres", "other", salt, good));
  EXPECT_FALSE(md5_verify("wrong", "postgres", salt, good));
  EXPECT_FALSE(md5_verify("postgres", "postgres", salt, "md568BE9ED08DB75F318087AB337AAEA044"));
  EXPECT_FALSE(md5_verify("postgres", "postgres", salt, good.substr(0, 34)));
  EXPECT_FALSE(md5_verify("postgres", "postgres", salt, good + "0"));
  EXPECT_FALSE(md5_verify("postgres", "postgres", salt, ""));
  // The stored secret itself is not a valid answer (it is the unsalted form).
  EXPECT_FALSE(md5_verify("postgres", "postgres", salt, "md53175bce1d3201d16594cebf9d7eb3f9d"));
}

TEST(AuthMd5, VerifyRefusesEmptyPassword) {
  const Md5Salt salt{9, 9, 9, 9};
  EXPECT_FALSE(md5_verify("", "alice", salt, md5_salted_response("", "alice", salt)));
}

TEST(AuthMd5, VerifyRefusesScramSecretInsteadOfTreatingItAsPlaintext) {
  const std::string scram = format_scram_secret(make_scram_secret("pw", "saltsalt", 1));
  const Md5Salt salt{1, 2, 3, 4};
  EXPECT_FALSE(md5_verify(scram, "alice", salt, md5_salted_response(scram, "alice", salt)));
}

}  // namespace
}  // namespace usher::auth
