// PgBouncer's admin commands (admin.c): SHOW, RELOAD, PAUSE, RESUME,
// DISABLE, ENABLE, RECONNECT, KILL, KILL_CLIENT, SHUTDOWN, WAIT_CLOSE and
// SET, as console.cpp parses them.
#include "admin/console_commands.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>

#include "admin/show.h"
#include "protocol/writer.h"
#include "session/client_session.h"

namespace usher::admin {

namespace asio = boost::asio;

namespace {

// The console's database: commands that take a database refuse it.

// How often PAUSE and WAIT_CLOSE look whether the servers are done.
constexpr auto kWaitPoll = std::chrono::milliseconds(20);

bool is_admin(const config::Config& c, const std::string& user) {
  return std::find(c.admin_users.begin(), c.admin_users.end(), user) != c.admin_users.end();
}

std::vector<std::shared_ptr<pool::Pool>> pools_of(Control& control, const std::string& db) {
  auto all = control.pools().all();
  if (db.empty()) return all;
  std::erase_if(all, [&](const auto& p) { return p->database() != db; });
  return all;
}

// Runs fn on every session of every worker, on that worker's thread.
// Captures are references: co_spawn's entry point may destroy its function
// object twice under g++ 12, harmless only for a trivial destructor.
asio::awaitable<void> for_each_session(Control& control,
                                       const std::function<void(session::ClientSession&)>& fn) {
  for (int i = 0; i < control.worker_count(); ++i) {
    auto& w = control.worker(i);
    co_await asio::co_spawn(
        w.io,
        [&w, &fn]() -> asio::awaitable<void> {
          for (auto& weak : w.sessions) {
            if (auto s = weak.lock()) fn(*s);
          }
          co_return;
        },
        asio::use_awaitable);
  }
}

// Polls until done() holds (PAUSE, WAIT_CLOSE: "the command will not
// return before ...").
// (Coroutine parameters are references: g++ 12 may destroy a by-value
// parameter twice.)
asio::awaitable<void> wait_until(const std::function<bool()>& done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!done()) {
    timer.expires_after(kWaitPoll);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// No server of these pools is in use (PAUSE's promise).
asio::awaitable<void> wait_released(const std::vector<std::shared_ptr<pool::Pool>>& pools) {
  co_await wait_until([&pools] {
    for (const auto& p : pools)
      if (p->counts(std::chrono::steady_clock::now()).active > 0) return false;
    return true;
  });
}

// No server of these pools is still marked by RECONNECT (WAIT_CLOSE).
asio::awaitable<void> wait_closed(const std::vector<std::shared_ptr<pool::Pool>>& pools) {
  co_await wait_until([&pools] {
    for (const auto& p : pools)
      if (p->close_needed() > 0) return false;
    return true;
  });
}

// What one command works with. Handlers return the CommandComplete tag (an
// empty tag: the reply is already in `out`), or the error to send.
struct Context {
  bool admin_rights;  // an admin user (or the console's owner), not a stats user
  Control& control;
  std::string_view query;  // as the client sent it, for "invalid command"
  const Command& cmd;
  std::string& out;

  bool admin() const { return admin_rights; }
  // nullopt when the database exists (the console's own included), else
  // PgBouncer's error.
  std::optional<Error> unknown_database() const {
    if (cmd.arg == config::kConsoleDatabase || config::find_database(*control.config(), cmd.arg))
      return std::nullopt;
    return console_error("no such database: " + cmd.arg);
  }
};
using Handler = asio::awaitable<Reply> (*)(Context&);

Error admin_needed() {
  return console_error("admin access needed");
}

// Checks shared by the commands that name a database: it must exist and
// must not be the console's own (`verb` as in "cannot pause admin db").
std::optional<Error> check_database(const Context& c, std::string_view verb) {
  if (auto e = c.unknown_database()) return e;
  if (c.cmd.arg == config::kConsoleDatabase)
    return console_error("cannot " + std::string(verb) + " admin db: " + c.cmd.arg);
  return std::nullopt;
}

asio::awaitable<Reply> cmd_show(Context& c) {
  if (strcasecmp_view(c.cmd.arg, "help")) {
    protocol::write_notice_response(c.out, protocol::sqlstate::successful_completion,
                                    "Console usage", help_text());
    co_return std::string("SHOW");
  }
  auto rs = fake_show(c.cmd.arg);
  if (!rs) rs = co_await show(c.control, c.cmd.arg);
  if (!rs) co_return invalid_command(c.query);
  rs->write(c.out);
  co_return std::string();  // the result set carries its CommandComplete
}

asio::awaitable<Reply> cmd_reload(Context& c) {
  if (!c.cmd.arg.empty()) co_return invalid_command(c.query);
  if (!c.admin()) co_return admin_needed();
  spdlog::info("RELOAD command issued");
  Status st = c.control.reload();
  if (!st) {
    // The reason goes to the log only, as in PgBouncer 1.25: it may quote
    // the file, which a stats user has no business reading.
    spdlog::error("RELOAD failed, keeping the old configuration: {}", st.error().message);
    co_return make_error(std::string(kConfigFileError),
                         "RELOAD failed, see logs for additional details");
  }
  co_return std::string("RELOAD");
}

asio::awaitable<Reply> cmd_pause(Context& c) {
  if (!c.admin()) co_return admin_needed();
  if (c.control.paused()) co_return console_error("already suspended/paused");
  if (c.cmd.arg.empty()) {
    spdlog::info("PAUSE command issued");
  } else {
    if (auto e = check_database(c, "pause")) co_return std::move(*e);
    spdlog::info("PAUSE '{}' command issued", c.cmd.arg);
  }
  c.control.pause(c.cmd.arg);
  co_await wait_released(pools_of(c.control, c.cmd.arg));
  co_return std::string("PAUSE");
}

asio::awaitable<Reply> cmd_resume(Context& c) {
  if (!c.admin()) co_return admin_needed();
  if (c.cmd.arg.empty()) {
    if (c.control.shutdown_mode() != ShutdownMode::kNone)
      co_return console_error("pooler is shutting down");
  } else if (auto e = c.unknown_database()) {
    co_return std::move(*e);
  }
  Status st = c.control.resume(c.cmd.arg);
  if (!st) co_return st.take_error();
  co_return std::string("RESUME");
}

asio::awaitable<Reply> set_disabled(Context& c, bool disable) {
  if (!c.admin()) co_return admin_needed();
  if (c.cmd.arg.empty()) co_return console_error("a database is required");
  if (auto e = check_database(c, disable ? "disable" : "enable")) co_return std::move(*e);
  c.control.set_disabled(c.cmd.arg, disable);
  co_return std::string(disable ? "DISABLE" : "ENABLE");
}
asio::awaitable<Reply> cmd_disable(Context& c) {
  co_return co_await set_disabled(c, true);
}
asio::awaitable<Reply> cmd_enable(Context& c) {
  co_return co_await set_disabled(c, false);
}

asio::awaitable<Reply> cmd_reconnect(Context& c) {
  if (!c.admin()) co_return admin_needed();
  if (!c.cmd.arg.empty()) {
    if (auto e = check_database(c, "reconnect")) co_return std::move(*e);
  }
  for (auto& p : pools_of(c.control, c.cmd.arg))
    p->reconnect_all();
  co_return std::string("RECONNECT");
}

// Drops every client and server of one database, or (1.25) of all but the
// console's; the databases are then paused, so new clients wait for RESUME.
asio::awaitable<Reply> cmd_kill(Context& c) {
  if (!c.admin()) co_return admin_needed();
  if (c.control.paused()) co_return console_error("already suspended/paused");
  const std::string& db = c.cmd.arg;
  if (!db.empty()) {
    if (auto e = check_database(c, "kill")) co_return std::move(*e);
  }
  auto pools = pools_of(c.control, db);
  if (db.empty()) {
    for (const auto& p : pools)
      c.control.pause(p->database());
  } else {
    c.control.pause(db);
  }
  Error reason = console_error("database removed");
  co_await for_each_session(c.control, [&](session::ClientSession& s) {
    bool logged_in = s.phase() != session::Phase::kLogin;
    bool victim = db.empty() ? s.database() != config::kConsoleDatabase : s.database() == db;
    if (logged_in && victim) s.kill(reason);
  });
  for (auto& p : pools)
    p->reconnect_all();
  co_return std::string("KILL");
}

// KILL_CLIENT <id>: the id of SHOW CLIENTS. Like sscanf("%llu"), leading
// digits are the id.
asio::awaitable<Reply> cmd_kill_client(Context& c) {
  if (!c.admin()) co_return admin_needed();
  uint64_t id = 0;
  const std::string& arg = c.cmd.arg;
  auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), id);
  if (ec != std::errc() || end == arg.data())
    co_return console_error("invalid client pointer supplied");
  bool found = false;
  Error reason = console_error("admin forced disconnect");
  co_await for_each_session(c.control, [&](session::ClientSession& s) {
    if (s.id() != id || s.phase() == session::Phase::kLogin) return;
    found = true;
    s.kill(reason);
  });
  if (!found) co_return console_error("client not found");
  co_return std::string("KILL_CLIENT");
}

asio::awaitable<Reply> cmd_shutdown(Context& c) {
  ShutdownMode mode = ShutdownMode::kImmediate;
  if (strcasecmp_view(c.cmd.arg, "wait_for_servers")) {
    mode = ShutdownMode::kWaitForServers;
  } else if (strcasecmp_view(c.cmd.arg, "wait_for_clients")) {
    mode = ShutdownMode::kWaitForClients;
  } else if (!c.cmd.arg.empty()) {
    co_return invalid_command(c.query);
  }
  if (!c.admin()) co_return admin_needed();
  spdlog::info("SHUTDOWN {}command issued", c.cmd.arg.empty() ? "" : c.cmd.arg + " ");
  c.control.shutdown(mode);
  co_return std::string("SHUTDOWN");
}

asio::awaitable<Reply> cmd_wait_close(Context& c) {
  if (!c.admin()) co_return admin_needed();
  if (!c.cmd.arg.empty()) {
    if (auto e = check_database(c, "wait in")) co_return std::move(*e);
  }
  co_await wait_closed(pools_of(c.control, c.cmd.arg));
  co_return std::string("WAIT_CLOSE");
}

// CACHE FLUSH [db [table]]: drops the result cache's entries, of every
// database, of one, or of what depends on one table (schema.name; a bare
// name is public.name).
// CACHE EXPLAIN db statement: what the cache makes of the statement there
// (no admin needed: it changes nothing, like SHOW).
asio::awaitable<Reply> cmd_cache_explain(Context& c) {
  const std::string& db = c.cmd.more.at(0);
  if (!config::find_database(*c.control.config(), db))
    co_return console_error("no such database: " + db);
  auto rs = explain_cache(c.control, db, c.cmd.statement);
  if (!rs) co_return rs.error();
  rs->write(c.out);
  co_return std::string();
}

asio::awaitable<Reply> cmd_cache(Context& c) {
  if (strcasecmp_view(c.cmd.arg, "explain") && c.cmd.more.size() == 1)
    co_return co_await cmd_cache_explain(c);
  if (!strcasecmp_view(c.cmd.arg, "flush") || c.cmd.more.size() > 2)
    co_return invalid_command(c.query);
  if (!c.admin()) co_return admin_needed();
  cache::Cache* cache = c.control.cache();
  if (c.cmd.more.empty()) {
    if (cache) {
      for (const auto& d : cache->domains())
        d->flush();
    }
    co_return std::string("CACHE");
  }
  const std::string& db = c.cmd.more[0];
  if (!config::find_database(*c.control.config(), db))
    co_return console_error("no such database: " + db);
  auto domain = cache ? cache->find(db) : nullptr;
  if (!domain) co_return std::string("CACHE");
  if (c.cmd.more.size() == 1) {
    domain->flush();
  } else {
    const std::string& t = c.cmd.more[1];
    const size_t dot = t.find('.');
    domain->flush_table(dot == std::string::npos
                            ? cache::table_id("public", t)
                            : cache::table_id(t.substr(0, dot), t.substr(dot + 1)));
  }
  co_return std::string("CACHE");
}

// PgBouncer 1.26 has no SUSPEND (and so no "SUSPEND" here): it answers
// "invalid command", as for any word it does not know.
constexpr std::pair<std::string_view, Handler> kCommands[] = {{"cache", cmd_cache},
                                                              {"disable", cmd_disable},
                                                              {"enable", cmd_enable},
                                                              {"kill", cmd_kill},
                                                              {"kill_client", cmd_kill_client},
                                                              {"pause", cmd_pause},
                                                              {"reconnect", cmd_reconnect},
                                                              {"reload", cmd_reload},
                                                              {"resume", cmd_resume},
                                                              {"select", cmd_show},
                                                              {"show", cmd_show},
                                                              {"shutdown", cmd_shutdown},
                                                              {"wait_close", cmd_wait_close}};

}  // namespace

