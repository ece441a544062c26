#include "protocol/writer.h"

#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/startup.h"

namespace usher::protocol {

MessageWriter& MessageWriter::begin(char type) {
  out_.push_back(type);
  start_ = out_.size();
  out_.append(4, '\0');
  return *this;
}

MessageWriter& MessageWriter::begin_startup() {
  start_ = out_.size();
  out_.append(4, '\0');
  return *this;
}

MessageWriter& MessageWriter::u8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

MessageWriter& MessageWriter::i16(int16_t v) {
  out_.push_back(static_cast<char>((v >> 8) & 0xff));
  out_.push_back(static_cast<char>(v & 0xff));
  return *this;
}

MessageWriter& MessageWriter::i32(int32_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  char b[4] = {char(u >> 24), char(u >> 16), char(u >> 8), char(u)};
  out_.append(b, 4);
  return *this;
}

MessageWriter& MessageWriter::cstring(std::string_view s) {
  out_.append(s);
  out_.push_back('\0');
  return *this;
}

MessageWriter& MessageWriter::bytes(std::string_view s) {
  out_.append(s);
  return *this;
}

void MessageWriter::finish() {
  uint32_t len = static_cast<uint32_t>(out_.size() - start_);
  out_[start_] = char(len >> 24);
  out_[start_ + 1] = char(len >> 16);
  out_[start_ + 2] = char(len >> 8);
  out_[start_ + 3] = char(len);
}

void write_authentication_ok(std::string& out) {
  MessageWriter(out).begin(PqMsg_AuthenticationRequest).i32(0).finish();
}

void write_authentication_cleartext(std::string& out) {
  MessageWriter(out).begin(PqMsg_AuthenticationRequest).i32(3).finish();
}

void write_authentication_md5(std::string& out, const uint8_t salt[4]) {
  MessageWriter(out)
      .begin(PqMsg_AuthenticationRequest)
      .i32(5)
      .bytes(std::string_view(reinterpret_cast<const char*>(salt), 4))
      .finish();
}

void write_authentication_sasl(std::string& out, std::span<const std::string_view> mechanisms) {
  MessageWriter w(out);
  w.begin(PqMsg_AuthenticationRequest).i32(10);
  for (std::string_view m : mechanisms)
    w.cstring(m);
  w.u8(0).finish();
}

void write_authentication_sasl_continue(std::string& out, std::string_view data) {
  MessageWriter(out).begin(PqMsg_AuthenticationRequest).i32(11).bytes(data).finish();
}

void write_authentication_sasl_final(std::string& out, std::string_view data) {
  MessageWriter(out).begin(PqMsg_AuthenticationRequest).i32(12).bytes(data).finish();
}

void write_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  MessageWriter(out).begin(PqMsg_ParameterStatus).cstring(name).cstring(value).finish();
}

void write_backend_key_data(std::string& out, uint32_t pid, uint32_t secret) {
  MessageWriter(out).begin(PqMsg_BackendKeyData).i32(int32_t(pid)).i32(int32_t(secret)).finish();
}

void write_ready_for_query(std::string& out, char status) {
  MessageWriter(out).begin(PqMsg_ReadyForQuery).u8(uint8_t(status)).finish();
}

void write_error_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                          std::string_view message, int position) {
  MessageWriter w(out);
  w.begin(PqMsg_ErrorResponse);
  w.u8(kDiagSeverity).cstring(severity).u8(kDiagSeverityNonlocalized).cstring(severity);
  w.u8(kDiagSqlstate).cstring(sqlstate).u8(kDiagMessagePrimary).cstring(message);
  if (position > 0) w.u8(kDiagStatementPosition).cstring(std::to_string(position));
  w.u8(0).finish();
}

void write_notice_response(std::string& out, std::string_view sqlstate, std::string_view message,
                           std::string_view detail) {
  MessageWriter w(out);
  w.begin(PqMsg_NoticeResponse);
  w.u8(kDiagSeverity).cstring("NOTICE").u8(kDiagSeverityNonlocalized).cstring("NOTICE");
  w.u8(kDiagSqlstate).cstring(sqlstate).u8(kDiagMessagePrimary).cstring(message);
  if (!detail.empty()) w.u8(kDiagMessageDetail).cstring(detail);
  w.u8(0).finish();
}

void write_negotiate_protocol_version(std::string& out, int32_t newest_minor,
                                      const std::vector<std::string_view>& unrecognized) {
  MessageWriter w(out);
  w.begin(PqMsg_NegotiateProtocolVersion)
      .i32(int32_t(kProtocolV3) | newest_minor)
      .i32(int32_t(unrecognized.size()));
  for (auto name : unrecognized)
    w.cstring(name);
  w.finish();
}

void write_data_row(std::string& out, std::span<const Field> fields) {
  MessageWriter w(out);
  w.begin(PqMsg_DataRow).i16(int16_t(fields.size()));
  for (const auto& f : fields) {
    if (f.is_null) {
      w.i32(-1);
    } else {
      w.i32(int32_t(f.value.size())).bytes(f.value);
    }
  }
  w.finish();
}

void write_command_complete(std::string& out, std::string_view tag) {
  MessageWriter(out).begin(PqMsg_CommandComplete).cstring(tag).finish();
}

void write_empty_query_response(std::string& out) {
  MessageWriter(out).begin(PqMsg_EmptyQueryResponse).finish();
}

void write_startup_message(std::string& out,
                           const std::vector<std::pair<std::string, std::string>>& params) {
  MessageWriter w(out);
  w.begin_startup().i32(int32_t(kProtocolV3));
  for (const auto& [k, v] : params)
    w.cstring(k).cstring(v);
  w.u8(0).finish();
}

void write_password_message(std::string& out, std::string_view password) {
  MessageWriter(out).begin(PqMsg_PasswordMessage).cstring(password).finish();
}

void write_sasl_initial_response(std::string& out, std::string_view mechanism,
                                 std::string_view data) {
  MessageWriter(out)
      .begin(PqMsg_SASLInitialResponse)
      .cstring(mechanism)
      .i32(int32_t(data.size()))
      .bytes(data)
      .finish();
}

void write_sasl_response(std::string& out, std::string_view data) {
  MessageWriter(out).begin(PqMsg_SASLResponse).bytes(data).finish();
}

void write_query(std::string& out, std::string_view sql) {
  MessageWriter(out).begin(PqMsg_Query).cstring(sql).finish();
}

void write_terminate(std::string& out) {
  MessageWriter(out).begin(PqMsg_Terminate).finish();
}

void write_cancel_request(std::string& out, uint32_t pid, uint32_t secret) {
  MessageWriter(out)
      .begin_startup()
      .i32(int32_t(kCancelRequestCode))
      .i32(int32_t(pid))
      .i32(int32_t(secret))
      .finish();
}

void write_ssl_request(std::string& out) {
  MessageWriter(out).begin_startup().i32(int32_t(kSslRequestCode)).finish();
}

void write_ssl_response(std::string& out, bool accept) {
  out.push_back(accept ? 'S' : 'N');
}

}  // namespace usher::protocol
