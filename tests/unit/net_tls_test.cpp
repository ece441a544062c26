// TLS contexts from PgBouncer's settings, and net::Stream over TLS between
// two real sockets: handshakes that must fail, and writes larger than the
// socket takes at once (the retry path). Certificates are made here with
// OpenSSL's API, so the test needs no files or tools.
#include "net/tls.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "config_test_util.h"
#include "net/message_io.h"
#include "net/stream.h"

namespace usher::net {
namespace {

namespace asio = boost::asio;
using config::testing::TempDir;

// A key and a certificate signed by `issuer` (self-signed when null), with
// `san` as subjectAltName ("DNS:localhost,IP:127.0.0.1"). P-256 keys signed
// with `md`; an Ed25519 key (no separate digest) when `md` is null.
struct Cert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  Cert(const std::string& cn, const std::string& san, const Cert* issuer, long days = 1,
       const EVP_MD* md = EVP_sha256()) {
    key = md ? EVP_EC_gen("P-256") : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    cert = X509_new();
    X509_set_version(cert, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), days > 0 ? -60 : -2 * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer->cert : cert, cert, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, issuer ? "CA:FALSE" : "critical,CA:TRUE");
    if (!san.empty()) add(NID_subject_alt_name, san);
    X509_sign(cert, issuer ? issuer->key : key, md);
  }
  ~Cert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  void save(const std::string& cert_path, const std::string& key_path) const {
    FILE* f = std::fopen(cert_path.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    if (key_path.empty()) return;
    f = std::fopen(key_path.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
  }
};

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    // OpenSSL writes with write(2): a peer gone mid-handshake must not kill
    // the test binary (usher ignores SIGPIPE in main()).
    std::signal(SIGPIPE, SIG_IGN);
    ca_.save(path("ca.crt"), "");
    other_ca_.save(path("other-ca.crt"), "");
    server_.save(path("server.crt"), path("server.key"));
    expired_.save(path("expired.crt"), path("expired.key"));
  }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  TlsSettings accept_settings() const {
    return {
        .mode = SslMode::kRequire, .key_file = path("server.key"), .cert_file = path("server.crt")};
  }
  TlsSettings connect_settings(SslMode mode, const std::string& ca = "ca.crt") const {
    return {.mode = mode, .ca_file = path(ca)};
  }
  std::shared_ptr<const TlsContext> context(const TlsSettings& s, TlsRole role) {
    auto ctx = make_tls_context(s, role);
    EXPECT_TRUE(ctx) << (ctx ? "" : ctx.error().message);
    return ctx ? *ctx : nullptr;
  }

  // Both handshakes over a connected pair; the connecting side's result.
  struct Pair {
    asio::io_context io;
    Stream a{Socket(io)}, b{Socket(io)};
    Pair() {
      int fds[2];
      EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
      a.socket().assign(Protocol(AF_UNIX, 0), fds[0]);
      b.socket().assign(Protocol(AF_UNIX, 0), fds[1]);
    }
  };
  Status handshake(Pair& p, std::shared_ptr<const TlsContext> accept,
                   std::shared_ptr<const TlsContext> connect, const std::string& host) {
    Status accepted = ok_status(), connected = ok_status();
    asio::co_spawn(
        p.io, [&]() -> asio::awaitable<void> { accepted = co_await p.a.start_tls(accept, ""); },
        asio::detached);
    asio::co_spawn(
        p.io,
        [&]() -> asio::awaitable<void> {
          connected = co_await p.b.start_tls(connect, host);
          if (!connected) p.b.socket().close();  // the other side hears the end
        },
        asio::detached);
    p.io.run();
    p.io.restart();
    return connected;
  }

  TempDir dir_;
  Cert ca_{"Test CA", "", nullptr};
  Cert other_ca_{"Other CA", "", nullptr};
  Cert server_{"server", "DNS:db.example,IP:127.0.0.1", &ca_};
  Cert expired_{"server", "DNS:db.example", &ca_, -1};
};

TEST_F(Tls, DisableMakesNoContext) {
  auto ctx = make_tls_context({.mode = SslMode::kDisable}, TlsRole::kAccept);
  ASSERT_TRUE(ctx);
  EXPECT_EQ(*ctx, nullptr);
}

