#include "cache/statements.h"

#include <gtest/gtest.h>

namespace usher::cache {
namespace {

// What a read inside a transaction that has written is taken for without
// a parse: one SELECT that calls nothing and makes nothing.
TEST(PlainSelect, OnlyASelectThatCallsAndMakesNothing) {
  EXPECT_TRUE(plain_select("SELECT abalance FROM pgbench_accounts WHERE aid = 7;"));
  EXPECT_TRUE(plain_select("/* c */ select a, b from t where x = 'y'"));
  EXPECT_FALSE(plain_select("SELECT f(1)"));
  EXPECT_FALSE(plain_select("SELECT nextval('s')"));
  EXPECT_FALSE(plain_select("SELECT * INTO made FROM t"));
  EXPECT_FALSE(plain_select("select a into TEMP made from t"));
  EXPECT_FALSE(plain_select("SELECT 1; DROP TABLE t"));
  EXPECT_FALSE(plain_select("UPDATE t SET a = 1"));
  EXPECT_FALSE(plain_select("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x"));
  EXPECT_FALSE(plain_select("SELECT 'unterminated"));
}

}  // namespace
}  // namespace usher::cache
