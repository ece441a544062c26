// auth_hba_file: PgBouncer's subset of pg_hba.conf, parsed and matched.
#include "auth/hba.h"

#include <gtest/gtest.h>

#include <map>

namespace usher::auth {
namespace {

HbaIncludeReader files(std::map<std::string, std::string> contents) {
  return [contents](const std::string& name) -> std::optional<std::string> {
    auto it = contents.find(name);
    if (it == contents.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<HbaRule> parse_ok(std::string_view text, const HbaIncludeReader& inc = files({})) {
  auto r = parse_hba(text, "hba.conf", inc);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<HbaRule>{};
}

std::string parse_error(std::string_view text) {
  auto r = parse_hba(text, "hba.conf", files({}));
  return r ? "" : r.error().message;
}

HbaClient tcp(std::string addr, std::string db, std::string user, bool tls = false) {
  HbaClient c;
  EXPECT_TRUE(hba_client_address(addr, c));
  c.tls = tls;
  c.database = std::move(db);
  c.user = std::move(user);
  return c;
}

HbaClient local(std::string db, std::string user) {
  HbaClient c;
  c.unix_socket = true;
  c.database = std::move(db);
  c.user = std::move(user);
  return c;
}

int line_of(const std::vector<HbaRule>& rules, const HbaClient& c) {
  const HbaRule* r = match_hba(rules, c);
  return r ? r->line : 0;
}

TEST(Hba, FirstMatchingRuleDecides) {
  auto rules = parse_ok(
      "# comment\n"
      "local   all      all                    peer\n"
      "hostssl appdb    app    10.0.0.0/8      cert\n"
      "host    appdb    app    10.1.0.0 255.255.0.0  reject\n"
      "host    appdb,db2 app,bob 10.0.0.0/8    scram-sha-256\n"
      "host    sameuser all    0.0.0.0/0       md5   # trailing comment\n"
      "hostnossl all    all    ::1/128         password\n"
      "host    all      all    all             reject\n");
  ASSERT_EQ(rules.size(), 7u);
  EXPECT_EQ(line_of(rules, local("x", "y")), 2);
  EXPECT_EQ(line_of(rules, tcp("10.1.2.3", "appdb", "app", true)), 3);
  EXPECT_EQ(line_of(rules, tcp("10.1.2.3", "appdb", "app")), 4);
  EXPECT_EQ(line_of(rules, tcp("10.2.2.3", "appdb", "app")), 5);
  EXPECT_EQ(line_of(rules, tcp("10.2.2.3", "db2", "bob")), 5);
  EXPECT_EQ(line_of(rules, tcp("10.2.2.3", "db3", "bob")), 8);
  EXPECT_EQ(line_of(rules, tcp("192.168.1.1", "carol", "carol")), 6);
  EXPECT_EQ(line_of(rules, tcp("::1", "x", "y")), 7);
  EXPECT_EQ(line_of(rules, tcp("::1", "x", "y", true)), 8);
  EXPECT_EQ(match_hba(rules, tcp("::1", "x", "y", true))->method, HbaMethod::kReject);
  EXPECT_EQ(match_hba(rules, tcp("10.2.2.3", "appdb", "app"))->method, HbaMethod::kScramSha256);
}

TEST(Hba, NoRuleNoMatch) {
  auto rules = parse_ok("host appdb app 127.0.0.1/32 trust\n");
  EXPECT_EQ(match_hba(rules, tcp("127.0.0.2", "appdb", "app")), nullptr);
  EXPECT_EQ(match_hba(rules, local("appdb", "app")), nullptr);
  EXPECT_EQ(match_hba(rules, tcp("::ffff:127.0.0.1", "appdb", "app")), nullptr);  // v6 is v6
}

TEST(Hba, QuotedWordsAreNamesNotKeywords) {
  auto rules = parse_ok("host \"all\" \"all\" all trust\n");
  EXPECT_EQ(match_hba(rules, tcp("1.2.3.4", "appdb", "app")), nullptr);
  EXPECT_NE(match_hba(rules, tcp("1.2.3.4", "all", "all")), nullptr);
}

TEST(Hba, ReplicationNeverMatchesAClient) {
  auto rules = parse_ok("host replication all all trust\n");
  EXPECT_EQ(match_hba(rules, tcp("1.2.3.4", "replication", "app")), nullptr);
}

TEST(Hba, AtFilesListNames) {
  auto rules = parse_ok("host @dbs @users all md5\n",
                        files({{"dbs", "appdb, db2\n# comment\ndb3\n"}, {"users", "app bob"}}));
  EXPECT_NE(match_hba(rules, tcp("1.2.3.4", "db3", "bob")), nullptr);
  EXPECT_EQ(match_hba(rules, tcp("1.2.3.4", "db4", "bob")), nullptr);
  auto missing = parse_hba("host @nope all all md5\n", "hba.conf", files({}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "hba.conf:1: cannot read nope");
}

TEST(Hba, ListsContinueAfterACommaAndLinesAfterABackslash) {
  auto rules = parse_ok("host appdb, db2 app all \\\n  trust\n");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_NE(match_hba(rules, tcp("1.2.3.4", "db2", "app")), nullptr);
}

TEST(Hba, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(parse_error("\nhostgss all all all trust\n"),
            "hba.conf:2: invalid connection type \"hostgss\"");
  EXPECT_EQ(parse_error("host all all 1.2.3.4 trust\n"),
            "hba.conf:1: IP address \"1.2.3.4\" needs a mask or /bits");
  EXPECT_EQ(parse_error("host all all 1.2.3.4/33 trust\n"),
            "hba.conf:1: invalid CIDR mask in address \"1.2.3.4/33\"");
  EXPECT_EQ(parse_error("host all all db.example/32 trust\n"),
            "hba.conf:1: invalid IP address \"db.example\" (host names are not supported)");
  EXPECT_EQ(parse_error("host all all all ldap\n"),
            "hba.conf:1: authentication method \"ldap\" is not supported");
  EXPECT_EQ(parse_error("host all +admins all md5\n"),
            "hba.conf:1: group membership (+admins) is not supported: Usher cannot see the roles");
  EXPECT_EQ(parse_error("host all all all peer\n"),
            "hba.conf:1: peer authentication is only supported on local sockets");
  EXPECT_EQ(parse_error("host all all all cert\n"),
            "hba.conf:1: cert authentication is only supported on hostssl");
  EXPECT_EQ(parse_error("local all all\n"), "hba.conf:1: end-of-line before authentication method");
  EXPECT_EQ(parse_error("local all all md5 map=x\n"),
            "hba.conf:1: authentication option \"map\" is only valid for authentication methods "
            "peer and cert");
  EXPECT_EQ(parse_error("local all all peer map=\n"), "hba.conf:1: empty map name");
  EXPECT_EQ(parse_error("host \"all all 0.0.0.0/0 md5\n"), "hba.conf:1: unterminated quote");
  EXPECT_EQ(parse_error("host all all samenet md5\n"), "hba.conf:1: samenet is not supported");
}

TEST(Hba, MapNamesTheIdentMapOfPeerAndCertRules) {
  auto rules = parse_ok(
      "local all all peer map=ops\nhostssl all all all cert map=certs\n"
      "local all all peer\n");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].map, "ops");
  EXPECT_EQ(rules[1].map, "certs");
  EXPECT_EQ(rules[2].map, "");
}

TEST(Hba, MasksApplyToTheRulesAddress) {
  // A host part in the rule's address is masked off, as in PostgreSQL.
  auto rules = parse_ok("host all all 10.1.2.3/16 trust\nhost all all fe80::1/10 trust\n");
  EXPECT_EQ(line_of(rules, tcp("10.1.200.200", "d", "u")), 1);
  EXPECT_EQ(line_of(rules, tcp("10.2.0.1", "d", "u")), 0);
  EXPECT_EQ(line_of(rules, tcp("fe80::abcd", "d", "u")), 2);
}

}  // namespace
}  // namespace usher::auth
