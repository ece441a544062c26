#include "protocol/messages.h"

#include <gtest/gtest.h>

#include "protocol_test_util.h"

#include <cstdint>
#include <span>
#include <string>

#include "protocol/frame.h"
#include "protocol/writer.h"

namespace usher::protocol {
namespace {

using testing::be32;
using testing::bytes_of;

using namespace std::string_literals;

// The body of the single message in `wire`, after checking its type and
// that its length word covers exactly the rest.
std::string body_of(const std::string& wire, char type) {
  HeaderResult h = peek_header(bytes_of(wire), 1 << 20);
  EXPECT_EQ(h.status, FrameStatus::kReady);
  EXPECT_EQ(h.header.type, type);
  EXPECT_EQ(h.header.total(), wire.size());
  return wire.substr(kHeaderSize);
}

// The same body as a view into `wire`, for results that must outlive the call.
std::span<const uint8_t> body_span(const std::string& wire, char type) {
  EXPECT_EQ(body_of(wire, type).size(), wire.size() - kHeaderSize);
  return bytes_of(wire).subspan(kHeaderSize);
}

// Every strict prefix of `body` must be rejected by `parse`, with 08P01.
template <typename Parse>
void expect_every_prefix_fails(const std::string& body, Parse parse) {
  for (size_t n = 0; n < body.size(); ++n) {
    // A fresh copy of exactly n bytes, so ASan catches any read past it.
    std::string cut = body.substr(0, n);
    auto r = parse(bytes_of(cut));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
}

// ---- Authentication ('R') -------------------------------------------------

TEST(ProtocolMessages, AuthenticationOk) {
  std::string wire;
  write_authentication_ok(wire);
  auto r = parse_authentication(body_span(wire, 'R'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, int32_t(AuthCode::kOk));
  EXPECT_TRUE(r->mechanisms.empty());
  EXPECT_TRUE(r->data.empty());
}

TEST(ProtocolMessages, AuthenticationCleartext) {
  std::string wire;
  write_authentication_cleartext(wire);
  auto r = parse_authentication(body_span(wire, 'R'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, int32_t(AuthCode::kCleartextPassword));
}

TEST(ProtocolMessages, AuthenticationMd5WithSalt) {
  const uint8_t salt[4] = {0xde, 0x00, 0xbe, 0xef};
  std::string wire;
  write_authentication_md5(wire, salt);
  std::string body = body_of(wire, 'R');
  auto r = parse_authentication(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, int32_t(AuthCode::kMd5Password));
  EXPECT_EQ(r->md5_salt, (std::array<uint8_t, 4>{0xde, 0x00, 0xbe, 0xef}));
  expect_every_prefix_fails(body, parse_authentication);
}

TEST(ProtocolMessages, AuthenticationSaslMechanisms) {
  std::string wire;
  const std::string_view offered[] = {"SCRAM-SHA-256"};
  write_authentication_sasl(wire, offered);
  std::string body = body_of(wire, 'R');
  auto r = parse_authentication(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, int32_t(AuthCode::kSasl));
  ASSERT_EQ(r->mechanisms.size(), 1u);
  EXPECT_EQ(r->mechanisms[0], "SCRAM-SHA-256");
  expect_every_prefix_fails(body, parse_authentication);

  // Several mechanisms, as PostgreSQL sends with channel binding.
  std::string two = be32(10) + "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s;
  auto r2 = parse_authentication(bytes_of(two));
  ASSERT_TRUE(r2.ok());
  ASSERT_EQ(r2->mechanisms.size(), 2u);
  EXPECT_EQ(r2->mechanisms[0], "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(r2->mechanisms[1], "SCRAM-SHA-256");
  expect_every_prefix_fails(two, parse_authentication);

  // An empty list is just the terminator.
  std::string none = be32(10) + "\0"s;
  auto r3 = parse_authentication(bytes_of(none));
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->mechanisms.empty());
}

TEST(ProtocolMessages, AuthenticationSaslContinueAndFinalData) {
  const std::string data = "r=abc,s=c2FsdA==,i=4096\0binary\xff"s;
  std::string wire;
  write_authentication_sasl_continue(wire, data);
  auto r = parse_authentication(body_span(wire, 'R'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, int32_t(AuthCode::kSaslContinue));
  EXPECT_EQ(r->data, data);

  wire.clear();
  write_authentication_sasl_final(wire, "v=signature");
  r = parse_authentication(body_span(wire, 'R'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, int32_t(AuthCode::kSaslFinal));
  EXPECT_EQ(r->data, "v=signature");

  // Empty data is allowed.
  wire.clear();
  write_authentication_sasl_final(wire, "");
  r = parse_authentication(body_span(wire, 'R'));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->data.empty());
}

TEST(ProtocolMessages, AuthenticationTruncatedCode) {
  expect_every_prefix_fails(be32(0), parse_authentication);
  EXPECT_FALSE(parse_authentication({}).ok());
}

TEST(ProtocolMessages, AuthenticationUnknownCodeIsNotAnError) {
  // The session decides what to do with codes it does not support (GSS, SSPI).
  auto body = be32(7) + "whatever"s;
  auto r = parse_authentication(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, 7);
  auto negative = be32(0xffffffffu);
  r = parse_authentication(bytes_of(negative));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code, -1);
}

// ---- ParameterStatus ('S') ------------------------------------------------

TEST(ProtocolMessages, ParameterStatus) {
  std::string wire;
  write_parameter_status(wire, "server_version", "15.8");
  std::string body = body_of(wire, 'S');
  auto r = parse_parameter_status(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "server_version");
  EXPECT_EQ(r->value, "15.8");
  expect_every_prefix_fails(body, parse_parameter_status);

  wire.clear();
  write_parameter_status(wire, "application_name", "");
  r = parse_parameter_status(body_span(wire, 'S'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "application_name");
  EXPECT_EQ(r->value, "");
}

// ---- BackendKeyData ('K') -------------------------------------------------

TEST(ProtocolMessages, BackendKeyData) {
  std::string wire;
  write_backend_key_data(wire, 31337, 0x80000001u);
  std::string body = body_of(wire, 'K');
  ASSERT_EQ(body.size(), 8u);
  auto r = parse_backend_key_data(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pid, 31337u);
  EXPECT_EQ(r->secret, 0x80000001u);
  expect_every_prefix_fails(body, parse_backend_key_data);
}

// ---- ErrorResponse / NoticeResponse ('E', 'N') ----------------------------

TEST(ProtocolMessages, ErrorResponseRoundTrip) {
  std::string wire;
  write_error_response(wire, "FATAL", "28P01", "password authentication failed for user \"x\"");
  std::string body = body_of(wire, 'E');
  auto r = parse_error_fields(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "FATAL");
  EXPECT_EQ(r->code, "28P01");
  EXPECT_EQ(r->message, "password authentication failed for user \"x\"");
  EXPECT_EQ(r->detail, "");
  expect_every_prefix_fails(body, parse_error_fields);
}

TEST(ProtocolMessages, ErrorPositionShiftsOnlyPastTheRewrittenPart) {
  auto body = "SERROR\0C22P02\0Minvalid input\0P19\0Fnumutils.c\0\0"s;
  EXPECT_TRUE(shift_error_position(body, 15, -5));
  EXPECT_EQ(body, "SERROR\0C22P02\0Minvalid input\0P14\0Fnumutils.c\0\0"s);
  EXPECT_TRUE(shift_error_position(body, 10, 100));
  EXPECT_EQ(body, "SERROR\0C22P02\0Minvalid input\0P114\0Fnumutils.c\0\0"s);
  auto inside = "SERROR\0P9\0\0"s;  // within the rewritten part: left alone
  EXPECT_FALSE(shift_error_position(inside, 15, -5));
  EXPECT_EQ(inside, "SERROR\0P9\0\0"s);
  auto none = "SERROR\0C42P01\0\0"s;
  EXPECT_FALSE(shift_error_position(none, 0, 3));
  auto broken = "SERROR\0Pxx\0\0"s;
  EXPECT_FALSE(shift_error_position(broken, 0, 3));
  auto cut = "SERROR\0P12"s;  // no terminator
  EXPECT_FALSE(shift_error_position(cut, 0, 3));
}

TEST(ProtocolMessages, NoticeResponseRoundTrip) {
  std::string wire;
  write_notice_response(wire, "00000", "hello");
  auto r = parse_error_fields(body_span(wire, 'N'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "NOTICE");
  EXPECT_EQ(r->code, "00000");
  EXPECT_EQ(r->message, "hello");
}

TEST(ProtocolMessages, ErrorResponseNonLocalizedSeverityWins) {
  // A German server: S is localized, V is not. V wins whichever comes first.
  auto s_first = "SFEHLER\0VERROR\0C42P01\0Mrelation does not exist\0\0"s;
  auto r = parse_error_fields(bytes_of(s_first));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "ERROR");
  auto v_first = "VERROR\0SFEHLER\0C42P01\0\0"s;
  r = parse_error_fields(bytes_of(v_first));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "ERROR");
}

TEST(ProtocolMessages, ErrorResponseLocalizedSeverityAlone) {
  // Servers before 9.6 send only S.
  auto body = "SERROR\0C22012\0Mdivision by zero\0\0"s;
  auto r = parse_error_fields(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "ERROR");
  EXPECT_EQ(r->code, "22012");
  EXPECT_EQ(r->message, "division by zero");
}

TEST(ProtocolMessages, ErrorResponseDetailAndUnknownFieldsSkipped) {
  auto body =
      "SERROR\0VERROR\0C23505\0Mduplicate key\0DKey (id)=(1) already exists.\0"
      "Hsome hint\0P12\0Ffile.c\0L42\0Rfn\0nconstraint\0zfuture field\0\0"s;
  auto r = parse_error_fields(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "ERROR");
  EXPECT_EQ(r->code, "23505");
  EXPECT_EQ(r->message, "duplicate key");
  EXPECT_EQ(r->detail, "Key (id)=(1) already exists.");
  expect_every_prefix_fails(body, parse_error_fields);
}

TEST(ProtocolMessages, ErrorResponseEmptyAndMalformed) {
  // Just the terminator: no fields at all is well formed.
  auto empty = "\0"s;
  auto r = parse_error_fields(bytes_of(empty));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->severity, "");
  EXPECT_EQ(r->code, "");
  // Missing the final terminator.
  auto no_term = "SERROR\0C42000\0"s;
  EXPECT_FALSE(parse_error_fields(bytes_of(no_term)).ok());
  // A field code with an unterminated value.
  auto open = "SERROR\0Cxx"s;
  EXPECT_FALSE(parse_error_fields(bytes_of(open)).ok());
  EXPECT_FALSE(parse_error_fields({}).ok());
  // High-bit field codes are just unknown fields.
  auto high = "\xffjunk\0\0"s;
  EXPECT_TRUE(parse_error_fields(bytes_of(high)).ok());
}

// ---- Query ('Q') ------------------------------------------------------------

TEST(ProtocolMessages, Query) {
  std::string wire;
  write_query(wire, "SELECT 1; SELECT 'x'");
  std::string body = body_of(wire, 'Q');
  auto r = parse_query(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "SELECT 1; SELECT 'x'");
  expect_every_prefix_fails(body, parse_query);

  wire.clear();
  write_query(wire, "");
  r = parse_query(body_span(wire, 'Q'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
}

TEST(ProtocolMessages, QueryEmptyBodyFails) {
  EXPECT_FALSE(parse_query({}).ok());
  std::string no_nul = "SELECT 1";
  EXPECT_FALSE(parse_query(bytes_of(no_nul)).ok());
}

// ---- SASLInitialResponse / PasswordMessage ('p') --------------------------

TEST(ProtocolMessages, SaslInitialResponse) {
  const std::string data = "n,,n=,r=rOprNGfwEbeRWgbNEkqO";
  std::string wire;
  write_sasl_initial_response(wire, "SCRAM-SHA-256", data);
  std::string body = body_of(wire, 'p');
  auto r = parse_sasl_initial_response(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(r->data, data);
  expect_every_prefix_fails(body, parse_sasl_initial_response);
}

TEST(ProtocolMessages, SaslInitialResponseEmptyData) {
  std::string wire;
  write_sasl_initial_response(wire, "SCRAM-SHA-256", "");
  auto r = parse_sasl_initial_response(body_span(wire, 'p'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, "");
}

TEST(ProtocolMessages, SaslInitialResponseNoDataIsMinusOne) {
  auto body = "SCRAM-SHA-256\0"s + be32(0xffffffffu);
  auto r = parse_sasl_initial_response(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mechanism, "SCRAM-SHA-256");
  EXPECT_TRUE(r->data.empty());
}

TEST(ProtocolMessages, SaslInitialResponseBadLengths) {
  for (uint32_t len : {0xfffffffeu, 0x80000000u}) {
    auto body = "SCRAM-SHA-256\0"s + be32(len) + "abcd";
    auto r = parse_sasl_initial_response(bytes_of(body));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.error().sqlstate, "08P01");
  }
  // Longer than what is left.
  auto body = "SCRAM-SHA-256\0"s + be32(5) + "abcd";
  EXPECT_FALSE(parse_sasl_initial_response(bytes_of(body)).ok());
  auto huge = "SCRAM-SHA-256\0"s + be32(0x7fffffffu) + "abcd";
  EXPECT_FALSE(parse_sasl_initial_response(bytes_of(huge)).ok());
  // Missing length entirely, and mechanism without NUL.
  auto no_len = "SCRAM-SHA-256\0"s;
  EXPECT_FALSE(parse_sasl_initial_response(bytes_of(no_len)).ok());
  auto no_nul = "SCRAM-SHA-256"s;
  EXPECT_FALSE(parse_sasl_initial_response(bytes_of(no_nul)).ok());
  EXPECT_FALSE(parse_sasl_initial_response({}).ok());
}

TEST(ProtocolMessages, PasswordMessage) {
  std::string wire;
  write_password_message(wire, "md5a3556571e93b0d20722ba62be61e8c2d");
  std::string body = body_of(wire, 'p');
  auto r = parse_password_message(bytes_of(body));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "md5a3556571e93b0d20722ba62be61e8c2d");
  expect_every_prefix_fails(body, parse_password_message);
  EXPECT_FALSE(parse_password_message({}).ok());

  wire.clear();
  write_password_message(wire, "");
  r = parse_password_message(body_span(wire, 'p'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
}

// Whatever the bytes, no parser may crash or read outside its span; ASan and
// UBSan watch this sweep over short garbage bodies.
TEST(ProtocolMessages, GarbageNeverCrashes) {
  uint32_t state = 12345;
  auto next = [&] {
    state = state * 1103515245u + 12345u;
    return uint8_t(state >> 16);
  };
  for (int round = 0; round < 2000; ++round) {
    std::string body(size_t(next() % 24), '\0');
    for (auto& c : body) {
      uint8_t b = next();
      // Plenty of NULs and small codes so the parsers get past their first field.
      c = char(b < 64 ? 0 : b < 96 ? b % 13 : b);
    }
    auto bytes = bytes_of(body);
    (void)parse_authentication(bytes);
    (void)parse_parameter_status(bytes);
    (void)parse_backend_key_data(bytes);
    (void)parse_error_fields(bytes);
    (void)parse_query(bytes);
    (void)parse_sasl_initial_response(bytes);
    (void)parse_password_message(bytes);
  }
}

// Regression: a default-constructed span has a null data(), and reading a
// C string from it used to call memchr(nullptr, 0, 0), which is undefined
// behaviour (UBSan: "null pointer passed as argument 1").
TEST(ProtocolMessages, CstringFromNullEmptySpanIsAnErrorNotUb) {
  std::span<const uint8_t> null_empty;
  ASSERT_EQ(null_empty.data(), nullptr);
  EXPECT_FALSE(parse_query(null_empty).ok());
  EXPECT_FALSE(parse_password_message(null_empty).ok());
  EXPECT_FALSE(parse_parameter_status(null_empty).ok());
  EXPECT_FALSE(parse_sasl_initial_response(null_empty).ok());
  EXPECT_FALSE(parse_error_fields(null_empty).ok());
  // Also at the end of a non-empty span.
  auto sasl = be32(10);
  EXPECT_FALSE(parse_authentication(bytes_of(sasl)).ok());
}

TEST(ProtocolMessages, DataRow) {
  // Two columns: "ab" and NULL.
  const std::string body = "\0\2"s + be32(2) + "ab" + be32(0xffffffff);
  auto row = parse_data_row(bytes_of(body));
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->size(), 2u);
  EXPECT_EQ((*row)[0], "ab");
  EXPECT_FALSE((*row)[1].has_value());
  // No columns.
  auto empty = parse_data_row(bytes_of("\0\0"s));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ProtocolMessages, DataRowMalformed) {
  for (const std::string& body : {
           ""s,                         // no count
           "\xff\xff"s,                 // negative count
           "\0\1"s + be32(5) + "ab",    // value past the end
           "\0\1"s + be32(0xfffffffe),  // length -2
           "\0\1"s + be32(1) + "ab",    // bytes after the last column
           "\0\2"s + be32(0),           // a column missing
       }) {
    EXPECT_FALSE(parse_data_row(bytes_of(body)).ok()) << ::testing::PrintToString(body);
  }
}

TEST(ProtocolMessages, AsCharsAndBack) {
  std::string s = "ab\0c"s;
  EXPECT_EQ(as_chars(bytes_of(s)), "ab\0c"s);
  EXPECT_EQ(as_chars(as_bytes(s)), s);
  EXPECT_EQ(as_chars({}), "");
}

}  // namespace
}  // namespace usher::protocol
