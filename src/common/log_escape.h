// Text from the network (user and database names, application_name, server
// messages, addresses) written into a log line as it came could forge log
// lines: a user name holding "\n2025-01-01 00:00:00.000 UTC [1] LOG ..."
// reads as a line of its own, and terminal escapes can rewrite what an
// operator sees. The log formatter (runtime/logging.cpp) passes every message
// through these functions, so no message can span lines or carry control
// characters, whatever it quotes.
#pragma once

#include <string>
#include <string_view>

namespace usher {

// True when escape_for_log() would change `text` (the common case, false,
// costs one pass and no allocation).
bool needs_log_escape(std::string_view text);

// `text` with control and non-printable characters written as \xNN, one per
// byte: ASCII controls (\n, \r, \t, ESC ...) and DEL; bytes that are not
// well-formed UTF-8; and the Unicode characters that act as controls in a
// terminal or an editor: C1 controls (U+0080-U+009F), the line and paragraph
// separators (U+2028, U+2029) and the bidirectional overrides and isolates
// (U+202A-U+202E, U+2066-U+2069). Other UTF-8 is kept, so names in any script
// stay legible. A backslash is kept as it is: the escaping is for safety, not
// meant to be reversed.
std::string escape_for_log(std::string_view text);

// `text` with every byte that is not part of well-formed UTF-8 replaced by
// U+FFFD, controls kept: for names from the network in JSON and in
// Prometheus labels, where one bad byte would make a reader refuse the
// whole answer.
std::string to_well_formed_utf8(std::string_view text);

// One line of log_format = json: {"time":..,"pid":..,"level":..,"message":..}
// and a newline. `message` goes through escape_for_log() first, as in the
// text format, so the line is valid UTF-8 and holds no control character;
// then `"` and `\` are escaped as JSON wants.
std::string json_log_line(std::string_view time, long pid, std::string_view level,
                          std::string_view message);

}  // namespace usher
