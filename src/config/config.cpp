#include "config/config.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "config/auth_file.h"
#include "config/http_origin.h"
#include "config/settings.h"
#include "protocol/cancel_key.h"

namespace usher::config {

namespace {

namespace fs = std::filesystem;

// A path as PgBouncer opens it (from the working directory), or beside the
// configuration file when that is where it is.
std::string beside_config(const Config& c, const std::string& file) {
  if (!fs::path(file).is_relative()) return file;
  const fs::path beside = fs::path(c.config_path).parent_path() / file;
  std::error_code ec;
  return fs::exists(beside, ec) || !fs::exists(fs::path(file), ec) ? beside.string() : file;
}

// Section names compare case-insensitively: PgBouncer is exact, but nobody
// means anything else by [PgBouncer].
constexpr std::string_view kMainSection = "pgbouncer";
constexpr std::string_view kDatabasesSection = "databases";
constexpr std::string_view kUsersSection = "users";
constexpr std::string_view kPeersSection = "peers";

// PgBouncer reads a [peers] key as a number from 1 to 65535, so an entry
// above protocol::kMaxPeerId (the cancel key holds 14 bits of it) loads
// there although no peer_id can ever match it.
constexpr int kMaxPeerKey = 65535;

// Each tracked name costs every client that sets it and every server a slot.
constexpr size_t kMaxTrackExtraParameters = 32;

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

class Builder {
 public:
  explicit Builder(const std::string& path) {
    result_.config.config_path = path;
    result_.config.conffile = path;
  }

  Result<LoadResult> build(const IniDocument& doc) {
    result_.warnings = doc.warnings;
    result_.files = doc.files;
    bool has_main = false;
    for (const auto& section : doc.sections) {
      const std::string name = to_lower(section.name);
      if (name == kMainSection) {
        has_main = true;
      } else if (name != kDatabasesSection && name != kUsersSection && name != kPeersSection) {
        warn(section.where, "unknown section [" + section.name + "] ignored");
      }
    }
    if (!has_main) {
      return config_error(result_.config.config_path + ": missing [pgbouncer] section");
    }
    for (const auto& entry : doc.entries) {
      const std::string section = to_lower(entry.section);
      Status status = ok_status();
      if (section == kMainSection) {
        status = set_main(entry);
      } else if (section == kDatabasesSection) {
        status = add_database(entry);
      } else if (section == kUsersSection) {
        status = add_user(entry);
      } else if (section == kPeersSection) {
        status = add_peer(entry);
      }
      if (!status.ok()) return status.take_error();
    }
    Status status = validate();
    if (!status.ok()) return status.take_error();
    status = load_users();
    if (status.ok()) status = load_hba();
    if (status.ok()) status = load_http();
    if (!status.ok()) return status.take_error();
    return std::move(result_);
  }

 private:
  Config& config() { return result_.config; }

  void warn(const SourceLocation& where, const std::string& message) {
    result_.warnings.push_back(where.str() + ": " + message);
  }

  Status set_main(const IniEntry& entry) {
    const SettingSpec* spec = find_setting(entry.key);
    if (spec == nullptr) {
      warn(entry.where, "unknown setting " + in_quotes(entry.key) + " in [pgbouncer] ignored");
      return ok_status();
    }
    Status status = apply_setting(config(), *spec, entry.value);
    if (!status.ok()) {
      return config_error(entry.where.str() + ": invalid value for " + std::string(spec->name) +
                          ": " + status.error().message);
    }
    set_at_[std::string(spec->name)] = entry.where;
    return ok_status();
  }

