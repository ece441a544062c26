#include "config/settings.h"

#include <algorithm>
#include <utility>

#include "config/http_origin.h"
#include "config/table_name.h"
#include "protocol/cancel_key.h"

namespace usher::config {

namespace {

constexpr bool kRestart = false;  // changeable = false
constexpr long long kIntMax = 2147483647;
// PgBouncer reads max_packet_size as an unsigned int, so a file may say up to
// 4294967295. A message's length is a signed 32-bit field on the wire, so
// anything above kIntMax means the same as kIntMax and is stored as that.
constexpr long long kUintMax = 4294967295;
constexpr std::string_view kSslModes = "disable,allow,prefer,require,verify-ca,verify-full";
constexpr std::string_view kSyslogFacilities =
    "auth,authpriv,daemon,user,local0,local1,local2,local3,local4,local5,local6,local7";
// The query cache's memory: below a kilobyte no entry fits with its
// overhead; above a terabyte it is a typo (the cache lives in RAM).
constexpr long long kMinCacheBytes = kKilobyte;
constexpr long long kMaxCacheBytes = kTerabyte;
// Every cacheable read checks its tables against these lists.
constexpr size_t kMaxTableListItems = 1024;
// Every HTTP request with an Origin header is looked up in this list.
constexpr size_t kMaxCorsOrigins = 256;

std::vector<SettingSpec> make_specs() {
  // clang-format off
  return {
      {.name = "admin_users", .field = &Config::admin_users},
      {.name = "application_name_add_host", .field = &Config::application_name_add_host},
      {.name = "auth_dbname", .field = &Config::auth_dbname},
      {.name = "auth_file", .field = &Config::auth_file},
      {.name = "auth_hba_file", .field = &Config::auth_hba_file},
      {.name = "auth_ident_file", .field = &Config::auth_ident_file},
      {.name = "auth_ldap_options", .field = &Config::auth_ldap_options},
      {.name = "auth_query", .field = &Config::auth_query},
      {.name = "auth_type", .field = &Config::auth_type},
      {.name = "auth_user", .field = &Config::auth_user},
      {.name = "autodb_idle_timeout", .field = &Config::autodb_idle_timeout},
      {.name = "cancel_wait_timeout", .field = &Config::cancel_wait_timeout},
      {.name = "client_idle_timeout", .field = &Config::client_idle_timeout},
      {.name = "client_login_timeout", .field = &Config::client_login_timeout},
      {.name = "client_tls13_ciphers", .field = &Config::client_tls13_ciphers},
      {.name = "client_tls_ca_file", .field = &Config::client_tls_ca_file},
      {.name = "client_tls_cert_file", .field = &Config::client_tls_cert_file},
      {.name = "client_tls_ciphers", .field = &Config::client_tls_ciphers},
      {.name = "client_tls_dheparams", .field = &Config::client_tls_dheparams},
      {.name = "client_tls_ecdhcurve", .field = &Config::client_tls_ecdhcurve},
      {.name = "client_tls_key_file", .field = &Config::client_tls_key_file},
      {.name = "client_tls_protocols", .field = &Config::client_tls_protocols},
      {.name = "client_tls_sslmode", .field = &Config::client_tls_sslmode, .allowed = kSslModes},
      {.name = "conffile", .field = &Config::conffile},
      {.name = "default_pool_size", .field = &Config::default_pool_size},
      {.name = "disable_pqexec", .field = &Config::disable_pqexec, .changeable = kRestart},
      {.name = "dns_max_ttl", .field = &Config::dns_max_ttl},
      {.name = "dns_nxdomain_ttl", .field = &Config::dns_nxdomain_ttl},
      {.name = "dns_zone_check_period", .field = &Config::dns_zone_check_period},
      {.name = "http_auth_token_file", .field = &Config::http_auth_token_file},
      {.name = "http_cors_allow_credentials", .field = &Config::http_cors_allow_credentials},
      {.name = "http_cors_origins", .field = &Config::http_cors_origins,
       .item = &normalize_origin, .max_items = kMaxCorsOrigins},
      {.name = "http_listen_addr", .field = &Config::http_listen_addr, .changeable = kRestart},
      {.name = "http_listen_port", .field = &Config::http_listen_port, .changeable = kRestart,
       .max = 65535},
      {.name = "http_public_read", .field = &Config::http_public_read},
      {.name = "idle_transaction_timeout", .field = &Config::idle_transaction_timeout},
      {.name = "ignore_startup_parameters", .field = &Config::ignore_startup_parameters},
      {.name = "job_name", .field = &Config::job_name, .changeable = kRestart},
      {.name = "listen_addr", .field = &Config::listen_addr, .changeable = kRestart},
      {.name = "listen_backlog", .field = &Config::listen_backlog, .changeable = kRestart,
       .min = 1},
      {.name = "listen_port", .field = &Config::listen_port, .changeable = kRestart, .min = 1,
       .max = 65535},
      {.name = "log_connections", .field = &Config::log_connections},
      {.name = "log_disconnections", .field = &Config::log_disconnections},
      {.name = "log_format", .field = &Config::log_format, .allowed = "text,json"},
      {.name = "log_pooler_errors", .field = &Config::log_pooler_errors},
      {.name = "log_stats", .field = &Config::log_stats},
      {.name = "logfile", .field = &Config::logfile},
      {.name = "login_notify_message", .field = &Config::login_notify_message},
      {.name = "max_client_conn", .field = &Config::max_client_conn},
      {.name = "max_db_client_connections", .field = &Config::max_db_client_connections},
      {.name = "max_db_connections", .field = &Config::max_db_connections},
      {.name = "max_packet_size", .field = &Config::max_packet_size, .min = 1024,
       .max = kUintMax},
      {.name = "max_prepared_statements", .field = &Config::max_prepared_statements},
      {.name = "max_user_client_connections", .field = &Config::max_user_client_connections},
      {.name = "max_user_connections", .field = &Config::max_user_connections},
      {.name = "min_pool_size", .field = &Config::min_pool_size},
      {.name = "peer_id", .field = &Config::peer_id, .changeable = kRestart, .max = protocol::kMaxPeerId},
      {.name = "pidfile", .field = &Config::pidfile, .changeable = kRestart},
      {.name = "pkt_buf", .field = &Config::pkt_buf, .changeable = kRestart, .min = 512,
       .max = 1 << 30},
      {.name = "pool_idle_timeout", .field = &Config::pool_idle_timeout},
      {.name = "pool_mode", .field = &Config::pool_mode},
      {.name = "query_cache", .field = &Config::query_cache},
      {.name = "query_cache_exclude_tables", .field = &Config::query_cache_exclude_tables,
       .item = &normalize_table_name, .max_items = kMaxTableListItems},
      {.name = "query_cache_invalidation", .field = &Config::query_cache_invalidation},
      {.name = "query_cache_max_entry", .field = &Config::query_cache_max_entry, .min = 1,
       .max = kMaxCacheBytes},
      {.name = "query_cache_replication_user", .field = &Config::query_cache_replication_user},
      {.name = "query_cache_size", .field = &Config::query_cache_size, .min = kMinCacheBytes,
       .max = kMaxCacheBytes},
      {.name = "query_cache_tables", .field = &Config::query_cache_tables,
       .item = &normalize_table_name, .max_items = kMaxTableListItems},
      {.name = "query_cache_ttl", .field = &Config::query_cache_ttl},
      {.name = "query_timeout", .field = &Config::query_timeout},
      {.name = "query_wait_notify", .field = &Config::query_wait_notify},
      {.name = "query_wait_timeout", .field = &Config::query_wait_timeout},
      {.name = "reserve_pool_size", .field = &Config::reserve_pool_size},
      {.name = "reserve_pool_timeout", .field = &Config::reserve_pool_timeout},
      {.name = "resolv_conf", .field = &Config::resolv_conf, .changeable = kRestart},
      {.name = "sbuf_loopcnt", .field = &Config::sbuf_loopcnt},
      {.name = "scram_iterations", .field = &Config::scram_iterations, .min = 1},
      {.name = "server_channel_binding", .field = &Config::server_channel_binding,
       .allowed = "disable,prefer,require"},
      {.name = "server_check_delay", .field = &Config::server_check_delay},
      {.name = "server_check_query", .field = &Config::server_check_query},
      {.name = "server_connect_timeout", .field = &Config::server_connect_timeout},
      {.name = "server_fast_close", .field = &Config::server_fast_close},
      {.name = "server_idle_timeout", .field = &Config::server_idle_timeout},
      {.name = "server_lifetime", .field = &Config::server_lifetime},
      {.name = "server_login_retry", .field = &Config::server_login_retry},
      {.name = "server_reset_query", .field = &Config::server_reset_query},
      {.name = "server_reset_query_always", .field = &Config::server_reset_query_always},
      {.name = "server_round_robin", .field = &Config::server_round_robin},
      {.name = "server_tls13_ciphers", .field = &Config::server_tls13_ciphers},
      {.name = "server_tls_ca_file", .field = &Config::server_tls_ca_file},
      {.name = "server_tls_cert_file", .field = &Config::server_tls_cert_file},
      {.name = "server_tls_ciphers", .field = &Config::server_tls_ciphers},
      {.name = "server_tls_key_file", .field = &Config::server_tls_key_file},
      {.name = "server_tls_protocols", .field = &Config::server_tls_protocols},
      {.name = "server_tls_sslmode", .field = &Config::server_tls_sslmode, .allowed = kSslModes},
      {.name = "service_name", .field = &Config::job_name, .changeable = kRestart, .alias = true},
      {.name = "so_reuseport", .field = &Config::so_reuseport, .changeable = kRestart},
      {.name = "stats_period", .field = &Config::stats_period},
      {.name = "stats_users", .field = &Config::stats_users},
      {.name = "suspend_timeout", .field = &Config::suspend_timeout},
      {.name = "syslog", .field = &Config::syslog},
      {.name = "syslog_facility", .field = &Config::syslog_facility, .allowed = kSyslogFacilities},
      {.name = "syslog_ident", .field = &Config::syslog_ident},
      {.name = "tcp_defer_accept", .field = &Config::tcp_defer_accept},
      {.name = "tcp_keepalive", .field = &Config::tcp_keepalive},
      {.name = "tcp_keepcnt", .field = &Config::tcp_keepcnt},
      {.name = "tcp_keepidle", .field = &Config::tcp_keepidle},
      {.name = "tcp_keepintvl", .field = &Config::tcp_keepintvl},
      {.name = "tcp_socket_buffer", .field = &Config::tcp_socket_buffer},
      {.name = "tcp_user_timeout", .field = &Config::tcp_user_timeout},
      {.name = "track_extra_parameters", .field = &Config::track_extra_parameters},
      {.name = "transaction_timeout", .field = &Config::transaction_timeout},
      {.name = "unix_socket_dir", .field = &Config::unix_socket_dir, .changeable = kRestart},
      {.name = "unix_socket_group", .field = &Config::unix_socket_group, .changeable = kRestart},
      {.name = "unix_socket_mode", .field = &Config::unix_socket_mode, .changeable = kRestart,
       .max = 0777, .base = 8},
      {.name = "user", .field = &Config::user, .changeable = kRestart},
      {.name = "verbose", .field = &Config::verbose},
      {.name = "workers", .field = &Config::workers, .changeable = kRestart, .max = 1024},
  };
  // clang-format on
}

struct Applier {
  Config& config;
  const SettingSpec& spec;
  std::string_view value;

