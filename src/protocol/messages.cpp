#include "protocol/messages.h"

#include <algorithm>
#include <charconv>

#include "protocol/byte_reader.h"
#include "protocol/sqlstate.h"

namespace usher::protocol {
namespace {

Error malformed(std::string_view what) {
  return make_error(sqlstate::protocol_violation, "malformed " + std::string(what) + " message");
}

}  // namespace

Result<AuthenticationRequest> parse_authentication(std::span<const uint8_t> body) {
  ByteReader r(body);
  AuthenticationRequest a;
  if (!r.read_i32(a.code)) return malformed("Authentication");
  switch (static_cast<AuthCode>(a.code)) {
    case AuthCode::kMd5Password: {
      std::span<const uint8_t> salt;
      if (!r.read_bytes(4, salt)) return malformed("AuthenticationMD5Password");
      std::copy(salt.begin(), salt.end(), a.md5_salt.begin());
      break;
    }
    case AuthCode::kSasl:
      while (true) {
        std::string_view mech;
        if (!r.read_cstring(mech)) return malformed("AuthenticationSASL");
        if (mech.empty()) break;
        a.mechanisms.push_back(mech);
      }
      break;
    case AuthCode::kSaslContinue:
    case AuthCode::kSaslFinal:
      a.data = as_chars(r.rest());
      break;
    default:
      break;
  }
  return a;
}

Result<ParameterStatus> parse_parameter_status(std::span<const uint8_t> body) {
  ByteReader r(body);
  ParameterStatus p;
  if (!r.read_cstring(p.name) || !r.read_cstring(p.value)) return malformed("ParameterStatus");
  return p;
}

Result<BackendKeyData> parse_backend_key_data(std::span<const uint8_t> body) {
  ByteReader r(body);
  BackendKeyData k;
  if (!r.read_u32(k.pid) || !r.read_u32(k.secret)) return malformed("BackendKeyData");
  return k;
}

bool shift_error_position(std::string& body, int32_t after, int32_t shift) {
  size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    char code = body[pos];
    size_t end = body.find('\0', pos + 1);
    if (end == std::string::npos) return false;
    if (code == kDiagStatementPosition) {
      std::string_view text(body.data() + pos + 1, end - pos - 1);
      int32_t value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || ptr != text.data() + text.size() || value <= after) return false;
      body.replace(pos + 1, text.size(), std::to_string(std::max(1, value + shift)));
      return true;
    }
    pos = end + 1;
  }
  return false;
}

Result<ErrorFields> parse_error_fields(std::span<const uint8_t> body) {
  ByteReader r(body);
  ErrorFields e;
  std::string_view localized_severity;
  while (true) {
    uint8_t code = 0;
    if (!r.read_u8(code)) return malformed("ErrorResponse");
    if (code == 0) break;
    std::string_view value;
    if (!r.read_cstring(value)) return malformed("ErrorResponse");
    switch (code) {
      case kDiagSeverity:
        localized_severity = value;
        break;
      case kDiagSeverityNonlocalized:
        e.severity = value;
        break;
      case kDiagSqlstate:
        e.code = value;
        break;
      case kDiagMessagePrimary:
        e.message = value;
        break;
      case kDiagMessageDetail:
        e.detail = value;
        break;
      default:
        break;
    }
  }
  if (e.severity.empty()) e.severity = localized_severity;
  return e;
}

Result<std::string_view> parse_query(std::span<const uint8_t> body) {
  ByteReader r(body);
  std::string_view sql;
  if (!r.read_cstring(sql)) return malformed("Query");
  return sql;
}

Result<SaslInitialResponse> parse_sasl_initial_response(std::span<const uint8_t> body) {
  ByteReader r(body);
  SaslInitialResponse s;
  int32_t len = 0;
  if (!r.read_cstring(s.mechanism) || !r.read_i32(len)) return malformed("SASLInitialResponse");
  if (len == -1) return s;
  std::span<const uint8_t> data;
  if (len < 0 || !r.read_bytes(size_t(len), data)) return malformed("SASLInitialResponse");
  s.data = as_chars(data);
  return s;
}

Result<std::string_view> parse_password_message(std::span<const uint8_t> body) {
  ByteReader r(body);
  std::string_view password;
  if (!r.read_cstring(password)) return malformed("PasswordMessage");
  return password;
}

Result<std::vector<std::optional<std::string_view>>> parse_data_row(std::span<const uint8_t> body) {
  ByteReader r(body);
  int16_t count = 0;
  if (!r.read_i16(count) || count < 0) return malformed("DataRow");
  std::vector<std::optional<std::string_view>> values;
  for (int16_t i = 0; i < count; ++i) {
    int32_t len = 0;
    if (!r.read_i32(len)) return malformed("DataRow");
    if (len == -1) {
      values.emplace_back(std::nullopt);
      continue;
    }
    std::span<const uint8_t> value;
    if (len < 0 || !r.read_bytes(size_t(len), value)) return malformed("DataRow");
    values.emplace_back(as_chars(value));
  }
  if (!r.empty()) return malformed("DataRow");
  return values;
}

}  // namespace usher::protocol
