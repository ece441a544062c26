#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "auth/base64.h"
#include "auth/scram.h"

namespace usher::auth {
namespace {

// RFC 7677 section 3: user "user", password "pencil".
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// ClientKey for "pencil" with that salt, from Python's hashlib.
constexpr std::string_view kPencilClientKey = "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos=";

NonceSource fixed_nonce(std::string_view nonce) {
  return [n = std::string(nonce)] { return n; };
}

ScramSecret pencil_secret() {
  return make_scram_secret("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
}

ScramKey decode_key(std::string_view b64) {
  std::string raw = *base64_decode(b64);
  ScramKey key{};
  std::copy(raw.begin(), raw.end(), key.begin());
  return key;
}

ScramServer rfc_server() {
  return ScramServer("user", pencil_secret(), fixed_nonce(kServerNonce));
}

ScramClient rfc_client(std::string password = "pencil") {
  return ScramClient(std::move(password),
                     ScramClientOptions{.username = "user", .nonce = fixed_nonce(kClientNonce)});
}

// Runs a whole exchange; the first error from either side wins.
Status run_exchange(ScramClient& client, ScramServer& server) {
  auto server_first = server.handle_client_first(client.client_first());
  if (!server_first) return server_first.take_error();
  auto client_final = client.handle_server_first(*server_first);
  if (!client_final) return client_final.take_error();
  auto server_final = server.handle_client_final(*client_final);
  if (!server_final) return server_final.take_error();
  return client.verify_server_final(*server_final);
}

// ---------------------------------------------------------------------------
// RFC 7677 test vector

TEST(AuthScramExchange, ClientReproducesRfc7677) {
  ScramClient client = rfc_client();
  EXPECT_EQ(client.client_first(), kClientFirst);
  EXPECT_EQ(client.client_first(), kClientFirst);  // idempotent
  auto final_message = client.handle_server_first(kServerFirst);
  ASSERT_TRUE(final_message.ok()) << final_message.error().message;
  EXPECT_EQ(*final_message, kClientFinal);
  auto verified = client.verify_server_final(kServerFinal);
  EXPECT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_TRUE(client.succeeded());
}

TEST(AuthScramExchange, ServerReproducesRfc7677) {
  ScramServer server = rfc_server();
  auto server_first = server.handle_client_first(kClientFirst);
  ASSERT_TRUE(server_first.ok()) << server_first.error().message;
  EXPECT_EQ(*server_first, kServerFirst);
  auto server_final = server.handle_client_final(kClientFinal);
  ASSERT_TRUE(server_final.ok()) << server_final.error().message;
  EXPECT_EQ(*server_final, kServerFinal);
  EXPECT_TRUE(server.succeeded());
  ASSERT_TRUE(server.client_key().has_value());
  EXPECT_EQ(*server.client_key(), decode_key(kPencilClientKey));
}

TEST(AuthScramExchange, ClientAndServerTalkWithRfcNonces) {
  ScramClient client = rfc_client();
  ScramServer server = rfc_server();
  auto status = run_exchange(client, server);
  EXPECT_TRUE(status.ok()) << status.error().message;
  EXPECT_TRUE(client.succeeded());
  EXPECT_TRUE(server.succeeded());
}

TEST(AuthScramExchange, LibpqStyleEmptyUserWithRandomNonces) {
  ScramClient client("pencil");
  ScramServer server("alice", pencil_secret());
  std::string first = client.client_first();
  EXPECT_TRUE(first.starts_with("n,,n=,r=")) << first;
  EXPECT_EQ(first.size(), std::string("n,,n=,r=").size() + 24);  // 18 random bytes in base64
  auto status = run_exchange(client, server);
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST(AuthScramExchange, FreshNoncesEachTime) {
  EXPECT_NE(ScramClient("x").client_first(), ScramClient("x").client_first());
  ScramServer a("u", pencil_secret());
  ScramServer b("u", pencil_secret());
  EXPECT_NE(*a.handle_client_first("n,,n=,r=abc"), *b.handle_client_first("n,,n=,r=abc"));
}

TEST(AuthScramExchange, ServerAcceptsStarUserAndYFlag) {
  ScramServer server("u", pencil_secret(), fixed_nonce("SRV"));
  auto first = server.handle_client_first("y,,n=*,r=abc");
  ASSERT_TRUE(first.ok()) << first.error().message;
  // With "y,," the client must echo it as c=eSws; "biws" would be a downgrade.
  ScramServer wrong_binding("u", pencil_secret(), fixed_nonce("SRV"));
  ASSERT_TRUE(wrong_binding.handle_client_first("y,,n=*,r=abc").ok());
  auto result = wrong_binding.handle_client_final("c=biws,r=abcSRV,p=" + std::string(44, 'A'));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().sqlstate, "08P01");
}

TEST(AuthScramExchange, UsernameIsEscaped) {
  ScramClient client("pw", ScramClientOptions{.username = "a,b=c", .nonce = fixed_nonce("N")});
  EXPECT_EQ(client.client_first(), "n,,n=a=2Cb=3Dc,r=N");
}

TEST(AuthScramExchange, PlainPasswordServer) {
  ScramServer server = ScramServer::from_password("bob", "s3cret");
  EXPECT_EQ(server.secret().iterations, 4096);
  EXPECT_EQ(server.secret().salt.size(), 16u);
  ScramClient client("s3cret");
  auto status = run_exchange(client, server);
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST(AuthScramExchange, PlainPasswordSecretIsDerivedOncePerUser) {
  auto first = ScramServer::from_password("carol", "one");
  // Same user and password: the cached secret (same salt), and it still verifies.
  auto again = ScramServer::from_password("carol", "one");
  EXPECT_EQ(again.secret(), first.secret());
  ScramClient client("one");
  EXPECT_TRUE(run_exchange(client, again).ok());
  // Another user with the same password gets a salt of its own.
  EXPECT_NE(ScramServer::from_password("dave", "one").secret().salt, first.secret().salt);
  // A changed password (reload) derives a new secret; the old one no longer verifies.
  auto changed = ScramServer::from_password("carol", "two");
  EXPECT_NE(changed.secret(), first.secret());
  ScramClient old_password("one");
  EXPECT_FALSE(run_exchange(old_password, changed).ok());
  ScramClient new_password("two");
  auto current = ScramServer::from_password("carol", "two");
  EXPECT_TRUE(run_exchange(new_password, current).ok());
}

TEST(AuthScramExchange, ServerFromStored) {
  auto from_secret = ScramServer::from_stored("u", format_scram_secret(pencil_secret()));
  ASSERT_TRUE(from_secret.ok());
  EXPECT_EQ(from_secret->secret(), pencil_secret());
  ScramClient client("pencil");
  EXPECT_TRUE(run_exchange(client, *from_secret).ok());

  auto from_plain = ScramServer::from_stored("u", "pencil");
  ASSERT_TRUE(from_plain.ok());
  ScramClient client2("pencil");
  EXPECT_TRUE(run_exchange(client2, *from_plain).ok());

  auto from_md5 = ScramServer::from_stored("u", "md53175bce1d3201d16594cebf9d7eb3f9d");
  ASSERT_FALSE(from_md5.ok());
  EXPECT_EQ(from_md5.error().sqlstate, "28P01");
  auto from_empty = ScramServer::from_stored("u", "");
  ASSERT_FALSE(from_empty.ok());
  EXPECT_EQ(from_empty.error().sqlstate, "28P01");
  auto from_broken = ScramServer::from_stored("u", "SCRAM-SHA-256$4096:broken");
  ASSERT_FALSE(from_broken.ok());
  EXPECT_EQ(from_broken.error().sqlstate, "28P01");
}

// ---------------------------------------------------------------------------
// Wrong passwords

TEST(AuthScramExchange, WrongPasswordFailsWith28P01) {
  ScramClient client = rfc_client("pencil2");
  ScramServer server = rfc_server();
  auto status = run_exchange(client, server);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().sqlstate, "28P01");
  EXPECT_EQ(status.error().message, "password authentication failed for user \"user\"");
  EXPECT_FALSE(server.succeeded());
  EXPECT_FALSE(server.client_key().has_value());
  // A failed exchange stays failed.
  auto again = server.handle_client_final(kClientFinal);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().sqlstate, "08P01");
}

TEST(AuthScramExchange, TamperedProofFails) {
  std::string tampered(kClientFinal);
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  ScramServer server = rfc_server();
  ASSERT_TRUE(server.handle_client_first(kClientFirst).ok());
  auto result = server.handle_client_final(tampered);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().sqlstate, "28P01");
}

TEST(AuthScramExchange, MockServerAlwaysFailsWithStableSalt) {
  ScramServer a = ScramServer::mock("ghost", "seed");
  ScramServer b = ScramServer::mock("ghost", "seed");
  ScramServer c = ScramServer::mock("other", "seed");
  EXPECT_EQ(a.secret().salt, b.secret().salt);
  EXPECT_NE(a.secret().salt, c.secret().salt);
  EXPECT_EQ(a.secret().salt.size(), 16u);
  ScramClient client("anything");
  auto status = run_exchange(client, a);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().sqlstate, "28P01");
  EXPECT_EQ(status.error().message, "password authentication failed for user \"ghost\"");
}

