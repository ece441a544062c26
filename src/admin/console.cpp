#include "admin/console.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <functional>
#include <optional>

#include "admin/control.h"
#include "admin/result_set.h"
#include "admin/show.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "session/client_session.h"
#include "version.h"

namespace usher::admin {

namespace asio = boost::asio;

namespace {

// PgBouncer's console grammar (admin.c): "WORD [WORD] [;]" or
// "SET key =|TO value", case-insensitive, where a WORD is [0-9a-z_]+ or a
// "double-quoted" identifier. Its buffers bound the lengths; longer ones
// are "bad arguments".
constexpr size_t kMaxCommandLength = 15;
constexpr size_t kMaxArgLength = 63;
constexpr size_t kMaxSetValueLength = 255;

// The console's database: commands that take a database refuse it.
constexpr std::string_view kAdminDb = "pgbouncer";

// Every console error is 08P01 (PgBouncer sends no other code), except a
// failed RELOAD (1.25).
constexpr std::string_view kConsoleError = "08P01";
constexpr std::string_view kConfigFileError = "F0000";

// How often PAUSE and WAIT_CLOSE look whether the servers are done.
constexpr auto kWaitPoll = std::chrono::milliseconds(20);

struct Command {
  std::string name;  // lower case
  std::string arg;   // as written, unquoted
};

// Consume-and-advance cursor over the query text.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : rest_(text) {}
  bool at_end() const { return rest_.empty(); }
  std::string_view remaining() const { return rest_; }
  void skip_spaces() {
    while (!rest_.empty() && std::isspace(static_cast<unsigned char>(rest_.front())))
      rest_.remove_prefix(1);
  }
  bool skip(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }
  // A bare or "quoted" word; nullopt if there is none here.
  std::optional<std::string> word() {
    if (skip('"')) return quoted('"');
    size_t n = 0;
    while (n < rest_.size() &&
           (std::isalnum(static_cast<unsigned char>(rest_[n])) || rest_[n] == '_'))
      ++n;
    if (n == 0) return std::nullopt;
    std::string w(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return w;
  }
  // The rest of a quoted string after its opening `q`; a doubled q stands
  // for one. nullopt if it never closes.
  std::optional<std::string> quoted(char q) {
    std::string out;
    while (!rest_.empty()) {
      char c = rest_.front();
      rest_.remove_prefix(1);
      if (c != q) {
        out += c;
      } else if (skip(q)) {
        out += q;
      } else {
        return out;
      }
    }
    return std::nullopt;
  }
  // The end of a command: spaces, at most one ';', spaces.
  bool finish() {
    skip_spaces();
    skip(';');
    skip_spaces();
    return at_end();
  }

 private:
  std::string_view rest_;
};

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Error invalid_command(std::string_view query) {
  return make_error(std::string(kConsoleError),
                    "invalid command '" + std::string(query) + "', use SHOW HELP;");
}

Error console_error(const std::string& message) {
  return make_error(std::string(kConsoleError), message);
}

Result<Command> parse_command(std::string_view query) {
  Cursor in(query);
  in.skip_spaces();
  auto name = in.word();
  if (!name) return invalid_command(query);
  Command cmd{lower(*name), ""};
  in.skip_spaces();
  if (auto arg = in.word()) cmd.arg = *arg;
  if (!in.finish()) return invalid_command(query);
  if (cmd.name.size() > kMaxCommandLength || cmd.arg.size() > kMaxArgLength)
    return console_error("bad arguments");
  return cmd;
}

struct SetCommand {
  std::string key;
  std::string value;
};

// "SET key = value" or "SET key TO value"; nullopt when the query is not a
// SET of that shape. The value is a word, a 'string' or (more lenient than
// PgBouncer) whatever text is left.
std::optional<SetCommand> parse_set(std::string_view query) {
  Cursor in(query);
  in.skip_spaces();
  auto set = in.word();
  if (!set || lower(*set) != "set") return std::nullopt;
  in.skip_spaces();
  auto key = in.word();
  if (!key) return std::nullopt;
  in.skip_spaces();
  if (!in.skip('=')) {
    auto to = in.word();
    if (!to || lower(*to) != "to") return std::nullopt;
  }
  in.skip_spaces();
  Cursor value = in;
  if (in.skip('\'')) {
    if (auto v = in.quoted('\''); v && in.finish()) return SetCommand{*key, *v};
  } else if (auto v = in.word(); v && in.finish()) {
    return SetCommand{*key, *v};
  }
  // Lenient: the rest of the line, without a trailing ';'.
  std::string_view rest = value.remaining();
  while (!rest.empty() &&
         (std::isspace(static_cast<unsigned char>(rest.back())) || rest.back() == ';'))
    rest.remove_suffix(1);
  return SetCommand{*key, std::string(rest)};
}

bool is_blank(std::string_view sql) {
  return std::all_of(sql.begin(), sql.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == ';';
  });
}

// PgBouncer's errors for messages other than Query.
std::string unsupported_message(char type) {
  if (type == 'P' || type == 'B' || type == 'E')
    return "extended query protocol not supported by admin console";
  return "unsupported packet type for admin console: " + std::to_string(static_cast<int>(type));
}

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

void write_welcome(std::string& out) {
  protocol::write_authentication_ok(out);
  protocol::write_parameter_status(out, "server_version", std::string(kVersion) + "/usher");
  protocol::write_parameter_status(out, "client_encoding", "UTF8");
  protocol::write_parameter_status(out, "server_encoding", "UTF8");
  protocol::write_parameter_status(out, "DateStyle", "ISO, MDY");
  protocol::write_parameter_status(out, "TimeZone", "UTC");
  protocol::write_parameter_status(out, "standard_conforming_strings", "on");
  protocol::write_parameter_status(out, "integer_datetimes", "on");
  protocol::write_parameter_status(out, "application_name", "");
  protocol::write_backend_key_data(out, 0, 0);
  protocol::write_ready_for_query(out, 'I');
}

void write_error(std::string& out, std::string_view sqlstate, std::string_view message) {
  protocol::write_error_response(out, "ERROR", sqlstate, message);
}

// What one command works with. Handlers return the CommandComplete tag (an
// empty tag: the reply is already in `out`), or the error to send.
struct Context {
  session::ClientConnection& client;
  Control& control;
  std::string_view query;  // as the client sent it, for "invalid command"
  const Command& cmd;
  std::string& out;