  Status add_database(const IniEntry& entry) {
    const std::string& name = entry.key;
    if (name == kConsoleDatabase) {
      return config_error(entry.where.str() + ": database name " + in_quotes(kConsoleDatabase) +
                          " is reserved for the admin console");
    }
    auto conn = parse_connstr(entry.value);
    if (!conn.ok()) {
      return config_error(entry.where.str() + ": [databases] entry: " + conn.error().message);
    }
    DatabaseConfig db;
    static_cast<ConnString&>(db) = std::move(*conn);
    db.name = name;
    db.where = entry.where;
    if (name == "*") {
      // dbname stays unset: it becomes the name each client asks for.
      if (config().fallback_database) {
        warn(entry.where, "database \"*\" defined again (first at " +
                              config().fallback_database->where.str() + "); this one is used");
      }
      config().fallback_database = std::move(db);
      return ok_status();
    }
    if (!db.dbname) db.dbname = name;
    auto [it, inserted] = config().databases.try_emplace(name);
    if (!inserted) {
      warn(entry.where, "database " + in_quotes(name) + " defined again (first at " +
                            it->second.where.str() + "); this one is used");
    }
    it->second = std::move(db);
    return ok_status();
  }

  Status add_user(const IniEntry& entry) {
    auto settings = parse_user_settings(entry.value);
    if (!settings.ok()) {
      return config_error(entry.where.str() + ": [users] entry: " + settings.error().message);
    }
    UserConfig user;
    static_cast<UserSettings&>(user) = std::move(*settings);
    user.name = entry.key;
    user.where = entry.where;
    config().users[entry.key] = std::move(user);
    return ok_status();
  }

  // "<peer_id> = host=... port=... pool_size=...", as in PgBouncer.
  Status add_peer(const IniEntry& entry) {
    const std::string at = entry.where.str() + ": [peers] entry: ";
    auto id = parse_int(entry.key, 1, kMaxPeerKey);
    if (!id.ok()) return config_error(at + "the key must be a peer_id from 1 to 65535");
    auto pairs = parse_key_values(entry.value);
    if (!pairs.ok()) return config_error(at + pairs.error().message);
    PeerConfig peer;
    peer.peer_id = *id;
    peer.where = entry.where;
    for (const auto& kv : *pairs) {
      if (kv.key == "host") {
        peer.host = kv.value;
      } else if (kv.key == "port" || kv.key == "pool_size") {
        auto v = kv.key == "port" ? parse_int(kv.value, 1, 65535) : parse_int(kv.value, 0, 1 << 30);
        if (!v.ok())
          return config_error(at + "invalid value for " + kv.key + ": " + v.error().message);
        if (kv.key == "port") {
          peer.port = *v;
        } else {
          peer.pool_size = *v;
        }
      } else {
        return config_error(at + "unknown key (known keys: host, port, pool_size)");
      }
    }
    if (peer.host.empty()) {
      return config_error(at + "host was not provided for peer " + std::to_string(*id));
    }
    if (*id > protocol::kMaxPeerId) {
      warn(entry.where, "[peers] entry " + std::to_string(*id) +
                            " ignored: no peer_id is above 16383, so no cancel request can "
                            "belong to it");
      return ok_status();
    }
    config().peers[*id] = std::move(peer);
    return ok_status();
  }

  // "file:line: " of the key's last assignment, or "file: " for a default.
  std::string at(const std::string& key) const {
    auto it = set_at_.find(key);
    if (it == set_at_.end()) return result_.config.config_path + ": ";
    return it->second.str() + ": ";
  }