TEST_F(Tls, SettingErrorsNameTheSettingOrFile) {
  auto no_files = make_tls_context({.mode = SslMode::kAllow}, TlsRole::kAccept);
  ASSERT_FALSE(no_files);
  EXPECT_NE(no_files.error().message.find("client_tls_key_file"), std::string::npos);

  TlsSettings s = accept_settings();
  s.cert_file = path("missing.crt");
  auto missing = make_tls_context(s, TlsRole::kAccept);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("client_tls_cert_file " + path("missing.crt")),
            std::string::npos);

  s = accept_settings();
  s.key_file = path("expired.key");  // another certificate's key
  auto mismatch = make_tls_context(s, TlsRole::kAccept);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("client_tls_key_file " + path("expired.key")),
            std::string::npos)
      << mismatch.error().message;

  s = accept_settings();
  s.protocols = "tlsv1.2,sslv3";
  auto proto = make_tls_context(s, TlsRole::kAccept);
  ASSERT_FALSE(proto);
  EXPECT_NE(proto.error().message.find("client_tls_protocols: unknown TLS protocol \"sslv3\""),
            std::string::npos);

  s = accept_settings();
  s.ciphers = "NO-SUCH-CIPHER";
  auto ciphers = make_tls_context(s, TlsRole::kAccept);
  ASSERT_FALSE(ciphers);
  EXPECT_NE(ciphers.error().message.find("client_tls_ciphers = NO-SUCH-CIPHER"), std::string::npos);

  s = accept_settings();
  s.mode = SslMode::kVerifyCa;
  auto no_ca = make_tls_context(s, TlsRole::kAccept);
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.error().message.find("client_tls_ca_file"), std::string::npos);

  auto bad_ca =
      make_tls_context(connect_settings(SslMode::kVerifyCa, "nope.crt"), TlsRole::kConnect);
  ASSERT_FALSE(bad_ca);
  EXPECT_NE(bad_ca.error().message.find("server_tls_ca_file"), std::string::npos);
}

TEST_F(Tls, EveryShortcutAndProtocolListLoads) {
  for (const char* ciphers :
       {"default", "secure", "fast", "normal", "compat", "legacy", "insecure", "all", "HIGH"}) {
    TlsSettings s = accept_settings();
    s.ciphers = ciphers;
    EXPECT_TRUE(make_tls_context(s, TlsRole::kAccept)) << ciphers;
  }
  for (const char* protocols : {"secure", "all", "legacy", "tlsv1.3", "tlsv1.2, tlsv1.3"}) {
    TlsSettings s = accept_settings();
    s.protocols = protocols;
    EXPECT_TRUE(make_tls_context(s, TlsRole::kAccept)) << protocols;
  }
}

TEST_F(Tls, VerifyFullChecksTheHostNameAndAddress) {
  auto accept = context(accept_settings(), TlsRole::kAccept);
  auto full = context(connect_settings(SslMode::kVerifyFull), TlsRole::kConnect);
  {
    Pair p;
    EXPECT_TRUE(handshake(p, accept, full, "db.example"));
    EXPECT_NE(p.b.tls()->describe().find("TLSv1.3/"), std::string::npos);
    EXPECT_EQ(p.b.tls()->peer_common_name(), "server");
  }
  {
    Pair p;
    EXPECT_TRUE(handshake(p, accept, full, "127.0.0.1"));
  }
  {
    Pair p;
    Status st = handshake(p, accept, full, "other.example");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message.find("certificate verify failed"), std::string::npos)
        << st.error().message;
  }
  // verify-ca does not look at the name.
  auto ca = context(connect_settings(SslMode::kVerifyCa), TlsRole::kConnect);
  Pair p;
  EXPECT_TRUE(handshake(p, accept, ca, "other.example"));
}

TEST_F(Tls, AnUntrustedOrExpiredCertificateFailsVerification) {
  auto accept = context(accept_settings(), TlsRole::kAccept);
  auto untrusting =
      context(connect_settings(SslMode::kVerifyCa, "other-ca.crt"), TlsRole::kConnect);
  {
    Pair p;
    EXPECT_FALSE(handshake(p, accept, untrusting, "db.example"));
  }
  // require encrypts but checks nothing.
  auto require = context(connect_settings(SslMode::kRequire, "other-ca.crt"), TlsRole::kConnect);
  {
    Pair p;
    EXPECT_TRUE(handshake(p, accept, require, "db.example"));
  }
  TlsSettings s = accept_settings();
  s.cert_file = path("expired.crt");
  s.key_file = path("expired.key");
  auto expired = context(s, TlsRole::kAccept);
  auto ca = context(connect_settings(SslMode::kVerifyCa), TlsRole::kConnect);
  Pair p;
  Status st = handshake(p, expired, ca, "db.example");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("expired"), std::string::npos) << st.error().message;
}

TEST_F(Tls, TheProtocolListBoundsTheVersion) {
  TlsSettings s = accept_settings();
  s.protocols = "tlsv1.2";
  auto only12 = context(s, TlsRole::kAccept);
  auto connect = context(connect_settings(SslMode::kRequire), TlsRole::kConnect);
  {
    Pair p;
    ASSERT_TRUE(handshake(p, only12, connect, ""));
    EXPECT_EQ(p.b.tls()->describe().rfind("TLSv1.2/", 0), 0u) << p.b.tls()->describe();
  }
  TlsSettings c = connect_settings(SslMode::kRequire);
  c.protocols = "tlsv1.3";
  auto only13 = context(c, TlsRole::kConnect);
  Pair p;
  EXPECT_FALSE(handshake(p, only12, only13, ""));
}

