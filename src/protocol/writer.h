// Builds protocol messages into a caller-owned byte string. Messages are
// appended, so several can be coalesced into one write.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace usher::protocol {

class MessageWriter {
 public:
  explicit MessageWriter(std::string& out) : out_(out) {}

  // Starts a typed message; finish() patches its length.
  MessageWriter& begin(char type);
  // Starts an untyped startup-phase packet.
  MessageWriter& begin_startup();
  MessageWriter& i16(int16_t v);
  MessageWriter& i32(int32_t v);
  MessageWriter& u8(uint8_t v);
  MessageWriter& cstring(std::string_view s);
  MessageWriter& bytes(std::string_view s);
  void finish();

 private:
  std::string& out_;
  size_t start_ = 0;
};

// Backend messages (Usher speaking as a server to clients).
void write_authentication_ok(std::string& out);
void write_authentication_cleartext(std::string& out);
void write_authentication_md5(std::string& out, const uint8_t salt[4]);
// The mechanisms in order of preference.
void write_authentication_sasl(std::string& out, std::span<const std::string_view> mechanisms);
void write_authentication_sasl_continue(std::string& out, std::string_view data);
void write_authentication_sasl_final(std::string& out, std::string_view data);
void write_parameter_status(std::string& out, std::string_view name, std::string_view value);
void write_backend_key_data(std::string& out, uint32_t pid, uint32_t secret);
void write_ready_for_query(std::string& out, char status);
// severity is "FATAL", "ERROR", ...; both the localized ('S') and the
// non-localized ('V') fields are sent, as PostgreSQL does. `position`: the
// 1-based character in the query an error is about (0: none).
void write_error_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                          std::string_view message, int position = 0);
void write_notice_response(std::string& out, std::string_view sqlstate, std::string_view message,
                           std::string_view detail = {});
void write_negotiate_protocol_version(std::string& out, int32_t newest_minor,
                                      const std::vector<std::string_view>& unrecognized);
// A row of text values; std::nullopt-like NULLs are spelled with `is_null`.
struct Field {
  std::string_view value;
  bool is_null = false;
};
void write_data_row(std::string& out, std::span<const Field> fields);
void write_command_complete(std::string& out, std::string_view tag);
void write_empty_query_response(std::string& out);

// Frontend messages (Usher speaking as a client to PostgreSQL).
void write_startup_message(std::string& out,
                           const std::vector<std::pair<std::string, std::string>>& params);
void write_password_message(std::string& out, std::string_view password);
void write_sasl_initial_response(std::string& out, std::string_view mechanism,
                                 std::string_view data);
void write_sasl_response(std::string& out, std::string_view data);
void write_query(std::string& out, std::string_view sql);
void write_terminate(std::string& out);
void write_cancel_request(std::string& out, uint32_t pid, uint32_t secret);
void write_ssl_request(std::string& out);
void write_ssl_response(std::string& out, bool accept);

}  // namespace usher::protocol