// ---------------------------------------------------------------------------
// The ClientKey path: authenticate a client, then log in upstream as it.

TEST(AuthScramExchange, RecoveredClientKeyLogsIntoServerWithSameSecret) {
  const ScramSecret secret = pencil_secret();
  ScramServer front("alice", secret);
  ScramClient app("pencil");
  ASSERT_TRUE(run_exchange(app, front).ok());
  ASSERT_TRUE(front.client_key().has_value());

  ScramServer upstream("alice", secret);  // PostgreSQL holding the same secret
  ScramClient pooler(*front.client_key(), front.secret().server_key, front.secret());
  auto status = run_exchange(pooler, upstream);
  EXPECT_TRUE(status.ok()) << status.error().message;
  EXPECT_TRUE(pooler.succeeded());
  EXPECT_TRUE(upstream.succeeded());
  EXPECT_EQ(upstream.client_key(), front.client_key());
}

TEST(AuthScramExchange, ClientKeyFromRfcVectorWorksWithoutExpectedSecret) {
  ScramClient pooler(decode_key(kPencilClientKey), pencil_secret().server_key, std::nullopt,
                     ScramClientOptions{.username = "user", .nonce = fixed_nonce(kClientNonce)});
  EXPECT_EQ(pooler.client_first(), kClientFirst);
  auto final_message = pooler.handle_server_first(kServerFirst);
  ASSERT_TRUE(final_message.ok()) << final_message.error().message;
  EXPECT_EQ(*final_message, kClientFinal);
  EXPECT_TRUE(pooler.verify_server_final(kServerFinal).ok());
}

