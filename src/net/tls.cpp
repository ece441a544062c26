#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <strings.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "protocol/sqlstate.h"

namespace usher::net {

namespace {

// The cipher shortcuts PgBouncer names (for TLS 1.2 and older), in
// OpenSSL's syntax; anything else is passed to OpenSSL as it is.
struct CipherShortcut {
  const char* name;
  const char* ciphers;
};
constexpr CipherShortcut kCipherShortcuts[] = {
    {"default", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"},
    {"secure", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"},
    {"fast", "ECDHE+AESGCM:ECDHE+CHACHA20"},
    {"normal", "HIGH:MEDIUM:!aNULL"},
    {"compat", "HIGH:!aNULL"},
    {"legacy", "HIGH:!aNULL"},
    {"insecure", "ALL:!aNULL:!eNULL"},
    {"all", "ALL:!aNULL:!eNULL"},
};

// ALPN's wire form: the protocol PostgreSQL 17 names, length first.
constexpr std::string_view kAlpn = "\x0apostgresql";

// A client that offers ALPN must offer "postgresql" (as PostgreSQL 17
// answers); one that offers none is let in (libpq before 17).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) {
  auto* ours = reinterpret_cast<const unsigned char*>(kAlpn.data());
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, kAlpn.size(), in, inlen) !=
          OPENSSL_NPN_NEGOTIATED ||
      *outlen != kAlpn.size() - 1)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Error tls_error(std::string what) {
  return make_error(protocol::sqlstate::config_file_error,
                    std::move(what) + ": " + openssl_errors());
}

// The versions a protocols list allows, as a bit per version (TLS 1.0 = bit 0).
Result<unsigned> parse_protocols(std::string_view list, std::string_view key) {
  unsigned bits = 0;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string word(list.substr(pos, comma - pos));
    word.erase(0, word.find_first_not_of(" \t"));
    word.erase(word.find_last_not_of(" \t") + 1);
    pos = comma + 1;
    if (word.empty()) continue;
    if (strcasecmp(word.c_str(), "all") == 0 || strcasecmp(word.c_str(), "legacy") == 0) {
      bits |= 0xf;
    } else if (strcasecmp(word.c_str(), "secure") == 0) {
      bits |= 0xc;
    } else if (strcasecmp(word.c_str(), "tlsv1.0") == 0 || strcasecmp(word.c_str(), "tlsv1") == 0) {
      bits |= 1;
    } else if (strcasecmp(word.c_str(), "tlsv1.1") == 0) {
      bits |= 2;
    } else if (strcasecmp(word.c_str(), "tlsv1.2") == 0) {
      bits |= 4;
    } else if (strcasecmp(word.c_str(), "tlsv1.3") == 0) {
      bits |= 8;
    } else {
      return make_error(protocol::sqlstate::config_file_error,
                        std::string(key) + ": unknown TLS protocol \"" + word + "\"");
    }
  }
  if (bits == 0)
    return make_error(protocol::sqlstate::config_file_error,
                      std::string(key) + ": no TLS protocol allowed");
  return bits;
}

void set_protocols(SSL_CTX* ctx, unsigned bits) {
  constexpr int kVersions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
  constexpr uint64_t kNo[] = {SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2,
                              SSL_OP_NO_TLSv1_3};
  int lo = -1, hi = -1;
  for (int i = 0; i < 4; ++i) {
    if (bits & (1u << i)) {
      if (lo < 0) lo = i;
      hi = i;
    }
  }
  SSL_CTX_set_min_proto_version(ctx, kVersions[lo]);
  SSL_CTX_set_max_proto_version(ctx, kVersions[hi]);
  for (int i = lo; i <= hi; ++i) {
    if (!(bits & (1u << i))) SSL_CTX_set_options(ctx, kNo[i]);
  }
}

Status configure(SSL_CTX* ctx, const TlsSettings& s, TlsRole role, std::string_view prefix) {
  const std::string p(prefix);
  auto bits = parse_protocols(s.protocols, p + "protocols");
  if (!bits) return bits.take_error();
  set_protocols(ctx, *bits);

  std::string ciphers = s.ciphers;
  for (const auto& sc : kCipherShortcuts) {
    if (strcasecmp(ciphers.c_str(), sc.name) == 0) ciphers = sc.ciphers;
  }
  if (!ciphers.empty() && SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1)
    return tls_error(p + "ciphers = " + s.ciphers);
  if (!s.tls13_ciphers.empty() && SSL_CTX_set_ciphersuites(ctx, s.tls13_ciphers.c_str()) != 1)
    return tls_error((role == TlsRole::kAccept ? "client" : "server") +
                     std::string("_tls13_ciphers"));

  if (!s.cert_file.empty() && SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) != 1)
    return tls_error(p + "cert_file " + s.cert_file);
  if (!s.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return tls_error(p + "key_file " + s.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
      return tls_error(p + "key_file " + s.key_file + " does not match " + s.cert_file);
  }
  if (!s.ca_file.empty() && SSL_CTX_load_verify_locations(ctx, s.ca_file.c_str(), nullptr) != 1)
    return tls_error(p + "ca_file " + s.ca_file);

  // No renegotiation (a client could make the worker do handshakes on
  // demand), no compression (CRIME), no session resumption to keep.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // Writes may be retried from a buffer that moved (the relay gathers
  // anew) and return per record; idle connections give their buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // One recv takes whatever is there (without it, two per record: header,
  // then body); has_buffered() then tells what the socket no longer shows.
  SSL_CTX_set_read_ahead(ctx, 1);
  return ok_status();
}

Status configure_accept(SSL_CTX* ctx, const TlsSettings& s) {
  if (s.cert_file.empty() || s.key_file.empty()) {
    return make_error(protocol::sqlstate::config_file_error,
                      "client_tls_sslmode is not disable: client_tls_key_file and "
                      "client_tls_cert_file must be set");
  }
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  if (strcasecmp(s.ecdhcurve.c_str(), "auto") != 0 &&
      strcasecmp(s.ecdhcurve.c_str(), "none") != 0 &&
      SSL_CTX_set1_groups_list(ctx, s.ecdhcurve.c_str()) != 1)
    return tls_error("client_tls_ecdhcurve = " + s.ecdhcurve);
  if (strcasecmp(s.dheparams.c_str(), "none") != 0) SSL_CTX_set_dh_auto(ctx, 1);
  if (tls_verifies(s.mode)) {
    if (s.ca_file.empty()) {
      return make_error(protocol::sqlstate::config_file_error,
                        "client_tls_sslmode = verify-ca/verify-full needs client_tls_ca_file");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    static const unsigned char kSessionContext[] = "usher";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return ok_status();
}

Status configure_connect(SSL_CTX* ctx, const TlsSettings& s) {
  if (tls_verifies(s.mode)) {
    if (s.ca_file.empty() && SSL_CTX_set_default_verify_paths(ctx) != 1)
      return tls_error("server_tls_ca_file not set, and the system's CA store cannot be read");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return ok_status();
}

bool is_ip_address(std::string_view host) {
  std::string h(host);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace

constexpr std::string_view kSslModeNames[] = {"disable", "allow",     "prefer",
                                              "require", "verify-ca", "verify-full"};

SslMode parse_sslmode(std::string_view t) {
  for (size_t i = 0; i < std::size(kSslModeNames); ++i) {
    if (kSslModeNames[i] == t) return static_cast<SslMode>(i);
  }
  return SslMode::kDisable;
}

std::string_view sslmode_name(SslMode m) {
  return kSslModeNames[static_cast<int>(m)];
}

TlsSettings client_side_settings(const config::Config& c) {
  return {.mode = parse_sslmode(c.client_tls_sslmode),
          .key_file = c.client_tls_key_file,
          .cert_file = c.client_tls_cert_file,
          .ca_file = c.client_tls_ca_file,
          .protocols = c.client_tls_protocols,
          .ciphers = c.client_tls_ciphers,
          .tls13_ciphers = c.client_tls13_ciphers,
          .ecdhcurve = c.client_tls_ecdhcurve,
          .dheparams = c.client_tls_dheparams};
}

TlsSettings server_side_settings(const config::Config& c) {
  return {.mode = parse_sslmode(c.server_tls_sslmode),
          .key_file = c.server_tls_key_file,
          .cert_file = c.server_tls_cert_file,
          .ca_file = c.server_tls_ca_file,
          .protocols = c.server_tls_protocols,
          .ciphers = c.server_tls_ciphers,
          .tls13_ciphers = c.server_tls13_ciphers};
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

Result<std::shared_ptr<const TlsContext>> make_tls_context(const TlsSettings& s, TlsRole role) {
  if (s.mode == SslMode::kDisable) return std::shared_ptr<const TlsContext>();
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(role == TlsRole::kAccept ? TLS_server_method() : TLS_client_method());
  if (!raw) return tls_error("cannot create a TLS context");
  std::shared_ptr<const TlsContext> ctx(new TlsContext(raw, s.mode, role));
  Status st = configure(raw, s, role, role == TlsRole::kAccept ? "client_tls_" : "server_tls_");
  if (st) st = role == TlsRole::kAccept ? configure_accept(raw, s) : configure_connect(raw, s);
  if (!st) return st.take_error();
  return ctx;
}

Result<std::unique_ptr<TlsSession>> TlsSession::make(std::shared_ptr<const TlsContext> ctx, int fd,
                                                     std::string_view host) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx->native());
  if (!ssl) return tls_error("cannot start TLS");
  const bool connect = ctx->role() == TlsRole::kConnect;
  std::unique_ptr<TlsSession> session(new TlsSession(ssl, ctx));
  if (SSL_set_fd(ssl, fd) != 1) return tls_error("cannot start TLS");
  if (!connect) {
    SSL_set_accept_state(ssl);
    return session;
  }
  SSL_set_connect_state(ssl);
  std::string h(host);
  const bool ip = is_ip_address(h);
  // SNI carries names only (RFC 6066); a Unix socket directory is no host.
  if (!ip && !h.empty() && h[0] != '/') SSL_set_tlsext_host_name(ssl, h.c_str());
  if (ctx->mode() == SslMode::kVerifyFull) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, h.c_str(), h.size());
    if (ok != 1) return tls_error("cannot check the server's certificate against " + h);
  }
  return session;
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

TlsStep TlsSession::step(int rc) {
  if (rc > 0) return {TlsStep::kDone, static_cast<size_t>(rc)};
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return {TlsStep::kWantRead};
    case SSL_ERROR_WANT_WRITE:
      return {TlsStep::kWantWrite};
    case SSL_ERROR_ZERO_RETURN:
      return {TlsStep::kClosed};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        if (errno == 0 || errno == ECONNRESET || errno == EPIPE) return {TlsStep::kClosed};
        error_ = std::strerror(errno);
        failed_ = true;
        return {TlsStep::kFailed};
      }
      [[fallthrough]];
    default: {
      failed_ = true;
      error_ = openssl_errors();
      long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
      }
      return {TlsStep::kFailed};
    }
  }
}