// More than the socket pair buffers at once, in many small pieces: the
// writer must wait and retry (write_rest) and the bytes arrive in order.
TEST_F(Tls, LargeGatheredWritesArriveWholeAndInOrder) {
  auto accept = context(accept_settings(), TlsRole::kAccept);
  auto connect = context(connect_settings(SslMode::kRequire), TlsRole::kConnect);
  Pair p;
  ASSERT_TRUE(handshake(p, accept, connect, ""));
  std::string data(3 * 1024 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 7 + i / 4096);
  std::vector<asio::const_buffer> pieces;
  for (size_t off = 0; off < data.size();) {
    size_t n = std::min<size_t>(data.size() - off, 1 + (off % 3000));
    pieces.emplace_back(data.data() + off, n);
    off += n;
  }
  WriteResult written;
  std::string got;
  asio::co_spawn(
      p.io, [&]() -> asio::awaitable<void> { written = co_await write_all(p.b, pieces); },
      asio::detached);
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        char buf[10000];
        while (got.size() < data.size()) {
          auto [ec, n] =
              co_await p.a.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
          if (ec) break;
          got.append(buf, n);
        }
      },
      asio::detached);
  p.io.run();
  EXPECT_FALSE(written.ec) << written.ec.message();
  EXPECT_EQ(written.written, data.size());
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

// What TLS decrypted but the reader did not take is inside the session,
// not in the socket: has_buffered() says so (the relay must not park).
TEST_F(Tls, BytesDecryptedButNotReadAreBuffered) {
  auto accept = context(accept_settings(), TlsRole::kAccept);
  auto connect = context(connect_settings(SslMode::kRequire), TlsRole::kConnect);
  Pair p;
  ASSERT_TRUE(handshake(p, accept, connect, ""));
  std::string first;
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await write_all(p.b, std::string_view("hello, world"));
        char one;
        auto [ec, n] = co_await p.a.async_read_some(asio::buffer(&one, 1),
                                                    asio::as_tuple(asio::use_awaitable));
        if (!ec) first.assign(&one, n);
      },
      asio::detached);
  p.io.run();
  EXPECT_EQ(first, "h");
  EXPECT_TRUE(p.a.has_buffered());
  // A closed socket is never read through its old descriptor number.
  p.a.socket().close();
  boost::system::error_code ec;
  size_t n = 99;
  char buf[16];
  p.io.restart();
  p.a.async_read_some(asio::buffer(buf), [&](boost::system::error_code e, size_t got) {
    ec = e;
    n = got;
  });
  p.io.run();
  EXPECT_TRUE(ec);
  EXPECT_EQ(n, 0u);
}

// tls-server-end-point: both ends compute the same hash of the server's
// certificate, with the certificate's own digest; none for Ed25519. (MD5 and
// SHA-1, which RFC 5929 maps to SHA-256, do not load at OpenSSL 3's default
// security level.)
TEST_F(Tls, ServerEndPointIsTheCertificateHashOnBothEnds) {
  auto der_hash = [](X509* cert, const EVP_MD* md) {
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    X509_digest(cert, md, buf, &len);
    return std::string(reinterpret_cast<char*>(buf), len);
  };
  auto connect = context(connect_settings(SslMode::kRequire), TlsRole::kConnect);
  struct Case {
    const char* name;
    const EVP_MD* sign;    // the certificate's signature digest
    const EVP_MD* expect;  // the end point's digest; null: none
  };
  for (const Case& c :
       {Case{"sha256", EVP_sha256(), EVP_sha256()}, Case{"sha384", EVP_sha384(), EVP_sha384()},
        Case{"sha512", EVP_sha512(), EVP_sha512()}, Case{"ed25519", nullptr, nullptr}}) {
    Cert cert("server", "DNS:db.example", c.sign ? &ca_ : nullptr, 1, c.sign);
    cert.save(path("ep.crt"), path("ep.key"));
    TlsSettings s = accept_settings();
    s.cert_file = path("ep.crt");
    s.key_file = path("ep.key");
    Pair p;
    ASSERT_TRUE(handshake(p, context(s, TlsRole::kAccept), connect, "db.example")) << c.name;
    std::string expected = c.expect ? der_hash(cert.cert, c.expect) : "";
    EXPECT_EQ(p.a.tls()->server_end_point(), expected) << c.name;
    EXPECT_EQ(p.b.tls()->server_end_point(), expected) << c.name;
  }
}

}  // namespace
}  // namespace usher::net
