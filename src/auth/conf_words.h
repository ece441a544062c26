// The word syntax pg_hba.conf and pg_ident.conf share, as PostgreSQL reads
// it: lines (a backslash at the end continues one), fields separated by
// whitespace, comma-separated lists inside a field, "..." quoting, '#'
// comments. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace usher::auth {

struct ConfWord {
  std::string text;
  bool quoted = false;  // a quoted word is a name, never a keyword
};
using ConfField = std::vector<ConfWord>;  // a comma-separated list

struct ConfLine {
  std::string text;  // continuations joined
  int number = 0;    // of its first line, from 1
};

// The file's lines, continuations joined.
std::vector<ConfLine> conf_lines(std::string_view text);

// One line's fields; empty for a blank or comment line. Error: an
// unterminated quote.
Result<std::vector<ConfField>> split_conf_line(std::string_view line);

}  // namespace usher::auth