TlsStep TlsSession::handshake() {
  ERR_clear_error();
  errno = 0;
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return {TlsStep::kDone};
  TlsStep s = step(rc);
  // A peer that hangs up mid-handshake failed it.
  if (s.kind == TlsStep::kClosed) {
    error_ = "connection closed during the TLS handshake";
    s.kind = TlsStep::kFailed;
  }
  return s;
}

TlsStep TlsSession::read(void* data, size_t size) {
  ERR_clear_error();
  errno = 0;
  size_t got = 0;
  int rc = SSL_read_ex(ssl_, data, size, &got);
  return rc == 1 ? TlsStep{TlsStep::kDone, got} : step(rc);
}

TlsStep TlsSession::write(const void* data, size_t size) {
  ERR_clear_error();
  errno = 0;
  size_t put = 0;
  int rc = SSL_write_ex(ssl_, data, size, &put);
  return rc == 1 ? TlsStep{TlsStep::kDone, put} : step(rc);
}

void TlsSession::close_notify() {
  if (failed_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsSession::established() const {
  return SSL_is_init_finished(ssl_) == 1;
}

bool TlsSession::alpn_postgresql() const {
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &proto, &len);
  return len == kAlpn.size() - 1 && std::memcmp(proto, kAlpn.data() + 1, len) == 0;
}

bool TlsSession::has_buffered() const {
  return SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_);
}