TEST(AuthScramExchange, ClientKeyAgainstDifferentSaltFailsClearly) {
  const ScramSecret secret = pencil_secret();
  ScramServer front("alice", secret);
  ScramClient app("pencil");
  ASSERT_TRUE(run_exchange(app, front).ok());

  // Same password, different salt: the upstream's secret is not the one the
  // keys came from.
  ScramServer upstream("alice", make_scram_secret("pencil", "another salt", 4096));
  ScramClient pooler(*front.client_key(), secret.server_key, secret);
  auto status = run_exchange(pooler, upstream);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().sqlstate, "28000");
  EXPECT_NE(status.error().message.find("differs"), std::string::npos) << status.error().message;

  // Same salt, different iteration count.
  ScramServer upstream2("alice", make_scram_secret("pencil", secret.salt, 4097));
  ScramClient pooler2(*front.client_key(), secret.server_key, secret);
  status = run_exchange(pooler2, upstream2);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().sqlstate, "28000");

  // Without an expected secret the upstream itself rejects the proof.
  ScramServer upstream3("alice", make_scram_secret("pencil", "another salt", 4096));
  ScramClient pooler3(*front.client_key(), secret.server_key);
  status = run_exchange(pooler3, upstream3);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().sqlstate, "28P01");
}

TEST(AuthScramExchange, ClientKeysNotMatchingExpectedSecretFail) {
  const ScramSecret secret = pencil_secret();
  ScramKey wrong_key = decode_key(kPencilClientKey);
  wrong_key[0] ^= 1;
  ScramServer upstream("alice", secret);
  ScramClient pooler(wrong_key, secret.server_key, secret);
  auto status = run_exchange(pooler, upstream);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().sqlstate, "28000");
}

// ---------------------------------------------------------------------------
// Malformed client messages (server side)

void expect_client_first_error(std::string_view message, std::string_view sqlstate) {
  ScramServer server = rfc_server();
  auto result = server.handle_client_first(message);
  ASSERT_FALSE(result.ok()) << "accepted: " << message;
  EXPECT_EQ(result.error().sqlstate, sqlstate) << message << ": " << result.error().message;
  EXPECT_FALSE(server.handle_client_final(kClientFinal).ok());
}

