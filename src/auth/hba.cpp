#include "auth/hba.h"

#include <arpa/inet.h>

#include <cstring>

#include "auth/conf_words.h"

namespace usher::auth {

namespace {

constexpr const char* kConfigFileError = "F0000";

using Word = ConfWord;
using Field = ConfField;

bool is_keyword(const Word& w, const char* k) {
  return !w.quoted && w.text == k;
}

// The names of an @file: whitespace or comma separated, '#' comments.
Result<std::vector<HbaName>> expand(const Field& field, const HbaIncludeReader& read_include,
                                    bool users) {
  std::vector<HbaName> out;
  for (const Word& w : field) {
    if (!w.quoted && w.text.starts_with("@")) {
      auto text = read_include(w.text.substr(1));
      if (!text) return make_error(kConfigFileError, "cannot read " + w.text.substr(1));
      size_t pos = 0;
      while (pos < text->size()) {
        size_t nl = text->find('\n', pos);
        if (nl == std::string::npos) nl = text->size();
        auto line = split_conf_line(std::string_view(*text).substr(pos, nl - pos));
        pos = nl + 1;
        if (!line)
          return make_error(kConfigFileError, w.text.substr(1) + ": " + line.error().message);
        for (const Field& f : *line) {
          for (const Word& name : f) {
            if (name.text.empty()) continue;
            out.push_back({name.text, false});  // names from a file are never keywords
          }
        }
      }
      continue;
    }
    if (users && !w.quoted && w.text.starts_with("+"))
      return make_error(kConfigFileError, "group membership (+" + w.text.substr(1) +
                                              ") is not supported: Usher cannot see the roles");
    if (w.text.empty()) return make_error(kConfigFileError, "empty name");
    const bool kw = !w.quoted && (w.text == "all" ||
                                  (!users && (w.text == "sameuser" || w.text == "samerole" ||
                                              w.text == "samegroup" || w.text == "replication")));
    if (kw && (w.text == "samerole" || w.text == "samegroup"))
      return make_error(kConfigFileError, w.text + " is not supported: Usher cannot see the roles");
    out.push_back({w.text, kw});
  }
  return out;
}

bool parse_ip(std::string_view text, bool& v6, std::array<uint8_t, 16>& out) {
  std::string s(text);
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

bool mask_from_bits(int bits, bool v6, std::array<uint8_t, 16>& mask) {
  const int max = v6 ? 128 : 32;
  if (bits < 0 || bits > max) return false;
  mask.fill(0);
  for (int i = 0; i < bits; ++i)
    mask[i / 8] |= uint8_t(0x80 >> (i % 8));
  return true;
}

Result<HbaMethod> parse_method(const std::string& m) {
  if (m == "trust") return HbaMethod::kTrust;
  if (m == "reject") return HbaMethod::kReject;
  if (m == "password") return HbaMethod::kPassword;
  if (m == "md5") return HbaMethod::kMd5;
  if (m == "scram-sha-256") return HbaMethod::kScramSha256;
  if (m == "cert") return HbaMethod::kCert;
  if (m == "peer") return HbaMethod::kPeer;
  return make_error(kConfigFileError, "authentication method \"" + m + "\" is not supported");
}

Result<HbaRule> parse_rule(const std::vector<Field>& f, const HbaIncludeReader& read_include) {
  auto single = [&](size_t i) -> const Word* {
    return i < f.size() && f[i].size() == 1 ? &f[i][0] : nullptr;
  };
  HbaRule r;
  const Word* type = single(0);
  if (!type) return make_error(kConfigFileError, "expected a connection type");
  if (type->text == "local") {
    r.type = HbaRule::Type::kLocal;
  } else if (type->text == "host") {
    r.type = HbaRule::Type::kHost;
  } else if (type->text == "hostssl") {
    r.type = HbaRule::Type::kHostSsl;
  } else if (type->text == "hostnossl") {
    r.type = HbaRule::Type::kHostNoSsl;
  } else {
    return make_error(kConfigFileError, "invalid connection type \"" + type->text + "\"");
  }
  if (f.size() < 4) return make_error(kConfigFileError, "end-of-line before authentication method");
  auto dbs = expand(f[1], read_include, false);
  if (!dbs) return dbs.take_error();
  auto users = expand(f[2], read_include, true);
  if (!users) return users.take_error();
  r.databases = std::move(*dbs);
  r.users = std::move(*users);
  size_t next = 3;
  if (r.type != HbaRule::Type::kLocal) {
    const Word* addr = single(3);
    if (!addr) return make_error(kConfigFileError, "expected one IP address");
    next = 4;
    if (is_keyword(*addr, "all")) {
      r.any_address = true;
    } else if (is_keyword(*addr, "samehost") || is_keyword(*addr, "samenet")) {
      return make_error(kConfigFileError, addr->text + " is not supported");
    } else {
      r.any_address = false;
      std::string a = addr->text;
      int bits = -1;
      if (size_t slash = a.find('/'); slash != std::string::npos) {
        const std::string b = a.substr(slash + 1);
        if (b.empty() || b.size() > 3 || b.find_first_not_of("0123456789") != std::string::npos)
          return make_error(kConfigFileError, "invalid CIDR mask in address \"" + a + "\"");
        bits = std::stoi(b);
        a.resize(slash);
      }
      if (!parse_ip(a, r.v6, r.address))
        return make_error(kConfigFileError,
                          "invalid IP address \"" + a + "\" (host names are not supported)");
      if (bits >= 0) {
        if (!mask_from_bits(bits, r.v6, r.mask))
          return make_error(kConfigFileError,
                            "invalid CIDR mask in address \"" + addr->text + "\"");
      } else {
        const Word* m = single(4);
        bool mask_v6 = false;
        if (!m || !parse_ip(m->text, mask_v6, r.mask) || mask_v6 != r.v6)
          return make_error(kConfigFileError, "IP address \"" + a + "\" needs a mask or /bits");
        next = 5;
      }
      for (size_t i = 0; i < r.address.size(); ++i)
        r.address[i] &= r.mask[i];
    }
  }
  const Word* method = single(next);
  if (!method) return make_error(kConfigFileError, "end-of-line before authentication method");
  auto m = parse_method(method->text);
  if (!m) return m.take_error();
  r.method = *m;
  if (r.method == HbaMethod::kPeer && r.type != HbaRule::Type::kLocal)
    return make_error(kConfigFileError, "peer authentication is only supported on local sockets");
  if (r.method == HbaMethod::kCert && r.type != HbaRule::Type::kHostSsl)
    return make_error(kConfigFileError, "cert authentication is only supported on hostssl");
  for (size_t i = next + 1; i < f.size(); ++i) {
    for (const Word& opt : f[i]) {
      if (!opt.text.starts_with("map=")) continue;  // other options are ignored
      if (r.method != HbaMethod::kPeer && r.method != HbaMethod::kCert)
        return make_error(kConfigFileError,
                          "authentication option \"map\" is only valid for authentication "
                          "methods peer and cert");
      r.map = opt.text.substr(4);
      if (r.map.empty()) return make_error(kConfigFileError, "empty map name");
    }
  }
  return r;
}

bool names_match(const std::vector<HbaName>& names, const std::string& value,
                 const std::string& user, bool databases) {
  for (const HbaName& n : names) {
    if (n.keyword) {
      if (n.text == "all") return true;
      if (databases && n.text == "sameuser" && value == user) return true;
      continue;  // replication: never a client of Usher's
    }
    if (n.text == value) return true;
  }
  return false;
}

}  // namespace

std::string_view hba_method_name(HbaMethod m) {
  constexpr std::string_view kNames[] = {"trust",         "reject", "password", "md5",
                                         "scram-sha-256", "cert",   "peer"};
  return kNames[static_cast<int>(m)];
}

Result<std::vector<HbaRule>> parse_hba(std::string_view text, const std::string& file,
                                       const HbaIncludeReader& read_include) {
  std::vector<HbaRule> rules;
  for (const ConfLine& l : conf_lines(text)) {
    const int first = l.number;
    auto fields = split_conf_line(l.text);
    Result<HbaRule> rule =
        fields ? (fields->empty() ? Result<HbaRule>(HbaRule{}) : parse_rule(*fields, read_include))
               : Result<HbaRule>(fields.take_error());
    if (!rule)
      return make_error(kConfigFileError,
                        file + ":" + std::to_string(first) + ": " + rule.error().message);
    if (fields->empty()) continue;
    rule->line = first;
    rules.push_back(std::move(*rule));
  }
  return rules;
}

bool hba_client_address(std::string_view text, HbaClient& client) {
  return parse_ip(text, client.v6, client.address);
}

const HbaRule* match_hba(const std::vector<HbaRule>& rules, const HbaClient& c) {
  for (const HbaRule& r : rules) {
    using T = HbaRule::Type;
    if (c.unix_socket != (r.type == T::kLocal)) continue;
    if (r.type == T::kHostSsl && !c.tls) continue;
    if (r.type == T::kHostNoSsl && c.tls) continue;
    if (!c.unix_socket && !r.any_address) {
      if (r.v6 != c.v6) continue;
      bool in = true;
      for (size_t i = 0; i < r.address.size(); ++i)
        in = in && (c.address[i] & r.mask[i]) == r.address[i];
      if (!in) continue;
    }
    if (!names_match(r.databases, c.database, c.user, true)) continue;
    if (!names_match(r.users, c.user, c.user, false)) continue;
    return &r;
  }
  return nullptr;
}

}  // namespace usher::auth
