#include "protocol/startup_options.h"

#include "protocol/sqlstate.h"

namespace usher::protocol {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The next word of `s` from `pos`, unescaped; empty at the end.
std::string next_word(std::string_view s, size_t& pos) {
  while (pos < s.size() && is_space(s[pos]))
    ++pos;
  std::string word;
  bool escaped = false;
  for (; pos < s.size(); ++pos) {
    const char c = s[pos];
    if (escaped) {
      word += c;
      escaped = false;
    } else if (c == '\\') {
      escaped = true;
    } else if (is_space(c)) {
      break;
    } else {
      word += c;
    }
  }
  return word;
}

Error unsupported() {
  return make_error(sqlstate::protocol_violation,
                    "unsupported options startup parameter: only '-c config=val' and "
                    "'--config=val' are allowed");
}

}  // namespace

Result<std::vector<OptionSetting>> parse_startup_options(std::string_view options) {
  std::vector<OptionSetting> settings;
  size_t pos = 0;
  while (true) {
    std::string word = next_word(options, pos);
    if (word.empty()) break;
    std::string setting;
    if (word == "-c") {
      setting = next_word(options, pos);
      if (setting.empty()) return unsupported();
    } else if (word.starts_with("-c")) {
      setting = word.substr(2);
    } else if (word.starts_with("--")) {
      setting = word.substr(2);
    } else {
      return unsupported();
    }
    const size_t eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) return unsupported();
    OptionSetting s{setting.substr(0, eq), setting.substr(eq + 1)};
    for (char& c : s.name) {
      if (c == '-') c = '_';
    }
    settings.push_back(std::move(s));
  }
  return settings;
}

}  // namespace usher::protocol
