#include "common/log_escape.h"

#include <cstdint>

namespace usher {

namespace {

// The length of the well-formed UTF-8 sequence at text[i] that encodes a
// printable character, or 0 when the byte at text[i] must be escaped.
// Ranges as in the Unicode standard's table of well-formed byte sequences
// (no overlong forms, no surrogates, nothing above U+10FFFF).
size_t printable_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(i);
  if (b0 >= 0x20 && b0 < 0x7f) return 1;
  if (b0 < 0xc2 || b0 > 0xf4) return 0;  // ASCII control, DEL, stray continuation, overlong lead
  const size_t len = b0 < 0xe0 ? 2 : b0 < 0xf0 ? 3 : 4;
  if (i + len > text.size()) return 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xbf;
  if (b0 == 0xe0) lo = 0xa0;
  if (b0 == 0xed) hi = 0x9f;
  if (b0 == 0xf0) lo = 0x90;
  if (b0 == 0xf4) hi = 0x8f;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = i + 2; k < i + len; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xbf) return 0;
  }
  uint32_t cp = 0;
  if (len == 2) {
    cp = ((b0 & 0x1fu) << 6) | (byte(i + 1) & 0x3fu);
  } else if (len == 3) {
    cp = ((b0 & 0x0fu) << 12) | ((byte(i + 1) & 0x3fu) << 6) | (byte(i + 2) & 0x3fu);
  } else {
    return len;  // planes 1-16: no line breaks or bidi controls there
  }
  const bool control = (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
                       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
  return control ? 0 : len;
}

// The length of the well-formed UTF-8 sequence at text[i], controls
// included, or 0: printable_length() and the controls it refuses, which
// are ASCII (one byte), C1 (C2 80-9F) and U+2028-202E, U+2066-2069
// (E2 80 A8-AE, E2 81 A6-A9).
size_t sequence_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  if (byte(i) < 0x80) return 1;
  if (const size_t n = printable_length(text, i)) return n;
  if (byte(i) == 0xc2 && i + 2 <= text.size() && byte(i + 1) >= 0x80 && byte(i + 1) <= 0x9f)
    return 2;
  if (byte(i) == 0xe2 && i + 3 <= text.size()) {
    const uint8_t b1 = byte(i + 1), b2 = byte(i + 2);
    if ((b1 == 0x80 && b2 >= 0xa8 && b2 <= 0xae) || (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9))
      return 3;
  }
  return 0;
}

}  // namespace

std::string to_well_formed_utf8(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = sequence_length(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool needs_log_escape(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = printable_length(text, i);
    if (n == 0) return true;
    i += n;
  }
  return false;
}

std::string escape_for_log(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = printable_length(text, i);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    // One byte at a time: the rest of a control character encoded in
    // several bytes (a C1 control, U+2028) is then a stray continuation byte
    // and is escaped in turn.
    const auto b = static_cast<uint8_t>(text[i]);
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
    ++i;
  }
  return out;
}

namespace {

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string json_log_line(std::string_view time, long pid, std::string_view level,
                          std::string_view message) {
  std::string out = "{\"time\":";
  append_json_string(out, time);
  out += ",\"pid\":" + std::to_string(pid) + ",\"level\":";
  append_json_string(out, level);
  out += ",\"message\":";
  append_json_string(out,
                     needs_log_escape(message) ? escape_for_log(message) : std::string(message));
  out += "}\n";
  return out;
}

}  // namespace usher