  Status validate() {
    const Config& c = result_.config;
    if (c.listen_addr.empty() && c.unix_socket_dir.empty()) {
      return config_error(at("listen_addr") +
                          "neither listen_addr nor unix_socket_dir is set, so no client could "
                          "connect");
    }
    if (c.stats_period.count() <= 0) {
      return config_error(at("stats_period") + "stats_period must be greater than 0");
    }
    if (c.track_extra_parameters.size() > kMaxTrackExtraParameters) {
      return config_error(at("track_extra_parameters") + "track_extra_parameters: at most " +
                          std::to_string(kMaxTrackExtraParameters) + " names");
    }
    for (const auto& name : c.track_extra_parameters) {
      if (strcasecmp(name.c_str(), "options") == 0) {
        return config_error(at("track_extra_parameters") +
                            "track_extra_parameters: \"options\" cannot be tracked, only the "
                            "parameters inside it");
      }
    }
    if (Status cors = check_http_cors(c); !cors.ok())
      return config_error(at("http_cors_allow_credentials") + cors.error().message);
    if (Status limits = check_query_cache_limits(c); !limits.ok()) {
      // Point at the line the operator wrote: a small query_cache_size
      // under the default query_cache_max_entry is its own mistake.
      if (set_at_.count("query_cache_max_entry") == 0) {
        return config_error(at("query_cache_size") +
                            "query_cache_size is smaller than query_cache_max_entry (default " +
                            format_byte_size(Config{}.query_cache_max_entry) +
                            "); lower query_cache_max_entry too");
      }
      return config_error(at("query_cache_max_entry") + limits.error().message);
    }
    if (!c.query_cache_replication_user.empty() &&
        c.query_cache_invalidation == CacheInvalidation::kProxy) {
      result_.warnings.push_back(
          at("query_cache_replication_user") +
          "query_cache_replication_user is not used: query_cache_invalidation is proxy");
    }
    if (c.auth_type == AuthType::kAny) {
      for (const auto& [name, db] : c.databases) {
        if (!db.user) {
          warn(db.where, "auth_type is any but database " + in_quotes(name) +
                             " has no user=, so clients log in to the server under any name "
                             "they give");
        }
      }
    }
    return ok_status();
  }

  Status load_users() {
    const std::string& file = result_.config.auth_file;
    if (file.empty()) return ok_status();
    // PgBouncer opens a relative auth_file from its working directory; a
    // path beside the config file is what people mean when they move both.
    const std::string path = beside_config(result_.config, file);
    auto users = load_auth_file(path);
    if (!users.ok()) {
      return config_error(at("auth_file") + "cannot load auth_file: " + users.error().message);
    }
    result_.config.auth_users = std::move(*users);
    result_.files.push_back(path);
    return ok_status();
  }

  Status load_hba() {
    const Config& c = result_.config;
    if (c.auth_type != AuthType::kHba) return ok_status();
    if (c.auth_hba_file.empty())
      return config_error(at("auth_type") + "auth_type = hba needs auth_hba_file");
    const std::string path = beside_config(c, c.auth_hba_file);
    if (!fs::exists(path))
      return config_error(at("auth_hba_file") + "cannot read auth_hba_file " + path);
    // Its own errors name the hba file and line.
    return load_hba_rules(result_.config, &result_.files);
  }

  Status load_http() {
    Status st = load_http_token(result_.config, &result_.files);
    if (!st) return config_error(at("http_auth_token_file") + st.error().message);
    return ok_status();
  }

