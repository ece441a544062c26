#include "config/ini.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "config/values.h"

namespace usher::config {

namespace fs = std::filesystem;

Result<std::string> read_text_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return config_error("cannot open \"" + path + "\": " + std::strerror(errno));
  }
  std::string contents;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    contents.append(buf, n);
  // A directory opens fine on Linux and only fails on read (EISDIR).
  const bool failed = std::ferror(f) != 0;
  const int saved_errno = errno;
  std::fclose(f);
  if (failed) {
    return config_error("cannot read \"" + path + "\": " + std::strerror(saved_errno));
  }
  return contents;
}

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// The identity of a file for loop detection: two spellings of one path
// (a/../b.ini, ./b.ini) must compare equal.
std::string canonical_name(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::path(path), ec);
  return ec ? path : p.string();
}

class Parser {
 public:
  Status parse_file(const std::string& path, const SourceLocation* included_from) {
    auto text = read_text_file(path);
    if (!text.ok()) {
      if (included_from == nullptr) return text.take_error();
      return config_error(included_from->str() + ": cannot include: " + text.error().message);
    }
    return parse_text(*text, path);
  }

  Status parse_text(std::string_view text, const std::string& file) {
    doc_.files.push_back(file);
    stack_.push_back(canonical_name(file));
    Status status = parse_lines(text, file);
    stack_.pop_back();
    return status;
  }

  IniDocument take() { return std::move(doc_); }

 private:
  Status parse_lines(std::string_view text, const std::string& file) {
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
    int line_no = 0;
    while (!text.empty()) {
      const auto nl = text.find('\n');
      const std::string_view raw = text.substr(0, nl);
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
      ++line_no;
      Status status = parse_line(trim(raw), SourceLocation{file, line_no});
      if (!status.ok()) return status;
    }
    return ok_status();
  }

  Status parse_line(std::string_view line, const SourceLocation& where) {
    if (line.empty() || line[0] == ';' || line[0] == '#') return ok_status();
    constexpr std::string_view kInclude = "%include";
    if (line.substr(0, kInclude.size()) == kInclude) {
      const std::string_view rest = line.substr(kInclude.size());
      if (rest.empty() || !is_blank(rest[0])) {
        return config_error(where.str() + ": syntax error: expected \"%include FILE\"");
      }
      return include(std::string(trim(rest)), where);
    }
    if (line[0] == '[') return parse_section(line, where);
    return parse_entry(line, where);
  }

  Status parse_section(std::string_view line, const SourceLocation& where) {
    const auto close = line.find(']');
    if (close == std::string_view::npos) {
      return config_error(where.str() + ": syntax error: missing \"]\" after section name");
    }
    const std::string_view name = trim(line.substr(1, close - 1));
    const std::string_view after = trim(line.substr(close + 1));
    if (name.empty()) return config_error(where.str() + ": syntax error: empty section name");
    if (!after.empty() && after[0] != ';' && after[0] != '#') {
      return config_error(where.str() + ": syntax error: unexpected text after the section name");
    }
    section_ = std::string(name);
    doc_.sections.push_back(IniSection{section_, where});
    return ok_status();
  }

  Status parse_entry(std::string_view line, const SourceLocation& where) {
    std::string key;
    size_t pos = 0;
    if (line[0] == '"' || line[0] == '\'') {
      const char quote = line[0];
      bool closed = false;
      for (pos = 1; pos < line.size(); ++pos) {
        if (line[pos] != quote) {
          key += line[pos];
        } else if (quote == '"' && pos + 1 < line.size() && line[pos + 1] == '"') {
          key += '"';  // SQL identifier quoting: "" is one quote
          ++pos;
        } else {
          closed = true;
          ++pos;
          break;
        }
      }
      if (!closed) return config_error(where.str() + ": syntax error: unterminated quoted key");
      while (pos < line.size() && is_blank(line[pos]))
        ++pos;
      if (pos >= line.size() || line[pos] != '=') {
        return config_error(where.str() + ": syntax error: expected \"=\" after key");
      }
      if (key.empty()) return config_error(where.str() + ": syntax error: empty key");
    } else {
      pos = line.find('=');
      if (pos == std::string_view::npos) {
        return config_error(where.str() + ": syntax error: expected \"key = value\"");
      }
      const std::string_view k = trim(line.substr(0, pos));
      if (k.empty()) return config_error(where.str() + ": syntax error: empty key");
      if (k.find_first_of(" \t") != std::string_view::npos) {
        return config_error(where.str() +
                            ": syntax error: the key contains a space (quote it with double "
                            "quotes)");
      }
      key = std::string(k);
    }
    if (section_.empty()) {
      return config_error(where.str() + ": an entry appears before any [section]");
    }
    doc_.entries.push_back(
        IniEntry{section_, std::move(key), std::string(trim(line.substr(pos + 1))), where});
    return ok_status();
  }

  Status include(const std::string& name, const SourceLocation& where) {
    if (name.empty()) {
      return config_error(where.str() + ": syntax error: expected \"%include FILE\"");
    }
    if (static_cast<int>(stack_.size()) > kMaxIncludeDepth) {
      return config_error(where.str() + ": %include nested deeper than " +
                          std::to_string(kMaxIncludeDepth) + " levels");
    }
    std::string path = name;
    const fs::path given(name);
    if (given.is_relative()) {
      const fs::path beside = fs::path(where.file).parent_path() / given;
      std::error_code ec;
      if (!fs::exists(beside, ec) && fs::exists(given, ec)) {
        doc_.warnings.push_back(where.str() + ": included file \"" + name +
                                "\" found relative to the current directory, not to \"" +
                                where.file + "\"; prefer a path relative to the including file");
      } else {
        path = beside.string();
      }
    }
    const std::string id = canonical_name(path);
    for (const auto& open : stack_) {
      if (open == id) {
        return config_error(where.str() + ": %include loop: \"" + path +
                            "\" is already being read");
      }
    }
    return parse_file(path, &where);
  }

  IniDocument doc_;
  std::string section_;
  std::vector<std::string> stack_;  // canonical names of the files being read
};

}  // namespace

Result<IniDocument> read_ini_file(const std::string& path) {
  Parser parser;
  Status status = parser.parse_file(path, nullptr);
  if (!status.ok()) return status.take_error();
  return parser.take();
}

Result<IniDocument> parse_ini_string(std::string_view text, const std::string& file_name) {
  Parser parser;
  Status status = parser.parse_text(text, file_name);
  if (!status.ok()) return status.take_error();
  return parser.take();
}

}  // namespace usher::config
