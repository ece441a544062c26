// Views over the messages Usher has to look inside. Each parser takes a whole
// message body (after the 5-byte header) and returns a view into it, or an
// error when the body is malformed. Messages Usher only forwards are never
// decoded.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::protocol {

// Authentication request codes ('R').
enum class AuthCode : int32_t {
  kOk = 0,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

struct AuthenticationRequest {
  int32_t code = 0;
  std::array<uint8_t, 4> md5_salt{};         // kMd5Password
  std::vector<std::string_view> mechanisms;  // kSasl
  std::string_view data;                     // kSaslContinue, kSaslFinal
};
Result<AuthenticationRequest> parse_authentication(std::span<const uint8_t> body);

struct ParameterStatus {
  std::string_view name;
  std::string_view value;
};
Result<ParameterStatus> parse_parameter_status(std::span<const uint8_t> body);

struct BackendKeyData {
  uint32_t pid = 0;
  uint32_t secret = 0;
};
Result<BackendKeyData> parse_backend_key_data(std::span<const uint8_t> body);

// ReadyForQuery's transaction status byte (PostgreSQL's
// TransactionBlockStatusCode()).
inline constexpr char kTransactionIdle = 'I';
inline constexpr char kTransactionInBlock = 'T';
inline constexpr char kTransactionFailed = 'E';  // in a failed transaction block

// ErrorResponse and NoticeResponse share a layout: (field code, string)*, NUL.
// The field codes Usher reads or writes, as PostgreSQL's PG_DIAG_* names
// them (postgres_ext.h).
inline constexpr char kDiagSeverity = 'S';  // localized
inline constexpr char kDiagSeverityNonlocalized = 'V';
inline constexpr char kDiagSqlstate = 'C';
inline constexpr char kDiagMessagePrimary = 'M';
inline constexpr char kDiagMessageDetail = 'D';
inline constexpr char kDiagStatementPosition = 'P';

struct ErrorFields {
  std::string_view severity;  // 'S' (localized) or 'V'
  std::string_view code;      // 'C' SQLSTATE
  std::string_view message;   // 'M'
  std::string_view detail;    // 'D'
};
Result<ErrorFields> parse_error_fields(std::span<const uint8_t> body);

// In an ErrorResponse body, moves the Position field ('P', a 1-based
// character offset into the query) by `shift` when it is past `after`: for
// a query that reached the server rewritten. False when there was nothing
// to move (no such field, or a malformed body, left as it is).
bool shift_error_position(std::string& body, int32_t after, int32_t shift);

// Query ('Q'): the SQL text.
Result<std::string_view> parse_query(std::span<const uint8_t> body);

// SASLInitialResponse ('p' answering AuthenticationSASL).
struct SaslInitialResponse {
  std::string_view mechanism;
  std::string_view data;
};
Result<SaslInitialResponse> parse_sasl_initial_response(std::span<const uint8_t> body);

// PasswordMessage ('p' answering a cleartext or MD5 request): the password.
Result<std::string_view> parse_password_message(std::span<const uint8_t> body);

// DataRow ('D'): each column's value, nullopt for NULL.
Result<std::vector<std::optional<std::string_view>>> parse_data_row(std::span<const uint8_t> body);

inline std::string_view as_chars(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace usher::protocol