TEST(AuthScramExchange, MalformedClientFirst) {
  for (std::string_view bad : {
           "",
           "n",
           "n,",
           "n,,",
           "x,,n=,r=abc",
           "n,n=,r=abc",
           "n,,r=abc",
           "n,,n=,",
           "n,,n=",
           "n,,n=,r=",
           "n,,n=,r",
           "n,,n=,x=abc",
           "n,,n=,r=abc,",
           "n,,n=,r=abc,1=x",
           "n,,n=,r=a b",
           "n,,n=,r=abc\x7f",
           "n,,n=,r=abc,=x",
           "n,,n,r=abc",
           "N,,n=,r=abc",
       }) {
    expect_client_first_error(bad, "08P01");
  }
  expect_client_first_error(std::string_view("n,,n=,r=ab\0c", 12), "08P01");
  expect_client_first_error(std::string_view("n,,n=\0,r=abc", 12), "08P01");
}

TEST(AuthScramExchange, ChannelBindingRequestWithoutPlusIsRejected) {
  expect_client_first_error("p=tls-server-end-point,,n=,r=abc", "08P01");
  expect_client_first_error("p,,n=,r=abc", "08P01");
}

TEST(AuthScramExchange, UnsupportedFeaturesLikePostgres) {
  expect_client_first_error("n,a=admin,n=,r=abc", "0A000");
  expect_client_first_error("n,,m=ext,n=,r=abc", "0A000");
}

TEST(AuthScramExchange, ClientFirstExtensionsAreIgnored) {
  ScramServer server = rfc_server();
  EXPECT_TRUE(server.handle_client_first("n,,n=,r=abc,x=1,y=2").ok());
}

void expect_client_final_error(std::string_view message, std::string_view sqlstate) {
  ScramServer server = rfc_server();
  ASSERT_TRUE(server.handle_client_first(kClientFirst).ok());
  auto result = server.handle_client_final(message);
  ASSERT_FALSE(result.ok()) << "accepted: " << message;
  EXPECT_EQ(result.error().sqlstate, sqlstate) << message << ": " << result.error().message;
  EXPECT_FALSE(server.client_key().has_value());
}

TEST(AuthScramExchange, MalformedClientFinal) {
  const std::string nonce = std::string(kClientNonce) + std::string(kServerNonce);
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const std::vector<std::string> cases = {
      "r=" + nonce + "," + proof,                             // missing c=
      "c=biws," + proof,                                      // missing r=
      "c=biws,r=" + nonce,                                    // missing p=
      "c=biws,r=" + nonce + ",",                              // trailing comma
      "c=eSws,r=" + nonce + "," + proof,                      // y flag, but we saw n
      "c=cD10bHMtdW5pcXVlLCw=,r=" + nonce + "," + proof,      // "p=tls-unique,,"
      "c=biws,r=" + nonce + "X," + proof,                     // nonce mismatch
      "c=biws,r=" + std::string(kClientNonce) + "," + proof,  // server part missing
      "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",    // bad b64
      "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=!",  // bad b64
      "c=biws,r=" + nonce + ",p=Zm9v",                                           // 3 bytes
      "c=biws,r=" + nonce + ",p=",                                               // empty
      "c=biws,r=" + nonce + "," + proof + ",x=1",  // garbage after the proof
      "c=biws,r=" + nonce + "," + proof + ",",
      "c=biws,r=" + nonce + ",1=x," + proof,  // extension name not a letter
      "c=biws,r=" + nonce + ",x," + proof,    // extension without '='
      "c=biws,,r=" + nonce + "," + proof,
  };
  for (const std::string& bad : cases) {
    expect_client_final_error(bad, "08P01");
  }
  std::string with_nul = std::string(kClientFinal);
  with_nul[5] = '\0';
  expect_client_final_error(with_nul, "08P01");
}