  Status operator()(int Config::*p) const {
    auto v = parse_integer(value, spec.min, spec.max, spec.base);
    if (!v.ok()) return v.take_error();
    config.*p = static_cast<int>(std::min(*v, kIntMax));  // see kUintMax
    return ok_status();
  }
  Status operator()(bool Config::*p) const {
    auto v = parse_bool(value);
    if (!v.ok()) return v.take_error();
    config.*p = *v;
    return ok_status();
  }
  Status operator()(Duration Config::*p) const {
    auto v = parse_duration(value);
    if (!v.ok()) return v.take_error();
    config.*p = *v;
    return ok_status();
  }
  Status operator()(std::string Config::*p) const {
    if (spec.allowed.empty()) {
      config.*p = std::string(value);
      return ok_status();
    }
    const std::string lower = to_lower(trim(value));
    const std::vector<std::string> allowed = split_list(spec.allowed);
    for (const auto& a : allowed) {
      if (a == lower) {
        config.*p = lower;
        return ok_status();
      }
    }
    std::string expected = "expected ";
    for (size_t i = 0; i < allowed.size(); ++i) {
      if (i > 0) expected += (i + 1 == allowed.size()) ? " or " : ", ";
      expected += allowed[i];
    }
    return config_error(std::move(expected));
  }
  Status operator()(std::vector<std::string> Config::*p) const {
    std::vector<std::string> items = split_list(value);
    if (spec.max_items != 0 && items.size() > spec.max_items) {
      return config_error("expected at most " + std::to_string(spec.max_items) + " items");
    }
    if (spec.item != nullptr) {
      for (size_t i = 0; i < items.size(); ++i) {
        auto canonical = spec.item(items[i]);
        if (!canonical.ok()) {
          return config_error("item " + std::to_string(i + 1) + ": " + canonical.error().message);
        }
        items[i] = std::move(*canonical);
      }
    }
    config.*p = std::move(items);
    return ok_status();
  }
  Status operator()(PoolMode Config::*p) const {
    auto v = parse_pool_mode(value);
    if (!v.ok()) return v.take_error();
    config.*p = *v;
    return ok_status();
  }
  Status operator()(AuthType Config::*p) const {
    auto v = parse_auth_type(value);
    if (!v.ok()) return v.take_error();
    config.*p = *v;
    return ok_status();
  }
  Status operator()(ByteSize Config::*p) const {
    auto v = parse_byte_size(value, spec.min, spec.max);
    if (!v.ok()) return v.take_error();
    config.*p = *v;
    return ok_status();
  }
  Status operator()(CacheInvalidation Config::*p) const {
    auto v = parse_cache_invalidation(value);
    if (!v.ok()) return v.take_error();
    config.*p = *v;
    return ok_status();
  }
};

struct Formatter {
  const Config& config;
  const SettingSpec& spec;

