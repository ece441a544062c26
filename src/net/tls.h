// TLS with OpenSSL 3, as PgBouncer's *_tls_* settings describe it: a context
// per side (accepting clients, connecting to servers), built from the files
// and lists of the configuration and replaced whole on RELOAD, and a session
// per connection that reads and writes the socket's descriptor itself
// (non-blocking), so that the event loop waits for readiness exactly as it
// does for plain sockets (net/stream.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"

struct ssl_ctx_st;
struct ssl_st;

namespace usher::net {

// PgBouncer's sslmode, either side.
enum class SslMode { kDisable, kAllow, kPrefer, kRequire, kVerifyCa, kVerifyFull };
SslMode parse_sslmode(std::string_view text);  // a validated value; unknown reads as kDisable
std::string_view sslmode_name(SslMode mode);
inline bool tls_required(SslMode m) {
  return m >= SslMode::kRequire;
}
inline bool tls_verifies(SslMode m) {
  return m >= SslMode::kVerifyCa;
}

// Which end of the handshake Usher is.
enum class TlsRole { kAccept, kConnect };

// The files and lists one side's context is made of.
struct TlsSettings {
  SslMode mode = SslMode::kDisable;
  std::string key_file;
  std::string cert_file;
  std::string ca_file;
  std::string protocols = "secure";
  std::string ciphers = "default";
  std::string tls13_ciphers;
  std::string ecdhcurve = "auto";
  std::string dheparams = "auto";
};
TlsSettings client_side_settings(const config::Config& c);  // client_tls_*
TlsSettings server_side_settings(const config::Config& c);  // server_tls_*

// A loaded context; shared by every connection made while it is current.
class TlsContext {
 public:
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SslMode mode() const { return mode_; }
  TlsRole role() const { return role_; }
  ssl_ctx_st* native() const { return ctx_; }

 private:
  friend Result<std::shared_ptr<const TlsContext>> make_tls_context(const TlsSettings&, TlsRole);
  TlsContext(ssl_ctx_st* ctx, SslMode mode, TlsRole role) : ctx_(ctx), mode_(mode), role_(role) {}
  ssl_ctx_st* ctx_;
  SslMode mode_;
  TlsRole role_;
};

// nullptr (and no error) when the mode is disable. An error names the
// setting or file and OpenSSL's reason.
Result<std::shared_ptr<const TlsContext>> make_tls_context(const TlsSettings& settings,
                                                           TlsRole role);

// The result of one non-blocking TLS operation.
struct TlsStep {
  enum Kind { kDone, kWantRead, kWantWrite, kClosed, kFailed } kind = kDone;
  size_t bytes = 0;
};

// One connection's TLS state over a connected, non-blocking descriptor.
class TlsSession {
 public:
  // `host`: for kConnect, the server's name, sent as SNI when it is a name
  // and checked against the certificate under verify-full.
  static Result<std::unique_ptr<TlsSession>> make(std::shared_ptr<const TlsContext> ctx, int fd,
                                                  std::string_view host);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  TlsStep handshake();
  TlsStep read(void* data, size_t size);
  TlsStep write(const void* data, size_t size);
  // Decrypted bytes, or a record's remainder, held inside: a read returns
  // them without the socket becoming readable.
  bool has_buffered() const;
  bool established() const;
  // One non-blocking SSL_shutdown: close_notify, if it can go now.
  void close_notify();
  // The client chose ALPN "postgresql" (PostgreSQL 17's direct TLS needs it).
  bool alpn_postgresql() const;
  // Why the last step failed: OpenSSL's reason, and the certificate check's.
  std::string error() const { return error_; }
  // "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519", for SHOW CLIENTS/SERVERS.
  std::string describe() const;
  SslMode mode() const { return ctx_->mode(); }
  // The peer showed a certificate and it passed verification.
  bool peer_verified() const;
  // The peer certificate's subject CN, verified or not ("" without one).
  std::string peer_common_name() const;
  // RFC 5929's tls-server-end-point channel-binding data: the hash of the
  // server's certificate (ours when accepting, the peer's when connecting)
  // with its signature's digest, SHA-256 in place of MD5 and SHA-1. Empty
  // when there is none: no certificate, or a signature with no separate
  // digest (Ed25519, Ed448), for which RFC 5929 defines nothing.
  std::string server_end_point() const;

 private:
  TlsSession(ssl_st* ssl, std::shared_ptr<const TlsContext> ctx)
      : ssl_(ssl), ctx_(std::move(ctx)) {}
  TlsStep step(int rc);
  ssl_st* ssl_;
  std::shared_ptr<const TlsContext> ctx_;
  std::string error_;
  bool failed_ = false;  // a fatal error: OpenSSL allows no shutdown after one
};

}  // namespace usher::net