TEST(AuthScramExchange, ClientFinalExtensionsBeforeProofAreIgnored) {
  // An extension changes AuthMessage, so the RFC proof no longer matches:
  // the message parses (28P01, not 08P01).
  const std::string nonce = std::string(kClientNonce) + std::string(kServerNonce);
  expect_client_final_error(
      "c=biws,r=" + nonce + ",x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "28P01");
}

TEST(AuthScramExchange, EveryTruncatedClientMessageFailsCleanly) {
  for (size_t len = 0; len < kClientFirst.size(); ++len) {
    ScramServer server = rfc_server();
    auto result = server.handle_client_first(kClientFirst.substr(0, len));
    if (!result.ok()) {
      EXPECT_EQ(result.error().sqlstate, "08P01") << len;
    }
  }
  for (size_t len = 0; len < kClientFinal.size(); ++len) {
    expect_client_final_error(kClientFinal.substr(0, len), "08P01");
  }
}

TEST(AuthScramExchange, ServerMessagesOutOfOrder) {
  ScramServer server = rfc_server();
  auto early = server.handle_client_final(kClientFinal);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().sqlstate, "08P01");

  ScramServer twice = rfc_server();
  ASSERT_TRUE(twice.handle_client_first(kClientFirst).ok());
  auto second = twice.handle_client_first(kClientFirst);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().sqlstate, "08P01");

  ScramServer done = rfc_server();
  ASSERT_TRUE(done.handle_client_first(kClientFirst).ok());
  ASSERT_TRUE(done.handle_client_final(kClientFinal).ok());
  EXPECT_FALSE(done.handle_client_final(kClientFinal).ok());
  EXPECT_TRUE(done.succeeded());  // a stray message after success does not undo it
}

// ---------------------------------------------------------------------------
// Malformed server messages (client side)

void expect_server_first_error(std::string_view message, std::string_view sqlstate,
                               int max_iterations = std::numeric_limits<int>::max()) {
  ScramClient client("pencil", ScramClientOptions{.username = "",
                                                  .nonce = fixed_nonce(kClientNonce),
                                                  .max_iterations = max_iterations});
  client.client_first();
  auto result = client.handle_server_first(message);
  ASSERT_FALSE(result.ok()) << "accepted: " << message;
  EXPECT_EQ(result.error().sqlstate, sqlstate) << message << ": " << result.error().message;
  EXPECT_FALSE(client.verify_server_final(kServerFinal).ok());
}

TEST(AuthScramExchange, MalformedServerFirst) {
  const std::string nonce = std::string(kClientNonce) + std::string(kServerNonce);
  const std::string salt = ",s=W22ZaJ0SNY7soEsUEjb6gQ==";
  const std::vector<std::string> cases = {
      std::string(""),
      "r=" + std::string(kClientNonce) + salt + ",i=4096",    // no server part
      "r=XX" + std::string(kServerNonce) + salt + ",i=4096",  // not our nonce
      "r=" + nonce + " x" + salt + ",i=4096",                 // not printable
      "r=" + nonce + ",i=4096",                               // no salt
      "r=" + nonce + ",s=,i=4096",                            // empty salt
      "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",     // bad base64
      "r=" + nonce + salt,                                    // no iterations
      "r=" + nonce + salt + ",i=",
      "r=" + nonce + salt + ",i=0",
      "r=" + nonce + salt + ",i=-1",
      "r=" + nonce + salt + ",i=+1",
      "r=" + nonce + salt + ",i=4096x",
      "r=" + nonce + salt + ",i=99999999999",
      "r=" + nonce + salt + ",i=4096,",
      "r=" + nonce + salt + ",i=4096,==",
      "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" + nonce + ",i=4096",  // wrong order
      "m=ext,r=" + nonce + salt + ",i=4096",
  };
  for (const std::string& bad : cases) {
    expect_server_first_error(bad, "08P01");
  }
  std::string with_nul(kServerFirst);
  with_nul[3] = '\0';
  expect_server_first_error(with_nul, "08P01");
}

TEST(AuthScramExchange, ClientRefusesTooManyIterations) {
  expect_server_first_error(kServerFirst, "28000", 4095);
}

