#include "config/connstr.h"

#include <algorithm>
#include <array>
#include <utility>
#include <variant>

namespace usher::config {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// `key` is one of ours (it matched a known field); the value is not quoted
// (see config/ini.h on why errors never quote the file's content).
Error invalid_value(std::string_view key, const Error& why) {
  return config_error("invalid value for " + std::string(key) + ": " + why.message);
}

// Pairs are named by position, not by what they hold.
std::string pair_at(size_t index) {
  return "key=value pair " + std::to_string(index + 1);
}

// Sizes and limits: 0 is meaningful (disabled / unlimited), negatives are not.
constexpr long long kMaxCount = 2147483647;

// A typed field of T that one key sets.
template <typename T>
using FieldPtr = std::variant<std::optional<std::string> T::*, std::optional<int> T::*,
                              std::optional<Duration> T::*, std::optional<PoolMode> T::*,
                              std::optional<bool> T::*>;

template <typename T>
struct Field {
  std::string_view key;
  FieldPtr<T> ptr;
};

template <typename T>
Status set_field(T& target, FieldPtr<T> ptr, std::string_view key, const std::string& value) {
  struct Visitor {
    T& target;
    std::string_view key;
    const std::string& value;

    Status operator()(std::optional<std::string> T::*p) const {
      target.*p = value;
      return ok_status();
    }
    Status operator()(std::optional<int> T::*p) const {
      auto v = parse_int(value, 0, kMaxCount);
      if (!v.ok()) return invalid_value(key, v.error());
      target.*p = *v;
      return ok_status();
    }
    Status operator()(std::optional<Duration> T::*p) const {
      // PgBouncer's per-database and per-user timeouts use -1 for "not set".
      if (trim(value) == "-1") {
        target.*p = std::nullopt;
        return ok_status();
      }
      auto v = parse_duration(value);
      if (!v.ok()) return invalid_value(key, v.error());
      target.*p = *v;
      return ok_status();
    }
    Status operator()(std::optional<PoolMode> T::*p) const {
      auto v = parse_pool_mode(value);
      if (!v.ok()) return invalid_value(key, v.error());
      target.*p = *v;
      return ok_status();
    }
    Status operator()(std::optional<bool> T::*p) const {
      auto v = parse_bool(value);
      if (!v.ok()) return invalid_value(key, v.error());
      target.*p = *v;
      return ok_status();
    }
  };
  return std::visit(Visitor{target, key, value}, ptr);
}

template <typename T, size_t N>
Status apply_fields(T& target, const std::array<Field<T>, N>& fields, const KeyValue& kv,
                    size_t index, std::string_view extra_keys) {
  for (const auto& field : fields) {
    if (field.key == kv.key) return set_field(target, field.ptr, kv.key, kv.value);
  }
  std::string known(extra_keys);
  for (const auto& field : fields) {
    if (!known.empty()) known += ", ";
    known += field.key;
  }
  return config_error(pair_at(index) + ": unknown key (known keys: " + known + ")");
}

const std::array<Field<ConnString>, 23> kDatabaseFields{{
    {"dbname", &ConnString::dbname},
    {"user", &ConnString::user},
    {"password", &ConnString::password},
    {"auth_user", &ConnString::auth_user},
    {"auth_dbname", &ConnString::auth_dbname},
    {"auth_query", &ConnString::auth_query},
    {"pool_size", &ConnString::pool_size},
    {"min_pool_size", &ConnString::min_pool_size},
    {"reserve_pool", &ConnString::reserve_pool_size},
    {"reserve_pool_size", &ConnString::reserve_pool_size},
    {"max_db_connections", &ConnString::max_db_connections},
    {"max_db_client_connections", &ConnString::max_db_client_connections},
    {"pool_mode", &ConnString::pool_mode},
    {"server_lifetime", &ConnString::server_lifetime},
    {"query_wait_timeout", &ConnString::query_wait_timeout},
    {"connect_query", &ConnString::connect_query},
    {"application_name", &ConnString::application_name},
    {"client_encoding", &ConnString::client_encoding},
    {"datestyle", &ConnString::datestyle},
    {"timezone", &ConnString::timezone},
    {"load_balance_hosts", &ConnString::load_balance_hosts},
    {"target_session_attrs", &ConnString::target_session_attrs},
    {"query_cache", &ConnString::query_cache},
}};

// Keys whose value is one of a few words.
struct Choice {
  std::string_view key;
  std::optional<std::string> ConnString::*field;
  std::string_view allowed;  // comma-separated
};
const std::array<Choice, 2> kDatabaseChoices{{
    {"load_balance_hosts", &ConnString::load_balance_hosts, "round-robin,disable"},
    {"target_session_attrs", &ConnString::target_session_attrs, "any"},
}};

Status check_choices(ConnString& conn) {
  for (const auto& choice : kDatabaseChoices) {
    auto& value = conn.*choice.field;
    if (!value) continue;
    const std::string v = to_lower(trim(*value));
    const auto allowed = split_list(choice.allowed);
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) {
      value = v;
      continue;
    }
    std::string why = "expected ";
    for (size_t i = 0; i < allowed.size(); ++i)
      why += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + allowed[i];
    if (choice.key == "target_session_attrs") {
      why =
          "only \"any\" is supported by Usher yet (read-write, read-only, primary and "
          "standby need its failover support)";
    }
    return invalid_value(choice.key, config_error(std::move(why)));
  }
  return ok_status();
}

