// Views over the extended-query messages a client sends (Parse, Bind,
// Describe, Close) and writers for the ones Usher sends or answers itself.
// Only the statement name and what identifies a statement are decoded; a
// Bind's parameters are never looked at, only copied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace usher::protocol {

// Parse ('P'): name, query, then int16 n and n parameter type OIDs.
struct ParseMessage {
  std::string_view name;
  std::string_view query;
  std::string_view param_types;  // the raw int16 count and OIDs, compared byte for byte
};
Result<ParseMessage> parse_parse(std::span<const uint8_t> body);

// Bind ('B'): portal, statement, then everything else (formats, values).
struct BindMessage {
  std::string_view portal;
  std::string_view statement;
  std::span<const uint8_t> rest;  // after the statement name's NUL
};
Result<BindMessage> parse_bind(std::span<const uint8_t> body);

// Describe ('D') and Close ('C'): 'S' (statement) or 'P' (portal), and a name.
inline constexpr char kTargetStatement = 'S';
inline constexpr char kTargetPortal = 'P';
struct TargetMessage {
  char kind = 0;  // kTargetStatement or kTargetPortal
  std::string_view name;
};
Result<TargetMessage> parse_describe(std::span<const uint8_t> body);
Result<TargetMessage> parse_close(std::span<const uint8_t> body);

// Frontend messages.
void write_parse(std::string& out, std::string_view name, std::string_view query,
                 std::string_view param_types);
void write_bind(std::string& out, std::string_view portal, std::string_view statement,
                std::span<const uint8_t> rest);
// A Bind up to the statement name, for `rest_size` more bytes the caller
// sends after it (the parameters, passed on without a copy).
void write_bind_header(std::string& out, std::string_view portal, std::string_view statement,
                       size_t rest_size);
// A Bind of `params` as text (format 0), results in text.
void write_bind_text(std::string& out, std::string_view portal, std::string_view statement,
                     std::span<const std::string_view> params);
void write_execute(std::string& out, std::string_view portal, int32_t max_rows);
void write_describe(std::string& out, char kind, std::string_view name);
void write_close(std::string& out, char kind, std::string_view name);
void write_sync(std::string& out);
void write_flush(std::string& out);

// Backend messages Usher answers with itself.
void write_parse_complete(std::string& out);
void write_bind_complete(std::string& out);
void write_close_complete(std::string& out);
void write_no_data(std::string& out);
void write_empty_parameter_description(std::string& out);

}  // namespace usher::protocol