TEST(AuthScramExchange, SaltedPasswordComputedElsewhereGivesTheSameExchange) {
  // The caller on an event loop: salt_request(), PBKDF2 on another thread,
  // then handle_server_first() with the result. Same messages as RFC 7677.
  ScramClient client = rfc_client();
  EXPECT_EQ(client.client_first(), kClientFirst);
  ASSERT_TRUE(client.uses_password());
  auto need = client.salt_request(kServerFirst);
  ASSERT_TRUE(need.ok()) << need.error().message;
  EXPECT_EQ(need->salt, *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="));
  EXPECT_EQ(need->iterations, 4096);
  ScramKey salted = scram_salted_password("pencil", need->salt, need->iterations);
  auto final = client.handle_server_first(kServerFirst, salted);
  ASSERT_TRUE(final.ok()) << final.error().message;
  EXPECT_EQ(*final, kClientFinal);
  EXPECT_TRUE(client.verify_server_final(kServerFinal).ok());
}

TEST(AuthScramExchange, SaltRequestChecksTheMessageWithoutConsumingIt) {
  ScramClient client(
      "pencil", ScramClientOptions{
                    .username = "", .nonce = fixed_nonce(kClientNonce), .max_iterations = 4095});
  client.client_first();
  // Too many rounds is refused before any PBKDF2, by both calls.
  auto need = client.salt_request(kServerFirst);
  ASSERT_FALSE(need.ok());
  EXPECT_EQ(need.error().sqlstate, "28000");
  EXPECT_FALSE(client.salt_request("r=XX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1").ok());
  EXPECT_EQ(client.handle_server_first(kServerFirst).error().sqlstate, "28000");
  // Key mode never derives anything.
  ScramClient keys(decode_key(kPencilClientKey), pencil_secret().server_key);
  EXPECT_FALSE(keys.uses_password());
  keys.client_first();
  EXPECT_FALSE(keys.salt_request(kServerFirst).ok());
}

TEST(AuthScramExchange, PlaintextPasswordSecretsAreCachedPerUser) {
  EXPECT_TRUE(is_plaintext_password("s3cret"));
  EXPECT_FALSE(is_plaintext_password(""));
  EXPECT_FALSE(is_plaintext_password("md53175bce1d3201d16594cebf9d7eb3f9d"));
  EXPECT_FALSE(is_plaintext_password(format_scram_secret(pencil_secret())));
  EXPECT_FALSE(cached_password_secret("erin", "pw"));
  ScramSecret derived = password_secret("erin", "pw");
  ASSERT_TRUE(cached_password_secret("erin", "pw"));
  EXPECT_EQ(*cached_password_secret("erin", "pw"), derived);
  EXPECT_FALSE(cached_password_secret("erin", "other"));
  EXPECT_EQ(ScramServer::from_password("erin", "pw").secret(), derived);
}

TEST(AuthScramExchange, EveryTruncatedServerFirstFailsCleanly) {
  for (size_t len = 0; len < kServerFirst.size(); ++len) {
    // Prefixes ending in "i=4", "i=40", "i=409" are valid messages.
    ScramClient client("pencil",
                       ScramClientOptions{.username = "", .nonce = fixed_nonce(kClientNonce)});
    client.client_first();
    auto result = client.handle_server_first(kServerFirst.substr(0, len));
    if (!result.ok()) {
      EXPECT_EQ(result.error().sqlstate, "08P01") << len;
    }
  }
}

ScramClient client_awaiting_final() {
  ScramClient client = rfc_client();
  client.client_first();
  EXPECT_TRUE(client.handle_server_first(kServerFirst).ok());
  return client;
}

TEST(AuthScramExchange, ServerFinalErrors) {
  {
    ScramClient client = client_awaiting_final();
    auto status = client.verify_server_final("e=invalid-proof");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().sqlstate, "28P01");
    EXPECT_NE(status.error().message.find("invalid-proof"), std::string::npos);
  }
  {
    ScramClient client = client_awaiting_final();
    auto status = client.verify_server_final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().sqlstate, "28000");
    EXPECT_FALSE(client.succeeded());
  }
  for (std::string_view bad : {"", "v=", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "v=Zm9v",
                               "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
                               "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,", "e"}) {
    ScramClient client = client_awaiting_final();
    auto status = client.verify_server_final(bad);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.error().sqlstate, "08P01") << bad;
  }
  {
    ScramClient client = client_awaiting_final();
    EXPECT_TRUE(client.verify_server_final(std::string(kServerFinal) + ",x=ext").ok());
  }
}

TEST(AuthScramExchange, ClientMessagesOutOfOrder) {
  ScramClient client = rfc_client();
  auto early = client.handle_server_first(kServerFirst);  // before client_first()
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().sqlstate, "08P01");

  ScramClient client2 = rfc_client();
  client2.client_first();
  auto early_final = client2.verify_server_final(kServerFinal);
  ASSERT_FALSE(early_final.ok());
  EXPECT_EQ(early_final.error().sqlstate, "08P01");

  ScramClient client3 = client_awaiting_final();
  EXPECT_FALSE(client3.handle_server_first(kServerFirst).ok());
}

}  // namespace
}  // namespace usher::auth
