// SCRAM-SHA-256-PLUS: channel binding (tls-server-end-point) between
// ScramClient and ScramServer, and every way a client or a man in the middle
// can get it wrong, with PostgreSQL's answers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/base64.h"
#include "auth/scram.h"

namespace usher::auth {
namespace {

// Stand-ins for two certificates' hashes: the one the server holds, and the
// one a client sees through a man in the middle.
const std::string kEndPoint(32, '\x11');
const std::string kOtherEndPoint(32, '\x22');

ScramServer binding_server(bool offer = true) {
  ScramServer server("user", make_scram_secret("pencil", "salt-salt-salt16", 4096));
  if (offer) server.offer_channel_binding(kEndPoint);
  return server;
}

ScramClient binding_client(const std::string& end_point = kEndPoint) {
  return ScramClient("pencil", ScramClientOptions{.end_point = end_point});
}

// Mechanism selection, then the whole exchange; the first error wins.
Status run(ScramClient& client, ScramServer& server) {
  std::string_view mechanism = client.select_mechanism(server.mechanisms());
  if (Status st = server.select_mechanism(mechanism); !st) return st;
  auto server_first = server.handle_client_first(client.client_first());
  if (!server_first) return server_first.take_error();
  auto client_final = client.handle_server_first(*server_first);
  if (!client_final) return client_final.take_error();
  auto server_final = server.handle_client_final(*client_final);
  if (!server_final) return server_final.take_error();
  return client.verify_server_final(*server_final);
}

// client-first for a hand-written GS2 header.
std::string first_with(std::string_view gs2_header) {
  return std::string(gs2_header) + "n=,r=abcdefgh";
}

TEST(AuthScramBinding, ServerListsPlusFirstOnlyWhenOffered) {
  EXPECT_EQ(binding_server().mechanisms(),
            (std::vector<std::string_view>{kScramSha256PlusMechanism, kScramSha256Mechanism}));
  EXPECT_EQ(binding_server(false).mechanisms(),
            (std::vector<std::string_view>{kScramSha256Mechanism}));
}

TEST(AuthScramBinding, BoundExchangeSucceeds) {
  ScramServer server = binding_server();
  ScramClient client = binding_client();
  Status st = run(client, server);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(client.binds_channel());
  EXPECT_TRUE(client.client_first().starts_with(kBindingGs2Header));
  EXPECT_TRUE(server.succeeded());
  EXPECT_TRUE(server.client_key().has_value());  // pass-through still works
}

TEST(AuthScramBinding, AnotherCertificatesHashFailsTheCheck) {
  ScramServer server = binding_server();
  ScramClient client = binding_client(kOtherEndPoint);
  Status st = run(client, server);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().sqlstate, "28000");
  EXPECT_EQ(st.error().message, "SCRAM channel binding check failed");
  EXPECT_FALSE(server.succeeded());
}

TEST(AuthScramBinding, ClientWithoutTlsUsesPlainScramAndN) {
  ScramServer server = binding_server(false);
  ScramClient client = binding_client("");
  ASSERT_TRUE(run(client, server).ok());
  EXPECT_FALSE(client.binds_channel());
  EXPECT_TRUE(client.client_first().starts_with("n,,"));
}

TEST(AuthScramBinding, ClientOnTlsSaysYWhenPlusIsNotOffered) {
  ScramServer server = binding_server(false);
  ScramClient client = binding_client();
  ASSERT_TRUE(run(client, server).ok());
  EXPECT_FALSE(client.binds_channel());
  EXPECT_TRUE(client.client_first().starts_with("y,,"));
}

TEST(AuthScramBinding, YWhenPlusWasOfferedIsADowngrade) {
  // Someone removed -PLUS from the list the client saw.
  ScramServer server = binding_server();
  ASSERT_TRUE(server.select_mechanism(kScramSha256Mechanism).ok());
  auto r = server.handle_client_first(first_with("y,,"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "28000");
  EXPECT_TRUE(r.error().message.starts_with("SCRAM channel binding negotiation error"));
}

TEST(AuthScramBinding, NWithPlainMechanismIsAllowedWhenOffered) {
  // A client that chose not to bind (libpq channel_binding=disable).
  ScramServer server = binding_server();
  ScramClient client = binding_client("");
  ASSERT_TRUE(run(client, server).ok());
}

TEST(AuthScramBinding, GsHeaderMustMatchTheMechanism) {
  struct Case {
    std::string_view mechanism;
    std::string_view header;
    std::string_view words;
  };
  for (const Case& c : {
           Case{kScramSha256PlusMechanism, "n,,", "does not include channel binding data"},
           Case{kScramSha256PlusMechanism, "y,,", "does not include channel binding data"},
           Case{kScramSha256Mechanism, "p=tls-server-end-point,,", "includes channel binding"},
           Case{kScramSha256PlusMechanism, "p=tls-unique,,", "unsupported SCRAM channel-binding"},
           Case{kScramSha256PlusMechanism, "p=,,", "unsupported SCRAM channel-binding"},
           Case{kScramSha256PlusMechanism, "p,,", "expected '='"},
           Case{kScramSha256PlusMechanism, "p=tls-server-end-point", "unsupported SCRAM"},
           Case{kScramSha256PlusMechanism, "p=tls-server-end-point,x", "comma expected"},
       }) {
    ScramServer server = binding_server();
    ASSERT_TRUE(server.select_mechanism(c.mechanism).ok());
    auto r = server.handle_client_first(first_with(c.header));
    ASSERT_FALSE(r.ok()) << c.header;
    EXPECT_EQ(r.error().sqlstate, "08P01") << c.header;
    EXPECT_NE(r.error().message.find(c.words), std::string::npos)
        << c.header << ": " << r.error().message;
    EXPECT_FALSE(server.handle_client_final("c=biws,r=x,p=x").ok());
  }
}

TEST(AuthScramBinding, AuthzidAfterBindingIsRefusedAsInPostgres) {
  ScramServer server = binding_server();
  ASSERT_TRUE(server.select_mechanism(kScramSha256PlusMechanism).ok());
  auto r = server.handle_client_first(first_with("p=tls-server-end-point,a=admin,"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().sqlstate, "0A000");
}

TEST(AuthScramBinding, UnofferedMechanismsAreRefused) {
  ScramServer without = binding_server(false);
  EXPECT_EQ(without.select_mechanism(kScramSha256PlusMechanism).error().sqlstate, "08P01");
  EXPECT_FALSE(without.handle_client_first(first_with("n,,")).ok());  // stays failed
  ScramServer with = binding_server();
  EXPECT_FALSE(with.select_mechanism("SCRAM-SHA-1").ok());
  EXPECT_FALSE(binding_server().select_mechanism("").ok());
}

TEST(AuthScramBinding, PlainCEchoUnderPlusIsRefused) {
  // A client that selects -PLUS but then sends c= without the hash.
  ScramServer server = binding_server();
  ASSERT_TRUE(server.select_mechanism(kScramSha256PlusMechanism).ok());
  auto first = server.handle_client_first(first_with(kBindingGs2Header));
  ASSERT_TRUE(first.ok()) << first.error().message;
  std::string nonce = first->substr(2, first->find(',') - 2);
  std::string final_message =
      "c=" + base64_encode(kBindingGs2Header) + ",r=" + nonce + ",p=" + base64_encode(kEndPoint);
  auto r = server.handle_client_final(final_message);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "SCRAM channel binding check failed");
}

TEST(AuthScramBinding, ClientPicksWhatTheServerOffers) {
  ScramClient tls = binding_client();
  EXPECT_EQ(tls.select_mechanism({kScramSha256Mechanism, kScramSha256PlusMechanism}),
            kScramSha256PlusMechanism);
  EXPECT_TRUE(tls.binds_channel());
  ScramClient plain = binding_client("");
  EXPECT_EQ(plain.select_mechanism({kScramSha256PlusMechanism, kScramSha256Mechanism}),
            kScramSha256Mechanism);
  EXPECT_FALSE(plain.binds_channel());
  EXPECT_EQ(binding_client().select_mechanism({"SCRAM-SHA-1"}), "");
  EXPECT_EQ(binding_client("").select_mechanism({kScramSha256PlusMechanism}), "");
}

}  // namespace
}  // namespace usher::auth
