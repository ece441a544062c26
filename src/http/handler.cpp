#include "http/handler.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/json.hpp>
#include <map>
#include <string_view>

#include "admin/console_commands.h"
#include "admin/show.h"
#include "http/assets.h"
#include "http/bearer.h"
#include "http/cors.h"
#include "http/json_result.h"
#include "http/metrics.h"
#include "pool/latency.h"
#include "protocol/sqlstate.h"

namespace usher::http {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::string_view kApiPrefix = "/api/v1/";
constexpr std::string_view kActionsPrefix = "/api/v1/actions/";
constexpr std::string_view kLatencyPath = "/api/v1/latency";

// The console's SHOW commands that /api/v1/<name> answers.
constexpr std::array<std::string_view, 20> kShows = {
    "cache",          "cache_queries",       "clients", "config",     "databases",
    "dns_hosts",      "dns_zones",           "lists",   "peer_pools", "peers",
    "pools",          "prepared_statements", "servers", "state",      "stats",
    "stats_averages", "stats_totals",        "totals",  "users",      "version"};

// The console's commands that POST /api/v1/actions/<name> runs, and the
// query parameters each takes (the console's arguments).
struct Action {
  std::string_view name;
  std::string_view command;  // the console's word
  std::string_view arg;      // the parameter that is the argument, if any
  bool arg_required = false;
};
constexpr Action kActions[] = {
    {"pause", "pause", "database"},
    {"resume", "resume", "database"},
    {"reload", "reload", {}},
    {"reconnect", "reconnect", "database"},
    {"kill", "kill", "database"},
    {"disable", "disable", "database", true},
    {"enable", "enable", "database", true},
    {"kill_client", "kill_client", "id", true},
    {"cache_flush", "cache", "database"},
};
// A parameter longer than this is no database name (PgBouncer's limit for
// the console's arguments is lower still).
constexpr size_t kMaxParamLength = 256;

// The Host header's name without its port: an IP address, "localhost" or
// http_listen_addr, which no other site's DNS name can pass for.
bool trusted_host(std::string_view host, const config::Config& cfg) {
  if (host.starts_with('[')) return host.find(']') != std::string_view::npos;  // IPv6
  host = host.substr(0, host.find(':'));
  if (host.empty()) return false;
  if (host == "localhost" || host == cfg.http_listen_addr) return true;
  boost::system::error_code ec;
  asio::ip::make_address_v4(std::string(host), ec);
  return !ec;
}

Response json_response(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  r.body += '\n';
  return r;
}

Response error_response(int status, std::string_view message) {
  return json_response(status, json::object{{"error", message}});
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: '+' is a space, %XX a byte. nullopt
// for a broken escape.
std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int a = hex(s[i + 1]), b = hex(s[i + 2]);
      if (a < 0 || b < 0) return std::nullopt;
      out += static_cast<char>(a * 16 + b);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The query string's parameters; nullopt when one is malformed, repeated
// or too long.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    auto key = url_decode(item.substr(0, eq));
    auto value =
        url_decode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!key || !value || value->size() > kMaxParamLength || value->find('\0') != std::string::npos)
      return std::nullopt;
    if (!out.emplace(std::move(*key), std::move(*value)).second) return std::nullopt;
  }
  return out;
}

bool is_read(std::string_view method) {
  return method == "GET" || method == "HEAD";
}

