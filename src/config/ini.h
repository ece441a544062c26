// The raw pgbouncer.ini reader: sections, key = value lines and %include,
// with no knowledge of what any key means (config.h gives them meaning).
//
// Syntax, as PgBouncer's parser (libusual cfparser) reads it:
//   - leading and trailing whitespace of every line is ignored, as are blank
//     lines, CR before LF, and a UTF-8 byte order mark;
//   - a line whose first character is ';' or '#' is a comment; these
//     characters are NOT special later in a line, so "key = a;b" has the
//     value "a;b";
//   - "[name]" starts a section (the name is trimmed; a comment may follow);
//   - "key = value": the value is the rest of the line, trimmed, possibly
//     empty. A key may be double-quoted ("" is a literal quote inside) or
//     single-quoted, for database names with spaces or odd characters;
//   - "%include path" reads another file in place. The current section
//     carries into the included file and back out, as in PgBouncer. A
//     relative path is taken relative to the directory of the including
//     file; if no file exists there but one exists relative to the current
//     directory (where PgBouncer looks), that one is read, with a warning.
//     Nesting deeper than 10 and include loops are errors.
//
// Errors (here and in config.h, connstr.h, auth_file.h) name the file, the
// line and the problem, never what the line holds: `SET conffile` and
// `RELOAD` on the admin console let a console user point the loader at any
// file Usher can read, and an error quoting its lines would show them.
// Warnings, which only reach the log, may quote names.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::config {

inline constexpr int kMaxIncludeDepth = 10;

// Where a line came from, for messages: "file:line".
struct SourceLocation {
  std::string file;  // the path as it was opened (as given, or resolved from an include)
  int line = 0;      // 1-based

  std::string str() const { return file + ":" + std::to_string(line); }
};

struct IniSection {
  std::string name;
  SourceLocation where;
};

struct IniEntry {
  std::string section;  // the section in force, as written (trimmed)
  std::string key;      // unquoted
  std::string value;    // trimmed; may be empty
  SourceLocation where;
};

struct IniDocument {
  std::vector<IniSection> sections;  // every section header, in file order
  std::vector<IniEntry> entries;     // every key = value line, in file order
  std::vector<std::string> files;    // every file read, the top one first
  std::vector<std::string> warnings;
};

// The whole file, or an error naming the path and the system's reason.
Result<std::string> read_text_file(const std::string& path);

// Reads `path` and everything it includes. Errors: the file (or an included
// one) cannot be read, a syntax error, a key outside any section, an include
// loop or nesting too deep; each message starts with "file:line: " where a
// line is involved.
Result<IniDocument> read_ini_file(const std::string& path);

// Parses text as if it were the file `file_name` (includes are resolved
// relative to file_name's directory, so they do touch the file system).
Result<IniDocument> parse_ini_string(std::string_view text, const std::string& file_name);

}  // namespace usher::config