  LoadResult result_;
  std::map<std::string, SourceLocation> set_at_;
};

}  // namespace

Result<LoadResult> build_config(const IniDocument& doc, const std::string& path) {
  return Builder(path).build(doc);
}

Result<LoadResult> load_config(const std::string& path) {
  auto doc = read_ini_file(path);
  if (!doc.ok()) return doc.take_error();
  return build_config(*doc, path);
}

Status load_hba_rules(Config& c, std::vector<std::string>* files) {
  c.hba_rules.clear();
  c.ident_entries.clear();
  if (c.auth_type != AuthType::kHba) return ok_status();
  if (c.auth_hba_file.empty()) return config_error("auth_type = hba needs auth_hba_file");
  const std::string path = beside_config(c, c.auth_hba_file);
  auto read = [](const std::string& p) -> std::optional<std::string> {
    std::ifstream in(p, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  auto text = read(path);
  if (!text) return config_error("cannot read auth_hba_file " + path);
  const fs::path dir = fs::path(path).parent_path();
  auto include = [&](const std::string& name) {
    const fs::path p = fs::path(name).is_relative() ? dir / name : fs::path(name);
    if (files) files->push_back(p.string());
    return read(p.string());
  };
  auto rules = auth::parse_hba(*text, path, include);
  if (!rules) return config_error(rules.error().message);
  if (files) files->push_back(path);
  if (!c.auth_ident_file.empty()) {
    const std::string ident_path = beside_config(c, c.auth_ident_file);
    auto ident_text = read(ident_path);
    if (!ident_text) return config_error("cannot read auth_ident_file " + ident_path);
    auto entries = auth::parse_ident(*ident_text, ident_path);
    if (!entries) return config_error(entries.error().message);
    c.ident_entries = std::move(*entries);
    if (files) files->push_back(ident_path);
  } else {
    for (const auth::HbaRule& r : *rules) {
      if (!r.map.empty())
        return config_error(path + ":" + std::to_string(r.line) + ": map=" + r.map +
                            " needs auth_ident_file");
    }
  }
  c.hba_rules = std::move(*rules);
  return ok_status();
}

Status load_http_token(Config& c, std::vector<std::string>* files) {
  // A token longer than this is no typo but a wrong file (a key, a log).
  constexpr size_t kMaxToken = 4096;
  c.http_auth_token.clear();
  if (c.http_auth_token_file.empty()) return ok_status();
  const std::string path = beside_config(c, c.http_auth_token_file);
  std::ifstream in(path, std::ios::binary);
  std::string token;
  if (in) std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t'))
    token.pop_back();
  // Only the file's name: never a word of its content.
  if (!in && !in.eof()) return config_error("cannot read http_auth_token_file " + path);
  if (token.empty())
    return config_error("http_auth_token_file " + path + " has no token on its first line");
  if (token.size() > kMaxToken)
    return config_error("http_auth_token_file " + path + ": the token is longer than " +
                        std::to_string(kMaxToken) + " characters");
  // RFC 6750's token68 characters, so that the header compares byte for byte.
  const bool token68 = std::all_of(token.begin(), token.end(), [](unsigned char ch) {
    return std::isalnum(ch) ||
           std::string_view("-._~+/=").find(static_cast<char>(ch)) != std::string_view::npos;
  });
  if (!token68)
    return config_error("http_auth_token_file " + path +
                        ": the token may hold only letters, digits and -._~+/=");
  c.http_auth_token = std::move(token);
  if (files) files->push_back(path);
  return ok_status();
}

Status check_http_cors(const Config& c) {
  const bool any = std::find(c.http_cors_origins.begin(), c.http_cors_origins.end(), kAnyOrigin) !=
                   c.http_cors_origins.end();
  // The Fetch standard refuses credentials with "*"; answering the
  // caller's origin instead would hand any site the user's access.
  if (any && c.http_cors_allow_credentials)
    return config_error("http_cors_origins = * cannot go with http_cors_allow_credentials = on");
  return ok_status();
}

Status check_query_cache_limits(const Config& config) {
  if (config.query_cache_max_entry > config.query_cache_size) {
    return config_error("query_cache_max_entry must not be larger than query_cache_size");
  }
  return ok_status();
}

bool query_cache_enabled(const Config& config, const DatabaseConfig* db, const UserConfig* user) {
  if (user != nullptr && user->query_cache) return *user->query_cache;
  if (db != nullptr && db->query_cache) return *db->query_cache;
  return config.query_cache;
}

TcpOptions tcp_options(const Config& c) {
  return {.keepalive = c.tcp_keepalive,
          .keepcnt = c.tcp_keepcnt,
          .keepidle = c.tcp_keepidle,
          .keepintvl = c.tcp_keepintvl,
          .user_timeout_ms = c.tcp_user_timeout,
          .socket_buffer = c.tcp_socket_buffer};
}

std::optional<DatabaseConfig> find_database(const Config& config, std::string_view name) {
  const auto it = config.databases.find(std::string(name));
  if (it != config.databases.end()) return it->second;
  if (!config.fallback_database) return std::nullopt;
  DatabaseConfig db = *config.fallback_database;
  db.name = std::string(name);
  if (!db.dbname) db.dbname = std::string(name);
  return db;
}

}  // namespace usher::config
