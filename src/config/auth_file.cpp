#include "config/auth_file.h"

#include <optional>
#include <utility>

#include "config/ini.h"
#include "config/values.h"

namespace usher::config {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool is_base64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

bool all_base64(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_base64(c)) return false;
  }
  return true;
}

// Reads a double-quoted field starting at line[pos] == '"'; "" is a quote.
// Returns nullopt when the closing quote is missing.
std::optional<std::string> read_quoted(std::string_view line, size_t& pos) {
  std::string out;
  for (++pos; pos < line.size(); ++pos) {
    if (line[pos] != '"') {
      out += line[pos];
    } else if (pos + 1 < line.size() && line[pos + 1] == '"') {
      out += '"';
      ++pos;
    } else {
      ++pos;
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::map<std::string, std::string>> parse_auth_file(std::string_view text,
                                                           const std::string& file_name) {
  std::map<std::string, std::string> users;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    const std::string where = file_name + ":" + std::to_string(line_no) + ": ";
    if (line[0] != '"') {
      return config_error(where +
                          "expected a double-quoted user name, as in \"user\" \"password\"");
    }
    size_t pos = 0;
    auto user = read_quoted(line, pos);
    if (!user) return config_error(where + "missing closing quote after the user name");
    if (user->empty()) return config_error(where + "empty user name");
    while (pos < line.size() && is_blank(line[pos]))
      ++pos;
    if (pos >= line.size() || line[pos] != '"') {
      return config_error(where + "expected a double-quoted password after the user name");
    }
    auto secret = read_quoted(line, pos);
    if (!secret) return config_error(where + "missing closing quote after the password");
    // Whatever follows the second field is ignored, as PgBouncer does.
    users[*user] = std::move(*secret);
  }
  return users;
}

Result<std::map<std::string, std::string>> load_auth_file(const std::string& path) {
  auto text = read_text_file(path);
  if (!text.ok()) return text.take_error();
  return parse_auth_file(*text, path);
}

SecretKind classify_secret(std::string_view secret) {
  constexpr std::string_view kMd5 = "md5";
  if (secret.size() == 35 && secret.substr(0, 3) == kMd5) {
    bool hex = true;
    for (char c : secret.substr(3))
      hex = hex && is_lower_hex(c);
    if (hex) return SecretKind::kMd5;
  }
  // SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>
  constexpr std::string_view kScram = "SCRAM-SHA-256$";
  if (secret.substr(0, kScram.size()) == kScram) {
    std::string_view rest = secret.substr(kScram.size());
    const auto colon = rest.find(':');
    const auto dollar = rest.find('$');
    if (colon != std::string_view::npos && dollar != std::string_view::npos && colon < dollar) {
      const std::string_view iterations = rest.substr(0, colon);
      const std::string_view salt = rest.substr(colon + 1, dollar - colon - 1);
      const std::string_view keys = rest.substr(dollar + 1);
      const auto key_colon = keys.find(':');
      bool digits = !iterations.empty() && iterations[0] != '0';
      for (char c : iterations)
        digits = digits && c >= '0' && c <= '9';
      if (digits && all_base64(salt) && key_colon != std::string_view::npos &&
          all_base64(keys.substr(0, key_colon)) && all_base64(keys.substr(key_colon + 1))) {
        return SecretKind::kScramSha256;
      }
    }
  }
  return SecretKind::kPlain;
}

}  // namespace usher::config