Response method_not_allowed(std::string_view allow) {
  Response r = error_response(405, "method not allowed");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

Response unauthorized(std::string_view why) {
  Response r = error_response(401, why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"usher\"");
  return r;
}

Response live() {
  return json_response(200, json::object{{"status", "live"}});
}

// Not ready while paused or shutting down, or while some configured
// database's every pool could not reach its server and holds none (a
// database a client made up through the "*" entry, or a refused login,
// says nothing about this instance). The reasons only to readers: they
// name databases and quote server errors; and at most kMaxReasons.
constexpr size_t kMaxReasons = 10;

Response ready(admin::Control& control, const config::Config& cfg, bool reader) {
  json::array reasons;
  if (control.paused()) reasons.emplace_back("paused");
  if (control.shutdown_mode() != admin::ShutdownMode::kNone) reasons.emplace_back("shutting down");
  struct DbState {
    bool reachable = false;
    std::string error;
  };
  std::map<std::string, DbState> dbs;
  const auto now = pool::Clock::now();
  for (const auto& p : control.pools().all()) {
    if (cfg.databases.count(p->database()) == 0) continue;
    DbState& d = dbs[p->database()];
    auto failing = p->unreachable();
    if (!failing || p->counts(now).total > 0) {
      d.reachable = true;
    } else if (d.error.empty()) {
      d.error = failing->message;
    }
  }
  for (const auto& [db, d] : dbs) {
    if (!d.reachable)
      reasons.emplace_back("database " + db + ": cannot reach a server: " + d.error);
  }
  if (reasons.empty()) return json_response(200, json::object{{"status", "ready"}});
  if (!reader) return json_response(503, json::object{{"status", "not ready"}});
  if (reasons.size() > kMaxReasons) reasons.resize(kMaxReasons);
  return json_response(503, json::object{{"status", "not ready"}, {"reasons", std::move(reasons)}});
}

// The latency histograms of every pool together, buckets not cumulative,
// for the dashboard (which computes percentiles from two readings).
json::value latency(admin::Control& control) {
  constexpr std::pair<pool::Latency, std::string_view> kKinds[] = {
      {pool::Latency::kQuery, "query"},
      {pool::Latency::kXact, "transaction"},
      {pool::Latency::kWait, "wait"},
      {pool::Latency::kConnect, "connect"}};
  pool::LatencySnapshot sums[std::size(kKinds)];
  for (const auto& p : control.pools().all()) {
    for (size_t k = 0; k < std::size(kKinds); ++k)
      sums[k].add(p->stats().latency(kKinds[k].first));
  }
  json::array bounds;
  for (uint64_t us : pool::kLatencyBoundsUs)
    bounds.emplace_back(static_cast<double>(us) / 1e6);
  json::object out{{"bounds_seconds", std::move(bounds)}};
  for (size_t k = 0; k < std::size(kKinds); ++k) {
    json::array counts;
    for (uint64_t c : sums[k].counts)
      counts.emplace_back(c);
    out[kKinds[k].second] = json::object{
        {"counts", std::move(counts)}, {"sum_seconds", static_cast<double>(sums[k].sum_us) / 1e6}};
  }
  return out;
}

json::value index() {
  json::array shows, actions;
  for (auto s : kShows)
    shows.emplace_back(std::string(kApiPrefix) + std::string(s));
  shows.emplace_back(std::string(kLatencyPath));
  for (const Action& a : kActions)
    actions.emplace_back(std::string(kActionsPrefix) + std::string(a.name));
  return json::object{{"get", std::move(shows)}, {"post", std::move(actions)}};
}

asio::awaitable<Response> run_action(admin::Control& control, const Action& action,
                                     const std::map<std::string, std::string>& params,
                                     std::string_view peer) {
  for (const auto& [key, value] : params) {
    if (key != action.arg && !(action.name == "cache_flush" && key == "table"))
      co_return error_response(400, "unknown parameter: " + key);
  }
  admin::Command cmd;
  cmd.name = std::string(action.command);
  for (const auto& [key, value] : params) {
    // The console refuses PAUSE ''; here an empty name would mean "every
    // database" to the command, which nobody asking for one database wants.
    if (value.empty()) co_return error_response(400, "parameter " + key + " is empty");
  }
  auto arg = action.arg.empty() ? params.end() : params.find(std::string(action.arg));
  if (action.arg_required && arg == params.end())
    co_return error_response(400, "parameter " + std::string(action.arg) + " is required");
  std::string query(action.command);
  if (action.name == "cache_flush") {
    // CACHE FLUSH [db [table]]: "flush" is the argument, the rest follow.
    cmd.arg = "flush";
    if (arg != params.end()) cmd.more.push_back(arg->second);
    if (auto t = params.find("table"); t != params.end()) {
      if (arg == params.end()) co_return error_response(400, "parameter table needs database");
      cmd.more.push_back(t->second);
    }
  } else if (arg != params.end()) {
    cmd.arg = arg->second;
    query += " " + arg->second;
  }
  std::string out;
  // The command logs itself as the console's do; this says who asked.
  spdlog::info("HTTP action {} from {}", action.name, peer);
  auto reply = co_await admin::run_command(true, control, query, cmd, out);
  if (!reply) {
    const bool config = reply.error().sqlstate == admin::kConfigFileError;
    co_return json_response(config ? 500 : 400, json::object{{"error", reply.error().message},
                                                             {"sqlstate", reply.error().sqlstate}});
  }
  co_return json_response(200, json::object{{"ok", true}, {"command", *reply}});
}

asio::awaitable<Response> route(admin::Control& control, const Request& req,
                                const config::Config& cfg) {
  const std::string_view path = req.path;
  // A reader: the token, or public reads from a page that names the
  // endpoint by address (below).
  const bool token = bearer_matches(req.authorization, cfg.http_auth_token);
  const bool reader = token || (cfg.http_public_read && trusted_host(req.host, cfg));
  if (path == "/health/live" || path == "/health/ready") {
    if (!is_read(req.method)) co_return method_not_allowed("GET, HEAD");
    co_return path == "/health/live" ? live() : ready(control, cfg, reader);
  }
  if (const Asset* asset = find_asset(path)) {
    // The page and its files are public: they hold no data. What they
    // fetch needs a reader's rights like any other request.
    if (!is_read(req.method)) co_return method_not_allowed("GET, HEAD");
    Response r;
    r.content_type = std::string(asset->content_type);
    r.body = std::string(asset->body);
    r.headers.emplace_back("Content-Security-Policy", std::string(kDashboardPolicy));
    co_return r;
  }
  const bool is_metrics = path == "/metrics";
  const bool is_api = path == "/api/v1" || path.starts_with(kApiPrefix);
  if (!is_metrics && !is_api) co_return error_response(404, "not found");

  // Who is asking: a token that is sent must be the right one, even where
  // none is needed, so that a wrong one is noticed and never half-works.
  const bool sent = !req.authorization.empty();
  if (sent && !token) {
    spdlog::warn("HTTP {} {} from {}: wrong bearer token", req.method, req.path, req.peer);
    co_return unauthorized("wrong bearer token");
  }
  const bool actions = path.starts_with(kActionsPrefix);
  if (actions) {
    if (req.method != "POST") co_return method_not_allowed("POST");
    if (cfg.http_auth_token.empty())
      co_return error_response(403, "actions need a bearer token: set http_auth_token_file");
    if (!token) co_return unauthorized("actions need the bearer token");
    const std::string_view name = path.substr(kActionsPrefix.size());
    auto params = parse_query(req.query);
    if (!params) co_return error_response(400, "malformed query string");
    for (const Action& a : kActions) {
      if (a.name == name) co_return co_await run_action(control, a, *params, req.peer);
    }
    co_return error_response(404, "no such action");
  }
  if (!is_read(req.method)) co_return method_not_allowed("GET, HEAD");
  if (!token && !cfg.http_public_read) {
    co_return unauthorized(cfg.http_auth_token.empty()
                               ? "reading needs http_public_read = on or http_auth_token_file"
                               : "reading needs the bearer token (http_public_read is off)");
  }
  if (!reader) {
    // DNS rebinding: a page of evil.example whose name now points at
    // 127.0.0.1 reaches the endpoint as "same origin", and only the Host
    // header tells. Public reads answer only an address or localhost.
    co_return error_response(421,
                             "public reads answer only requests to an address or "
                             "localhost; send the bearer token");
  }
  if (is_metrics) {
    Response r;
    r.content_type = std::string(kPrometheusText);
    r.body = co_await render_metrics(control);
    co_return r;
  }
  if (path == "/api/v1") co_return json_response(200, index());
  if (path == kLatencyPath) co_return json_response(200, latency(control));
  const std::string_view name = path.substr(kApiPrefix.size());
  for (auto s : kShows) {
    if (s != name) continue;
    auto rs = co_await admin::show(control, name);
    if (!rs) break;
    co_return json_response(200, to_json(*rs));
  }
  co_return error_response(404, "not found");
}

}  // namespace

asio::awaitable<Response> handle(admin::Control& control, const Request& req) {
  const auto cfg = control.config();
  const CorsPolicy policy{cfg->http_cors_origins, cfg->http_cors_allow_credentials};
  if (is_preflight(req)) co_return answer_preflight(policy, req);
  Response r = co_await route(control, req, *cfg);
  r.head_only = req.method == "HEAD";
  add_cors_headers(policy, req.origin, r.headers);
  co_return r;
}

}  // namespace usher::http
