// SHOW <what>: finds the command (show_commands.h says where each one
// lives) and answers the small ones itself: VERSION, STATE, DNS_HOSTS,
// DNS_ZONES and PgBouncer's made-up settings.
#include "admin/show.h"

#include <algorithm>
#include <cctype>

#include "admin/show_commands.h"
#include "version.h"

namespace usher::admin {

namespace asio = boost::asio;

namespace {

asio::awaitable<std::vector<session::ClientInfo>> gather_clients(Control& control) {
  std::vector<session::ClientInfo> all;
  auto now = Clock::now();
  for (int i = 0; i < control.worker_count(); ++i) {
    auto& w = control.worker(i);
    auto part = co_await asio::co_spawn(
        w.io,
        [&w, now]() -> asio::awaitable<std::vector<session::ClientInfo>> {
          std::vector<session::ClientInfo> v;
          for (auto& weak : w.sessions) {
            if (auto s = weak.lock()) v.push_back(s->info(now));
          }
          co_return v;
        },
        asio::use_awaitable);
    all.insert(all.end(), part.begin(), part.end());
  }
  co_return all;
}

ResultSet show_version(Control&) {
  ResultSet rs({{"version", kText}});
  rs.add({std::string(kVersionString)});
  return rs;
}

// Usher has no SUSPEND (PgBouncer 1.26 dropped it too): never suspended.
ResultSet show_state(Control& control) {
  ResultSet rs({{"key", kText}, {"value", kText}});
  rs.add({"active", control.paused() ? "no" : "yes"});
  rs.add({"paused", control.paused() ? "yes" : "no"});
  rs.add({"suspended", "no"});
  return rs;
}

// Usher resolves host names when it connects and keeps no DNS cache.
ResultSet show_dns_hosts(Control&) {
  return ResultSet({{"hostname", kText}, {"ttl", kInt8}, {"addrs", kText}});
}
ResultSet show_dns_zones(Control&) {
  return ResultSet({{"zonename", kText}, {"serial", kInt8}, {"count", kInt4}});
}

// Settings that drivers SHOW or SET on connect, answered with PgBouncer's
// made-up values so that they work against the console.
struct FakeParam {
  const char* name;
  const char* value;
};
constexpr FakeParam kFakeParams[] = {{"client_encoding", "UTF-8"},
                                     {"default_transaction_isolation", "read committed"},
                                     {"standard_conforming_strings", "on"},
                                     {"datestyle", "ISO"},
                                     {"timezone", "GMT"},
                                     {"extra_float_digits", "2"}};

const FakeParam* find_fake_param(std::string_view name) {
  for (const auto& p : kFakeParams) {
    if (strcasecmp_view(name, p.name)) return &p;
  }
  return nullptr;
}

using ClientsShow = ResultSet (*)(Control&, const std::vector<session::ClientInfo>&);
using PlainShow = ResultSet (*)(Control&);

ResultSet show_clients_here(Control& control, const std::vector<session::ClientInfo>& c) {
  return show_clients(c, control.config()->listen_port);
}

// SHOW commands that read the client sessions (gathered from every worker).
constexpr std::pair<const char*, ClientsShow> kClientsShows[] = {{"clients", show_clients_here},
                                                                 {"servers", show_servers},
                                                                 {"lists", show_lists},
                                                                 {"databases", show_databases}};

constexpr std::pair<const char*, PlainShow> kPlainShows[] = {
    {"pools", show_pools},
    {"stats", show_stats},
    {"stats_totals", show_stats_totals},
    {"stats_averages", show_stats_averages},
    {"totals", show_totals},
    {"users", show_users},
    {"peers", show_peers},
    {"peer_pools", show_peer_pools},
    {"config", show_config},
    {"version", show_version},
    {"state", show_state},
    {"dns_hosts", show_dns_hosts},
    {"dns_zones", show_dns_zones},
    {"prepared_statements", show_prepared_statements},
    {"cache", show_cache},
    {"cache_queries", show_cache_queries}};

}  // namespace

bool strcasecmp_view(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// PgBouncer 1.26's text: 1.25's without SHOW FDS and SUSPEND, which it
// removed. SOCKETS, ACTIVE_SOCKETS and MEM stay listed there although Usher
// has no such internals (it refuses them, docs/configuration.md).
std::string help_text() {
  return "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
         "\tSHOW PEERS|PEER_POOLS\n"
         "\tSHOW SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
         "\tSHOW DNS_HOSTS|DNS_ZONES\n"
         "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
         "\tSET key = arg\n"
         "\tRELOAD\n"
         "\tPAUSE [<db>]\n"
         "\tRESUME [<db>]\n"
         "\tDISABLE <db>\n"
         "\tENABLE <db>\n"
         "\tRECONNECT [<db>]\n"
         "\tKILL [<db>]\n"
         "\tKILL_CLIENT <client_id>\n"
         "\tSHUTDOWN\n"
         "\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
         "\tWAIT_CLOSE [<db>]";
}

std::optional<ResultSet> fake_show(std::string_view name) {
  const FakeParam* p = find_fake_param(name);
  if (p == nullptr) return std::nullopt;
  ResultSet rs({{p->name, kText}});
  rs.add({std::string(p->value)});
  return rs;
}

bool is_fake_param(std::string_view name) {
  return find_fake_param(name) != nullptr;
}

asio::awaitable<std::optional<ResultSet>> show(Control& control, std::string_view what) {
  for (const auto& [name, fn] : kClientsShows) {
    if (strcasecmp_view(what, name)) co_return fn(control, co_await gather_clients(control));
  }
  for (const auto& [name, fn] : kPlainShows) {
    if (strcasecmp_view(what, name)) co_return fn(control);
  }
  co_return std::nullopt;
}

}  // namespace usher::admin