std::string TlsSession::describe() const {
  std::string out = SSL_get_version(ssl_);
  out += '/';
  out += SSL_get_cipher_name(ssl_);
  if (const char* group = SSL_group_to_name(ssl_, SSL_get_negotiated_group(ssl_))) {
    out += "/ECDH=";
    out += group;
  }
  return out;
}

bool TlsSession::peer_verified() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  return cert != nullptr && SSL_get_verify_result(ssl_) == X509_V_OK;
}

std::string TlsSession::peer_common_name() const {
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return {};
  char buf[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  X509_free(cert);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string TlsSession::server_end_point() const {
  X509* cert = SSL_is_server(ssl_) ? SSL_get_certificate(ssl_) : SSL_get0_peer_certificate(ssl_);
  if (!cert) return {};
  int md_nid = NID_undef;
  if (X509_get_signature_info(cert, &md_nid, nullptr, nullptr, nullptr) != 1) return {};
  const EVP_MD* md = md_nid == NID_md5 || md_nid == NID_sha1 ? EVP_sha256()
                     : md_nid == NID_undef                   ? nullptr
                                                             : EVP_get_digestbynid(md_nid);
  if (!md) return {};
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(cert, md, hash, &len) != 1) return {};
  return std::string(reinterpret_cast<const char*>(hash), len);
}

}  // namespace usher::net