const std::array<Field<UserSettings>, 11> kUserFields{{
    {"pool_mode", &UserSettings::pool_mode},
    {"pool_size", &UserSettings::pool_size},
    {"reserve_pool_size", &UserSettings::reserve_pool_size},
    {"max_user_connections", &UserSettings::max_user_connections},
    {"max_user_client_connections", &UserSettings::max_user_client_connections},
    {"query_timeout", &UserSettings::query_timeout},
    {"query_wait_timeout", &UserSettings::query_wait_timeout},
    {"idle_transaction_timeout", &UserSettings::idle_transaction_timeout},
    {"transaction_timeout", &UserSettings::transaction_timeout},
    {"client_idle_timeout", &UserSettings::client_idle_timeout},
    {"query_cache", &UserSettings::query_cache},
}};

}  // namespace

Result<std::vector<KeyValue>> parse_key_values(std::string_view text) {
  std::vector<KeyValue> pairs;
  size_t pos = 0;
  auto skip_blanks = [&] {
    while (pos < text.size() && is_blank(text[pos]))
      ++pos;
  };
  while (true) {
    skip_blanks();
    if (pos >= text.size()) break;
    const size_t key_start = pos;
    while (pos < text.size() && text[pos] != '=' && !is_blank(text[pos]))
      ++pos;
    std::string key(text.substr(key_start, pos - key_start));
    skip_blanks();
    if (pos >= text.size() || text[pos] != '=') {
      return config_error(pair_at(pairs.size()) + ": expected key=value");
    }
    if (key.empty()) return config_error(pair_at(pairs.size()) + ": no key before \"=\"");
    ++pos;  // '='
    skip_blanks();
    if (pos >= text.size()) return config_error(pair_at(pairs.size()) + ": missing value");
    std::string value;
    if (text[pos] == '\'') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos];
        const char next = pos + 1 < text.size() ? text[pos + 1] : '\0';
        if (c == '\\' && (next == '\'' || next == '\\')) {
          value += next;
          pos += 2;
        } else if (c == '\'' && next == '\'') {
          value += '\'';
          pos += 2;
        } else if (c == '\'') {
          ++pos;
          closed = true;
          break;
        } else {
          value += c;
          ++pos;
        }
      }
      if (!closed) return config_error(pair_at(pairs.size()) + ": unterminated quoted value");
      if (pos < text.size() && !is_blank(text[pos])) {
        return config_error(pair_at(pairs.size()) + ": expected a space after the quoted value");
      }
    } else {
      const size_t value_start = pos;
      while (pos < text.size() && !is_blank(text[pos]))
        ++pos;
      value = std::string(text.substr(value_start, pos - value_start));
    }
    pairs.push_back(KeyValue{std::move(key), std::move(value)});
  }
  return pairs;
}

Result<ConnString> parse_connstr(std::string_view text) {
  auto pairs = parse_key_values(text);
  if (!pairs.ok()) return pairs.take_error();
  ConnString conn;
  for (size_t i = 0; i < pairs->size(); ++i) {
    const KeyValue& kv = (*pairs)[i];
    if (kv.key == "host") {
      conn.hosts = split_list(kv.value);
      conn.host = conn.hosts.empty() ? std::string() : conn.hosts.front();
      continue;
    }
    if (kv.key == "port") {
      auto port = parse_int(kv.value, 1, 65535);
      if (!port.ok()) return invalid_value(kv.key, port.error());
      conn.port = *port;
      continue;
    }
    Status status = apply_fields(conn, kDatabaseFields, kv, i, "host, port");
    if (!status.ok()) return status.take_error();
  }
  Status status = check_choices(conn);
  if (!status.ok()) return status.take_error();
  return conn;
}

Result<UserSettings> parse_user_settings(std::string_view text) {
  auto pairs = parse_key_values(text);
  if (!pairs.ok()) return pairs.take_error();
  UserSettings user;
  for (size_t i = 0; i < pairs->size(); ++i) {
    Status status = apply_fields(user, kUserFields, (*pairs)[i], i, "");
    if (!status.ok()) return status.take_error();
  }
  return user;
}

bool is_unix_socket_host(std::string_view host) {
  return !host.empty() && (host[0] == '/' || host[0] == '@');
}

}  // namespace usher::config