  bool admin() const { return client.console_owner || is_admin(*control.config(), client.user); }
  // nullopt when the database exists (the console's own included), else
  // PgBouncer's error.
  std::optional<Error> unknown_database() const {
    if (cmd.arg == kAdminDb || config::find_database(*control.config(), cmd.arg))
      return std::nullopt;
    return console_error("no such database: " + cmd.arg);
  }
};
using Reply = Result<std::string>;
using Handler = asio::awaitable<Reply> (*)(Context&);

Error admin_needed() {
  return console_error("admin access needed");
}

// Checks shared by the commands that name a database: it must exist and
// must not be the console's own (`verb` as in "cannot pause admin db").
std::optional<Error> check_database(const Context& c, std::string_view verb) {
  if (auto e = c.unknown_database()) return e;
  if (c.cmd.arg == kAdminDb)
    return console_error("cannot " + std::string(verb) + " admin db: " + c.cmd.arg);
  return std::nullopt;
}

asio::awaitable<Reply> cmd_show(Context& c) {
  if (strcasecmp_view(c.cmd.arg, "help")) {
    protocol::write_notice_response(c.out, "00000", "Console usage", help_text());
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
    bool victim = db.empty() ? s.database() != kAdminDb : s.database() == db;
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

// PgBouncer 1.26 has no SUSPEND (and so no "SUSPEND" here): it answers
// "invalid command", as for any word it does not know.
constexpr std::pair<std::string_view, Handler> kCommands[] = {
    {"disable", cmd_disable},   {"enable", cmd_enable},
    {"kill", cmd_kill},         {"kill_client", cmd_kill_client},
    {"pause", cmd_pause},       {"reconnect", cmd_reconnect},
    {"reload", cmd_reload},     {"resume", cmd_resume},
    {"select", cmd_show},       {"show", cmd_show},
    {"shutdown", cmd_shutdown}, {"wait_close", cmd_wait_close}};

asio::awaitable<Reply> run_set(session::ClientConnection& s, Control& control,
                               const SetCommand& set, std::string& out) {
  if (is_fake_param(set.key)) {
    protocol::write_notice_response(out, "00000", "SET ignored");
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

// One query on the console. Returns the CommandComplete tag, or an error.
asio::awaitable<Reply> execute(session::ClientConnection& s, Control& control,
                               std::string_view query, std::string& out) {
  if (auto set = parse_set(query)) co_return co_await run_set(s, control, *set, out);
  auto cmd = parse_command(query);
  if (!cmd) co_return cmd.take_error();
  Context c{s, control, query, *cmd, out};
  for (const auto& [name, handler] : kCommands) {
    if (name == cmd->name) co_return co_await handler(c);
  }
  co_return invalid_command(query);
}

}  // namespace

namespace {
std::atomic<int> console_clients{0};

// Counts a console client in for as long as it is served.
struct CountedIn {
  CountedIn() { console_clients.fetch_add(1, std::memory_order_relaxed); }
  ~CountedIn() { console_clients.fetch_sub(1, std::memory_order_relaxed); }
  CountedIn(const CountedIn&) = delete;
  CountedIn& operator=(const CountedIn&) = delete;
};
}  // namespace

int console_client_count() {
  return console_clients.load(std::memory_order_relaxed);
}

asio::awaitable<Status> serve_console(session::ClientConnection& s, Control& control) {
  CountedIn counted;
  std::string out;
  write_welcome(out);
  Status st = co_await s.send(out);
  if (!st) co_return st;
  bool skipping = false;  // after an error in extended protocol, until Sync
  while (true) {
    auto msg = co_await net::read_message(s.socket, s.in, 1 << 20);
    if (!msg) co_return ok_status();  // the admin client went away
    char type = msg->header.type;
    std::string sql;
    if (type == 'Q') {
      auto parsed = protocol::parse_query(msg->body);
      if (parsed) sql = *parsed;
    }
    s.in.consume(msg->header.total());
    out.clear();
    if (type == 'X') co_return ok_status();
    if (type == 'Q') {
      if (is_blank(sql)) {
        protocol::write_empty_query_response(out);
      } else {
        auto tag = co_await execute(s, control, sql, out);
        if (!tag) {
          write_error(out, tag.error().sqlstate, tag.error().message);
        } else if (!tag->empty()) {
          protocol::write_command_complete(out, *tag);
        }
      }
      protocol::write_ready_for_query(out, 'I');
    } else {
      // PgBouncer's messages; but where it then disconnects, the console
      // skips to Sync as PostgreSQL does and stays usable.
      if (!skipping) {
        write_error(out, kConsoleError, unsupported_message(type));
        skipping = true;
      }
      if (type == 'S') {
        protocol::write_ready_for_query(out, 'I');
        skipping = false;
      }
      if (out.empty()) continue;
    }
    st = co_await s.send(out);
    if (!st) co_return ok_status();
  }
}

}  // namespace usher::admin