  std::string operator()(int Config::*p) const {
    const int v = config.*p;
    if (spec.base != 8) return std::to_string(v);
    std::string out;
    for (int m = v; m > 0; m /= 8)
      out.insert(out.begin(), static_cast<char>('0' + m % 8));
    return "0" + out;
  }
  std::string operator()(bool Config::*p) const { return config.*p ? "1" : "0"; }
  std::string operator()(Duration Config::*p) const { return format_duration(config.*p); }
  std::string operator()(std::string Config::*p) const { return config.*p; }
  std::string operator()(std::vector<std::string> Config::*p) const { return join_list(config.*p); }
  std::string operator()(PoolMode Config::*p) const { return std::string(to_string(config.*p)); }
  std::string operator()(AuthType Config::*p) const { return std::string(to_string(config.*p)); }
  std::string operator()(ByteSize Config::*p) const { return format_byte_size(config.*p); }
  std::string operator()(CacheInvalidation Config::*p) const {
    return std::string(to_string(config.*p));
  }
};

}  // namespace

const std::vector<SettingSpec>& setting_specs() {
  static const std::vector<SettingSpec> specs = make_specs();
  return specs;
}

const SettingSpec* find_setting(std::string_view key) {
  const std::string lower = to_lower(key);
  for (const auto& spec : setting_specs()) {
    if (spec.name == lower) return &spec;
  }
  return nullptr;
}

Status apply_setting(Config& config, const SettingSpec& spec, std::string_view value) {
  return std::visit(Applier{config, spec, value}, spec.field);
}

std::string format_setting(const Config& config, const SettingSpec& spec) {
  return std::visit(Formatter{config, spec}, spec.field);
}

std::vector<ConfigRow> describe(const Config& config) {
  const Config defaults;
  std::vector<ConfigRow> rows;
  for (const auto& spec : setting_specs()) {
    if (spec.alias) continue;
    ConfigRow row;
    row.key = std::string(spec.name);
    row.value = format_setting(config, spec);
    row.default_value = format_setting(defaults, spec);
    row.changeable = spec.changeable;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace usher::config