asio::awaitable<Reply> run_command(session::ClientConnection& s, Control& control,
                                   std::string_view query, const Command& cmd, std::string& out) {
  co_return co_await run_command(s.console_owner || is_admin(*control.config(), s.user), control,
                                 query, cmd, out);
}

asio::awaitable<Reply> run_command(bool admin, Control& control, std::string_view query,
                                   const Command& cmd, std::string& out) {
  Context c{admin, control, query, cmd, out};
  for (const auto& [name, handler] : kCommands) {
    if (name == cmd.name) co_return co_await handler(c);
  }
  co_return invalid_command(query);
}

asio::awaitable<Reply> run_set(session::ClientConnection& s, Control& control,
                               const SetCommand& set, std::string& out) {
  if (is_fake_param(set.key)) {
    protocol::write_notice_response(out, protocol::sqlstate::successful_completion, "SET ignored");
    co_return std::string("SET");
  }
  if (!s.console_owner && !is_admin(*control.config(), s.user)) co_return admin_needed();
  if (set.key.size() > kMaxArgLength || set.value.size() > kMaxSetValueLength)
    co_return console_error("bad arguments");
  Status st = control.set(set.key, set.value);
  if (!st) {
    spdlog::warn("SET {} failed: {}", set.key, st.error().message);
    co_return console_error("SET failed");
  }
  co_return "SET " + set.key + "=" + set.value;
}

}  // namespace usher::admin
