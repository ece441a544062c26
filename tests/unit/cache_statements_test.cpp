#include "cache/statements.h"

#include <gtest/gtest.h>

namespace usher::cache {
namespace {

// What a read inside a transaction that has written is taken for without
// a parse: one SELECT that calls nothing and makes nothing.
TEST(PlainSelect, OnlyASelectThatCallsAndMakesNothing) {
  EXPECT_TRUE(plain_select("SELECT abalance FROM pgbench_accounts WHERE aid = 7;", true));
  EXPECT_TRUE(plain_select("/* c */ select a, b from t where x = 'y'", true));
  EXPECT_FALSE(plain_select("SELECT f(1)", true));
  EXPECT_FALSE(plain_select("SELECT nextval('s')", true));
  EXPECT_FALSE(plain_select("SELECT * INTO made FROM t", true));
  EXPECT_FALSE(plain_select("select a into TEMP made from t", true));
  EXPECT_FALSE(plain_select("SELECT 1; DROP TABLE t", true));
  EXPECT_FALSE(plain_select("UPDATE t SET a = 1", true));
  EXPECT_FALSE(plain_select("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", true));
  EXPECT_FALSE(plain_select("SELECT 'unterminated", true));
}

// Review of de43e5f: with standard_conforming_strings off, 'a\' , ' is one
// string to the server, so the text is three statements there (a SET ROLE
// in the middle), though one to a lexer that reads backslashes literally.
TEST(PlainSelect, SplitAsTheClientsStandardConformingStrings) {
  const std::string hidden = "SELECT 'a\\' , ' ; SET ROLE other ; SELECT 1 --'";
  // What the parse, which lexes in the client's mode, knows of it.
  EXPECT_TRUE(decide(nullptr, hidden, false, false, {}, {}, nullptr).hides_settings);
  EXPECT_FALSE(plain_select(hidden, false));
  EXPECT_TRUE(plain_select(hidden, true));  // one string, standard: one statement
  // The same for a write taken on its first word.
  const std::string update =
      "UPDATE t SET v = 'a\\' , ' ; SET ROLE other ; SELECT 1 --' WHERE id = 1";
  EXPECT_TRUE(decide(nullptr, update, false, false, {}, {}, nullptr).hides_settings);
}

}  // namespace
}  // namespace usher::cache
