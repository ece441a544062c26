#include "auth/conf_words.h"

#include "protocol/sqlstate.h"

namespace usher::auth {

std::vector<ConfLine> conf_lines(std::string_view text) {
  std::vector<ConfLine> lines;
  size_t pos = 0;
  int number = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    ConfLine line{std::string(text.substr(pos, nl - pos)), ++number};
    pos = nl + 1;
    while (!line.text.empty() && line.text.back() == '\\' && pos < text.size()) {
      line.text.pop_back();
      nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      line.text += text.substr(pos, nl - pos);
      pos = nl + 1;
      ++number;
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// Whitespace separates fields, except after a comma, which continues the
// list.
Result<std::vector<ConfField>> split_conf_line(std::string_view line) {
  std::vector<ConfField> fields;
  size_t i = 0;
  bool continues = false;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') break;
    ConfWord w;
    if (c == '"') {
      size_t end = line.find('"', i + 1);
      if (end == std::string_view::npos)
        return make_error(protocol::sqlstate::config_file_error, "unterminated quote");
      w.text = std::string(line.substr(i + 1, end - i - 1));
      w.quoted = true;
      i = end + 1;
    } else {
      size_t end = i;
      while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != ',' &&
             line[end] != '#' && line[end] != '"' && line[end] != '\r')
        ++end;
      w.text = std::string(line.substr(i, end - i));
      i = end;
    }
    if (continues && !fields.empty()) {
      fields.back().push_back(std::move(w));
    } else {
      fields.push_back({std::move(w)});
    }
    continues = i < line.size() && line[i] == ',';
    if (continues) ++i;
  }
  return fields;
}

}  // namespace usher::auth
