#include "admin/console.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "admin/result_set.h"
#include "admin/show.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "runtime/runtime.h"
#include "session/client_session.h"
#include "version.h"

namespace usher::admin {

namespace asio = boost::asio;

namespace {

std::vector<std::string> split_words(std::string_view sql) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : sql) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ';') {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && (space(s.back()) || s.back() == ';'))
    s.remove_suffix(1);
  return s;
}

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words)
    s += (s.empty() ? "" : " ") + w;
  return s;
}

bool is_admin(const config::Config& c, const std::string& user) {
  return std::find(c.admin_users.begin(), c.admin_users.end(), user) != c.admin_users.end();
}

std::vector<std::shared_ptr<pool::Pool>> pools_of(runtime::Runtime& rt, const std::string& db) {
  auto all = rt.pools().all();
  if (db.empty()) return all;
  std::erase_if(all, [&](const auto& p) { return p->database() != db; });
  return all;
}

// Runs fn on every session of every worker, on that worker's thread.
asio::awaitable<void> for_each_session(runtime::Runtime& rt,
                                       std::function<void(session::ClientSession&)> fn) {
  for (int i = 0; i < rt.worker_count(); ++i) {
    auto& w = rt.worker(i);
    co_await asio::co_spawn(
        w.io,
        [&w, fn]() -> asio::awaitable<void> {
          for (auto& weak : w.sessions) {
            if (auto s = weak.lock()) fn(*s);
          }
          co_return;
        },
        asio::use_awaitable);
  }
}

// Waits until no server of these pools is in use (PAUSE's promise).
asio::awaitable<void> wait_released(const std::vector<std::shared_ptr<pool::Pool>>& pools) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    bool busy = false;
    for (const auto& p : pools)
      busy |= p->counts(runtime::Clock::now()).active > 0;
    if (!busy) co_return;
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
}

void write_welcome(session::ClientSession& s, std::string& out) {
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

// One admin command. Returns the CommandComplete tag, or an error.
asio::awaitable<Result<std::string>> execute(session::ClientSession& s, std::string_view sql,
                                             const std::vector<std::string>& w, std::string& out) {
  auto& rt = s.runtime();
  auto cfg = rt.config();
  std::string cmd = w.empty() ? "" : w[0];
  std::string arg = w.size() > 1 ? w[1] : "";
  if (cmd == "show" && arg == "help") {
    protocol::write_notice_response(out, "00000", "Console usage", help_text());
    co_return std::string("SHOW");
  }
  if (cmd == "show") {
    auto rs = co_await show(rt, arg);
    if (!rs) co_return rs.take_error();
    rs->write(out);
    co_return std::string();  // the result set carries its CommandComplete
  }
  if (!s.console_owner() && !is_admin(*cfg, s.user()))
    co_return make_error("08P01", "admin access needed");
  if (cmd == "reload") {
    Status st = rt.reload();
    if (!st) co_return st.take_error();
    co_return std::string("RELOAD");
  }
  if (cmd == "pause") {
    rt.pause(arg);
    co_await wait_released(pools_of(rt, arg));
    co_return std::string("PAUSE");
  }
  if (cmd == "resume") {
    Status st = rt.resume(arg);
    if (!st) co_return st.take_error();
    co_return std::string("RESUME");
  }
  if (cmd == "disable" || cmd == "enable") {
    if (arg.empty()) co_return make_error("08P01", "a database name is required");
    rt.set_disabled(arg, cmd == "disable");
    co_return cmd == "disable" ? std::string("DISABLE") : std::string("ENABLE");
  }
  if (cmd == "reconnect") {
    for (auto& p : pools_of(rt, arg)) {
      p->reconnect_all();
    }
    co_return std::string("RECONNECT");
  }
  if (cmd == "kill") {
    // Drops every client and server of the database; new clients wait
    // until RESUME, as in PgBouncer.
    if (arg.empty()) co_return make_error("08P01", "a database name is required");
    rt.pause(arg);
    Error reason = make_error("08P01", "database removed");
    co_await for_each_session(rt, [&](session::ClientSession& c) {
      if (c.database() == arg) c.kill(reason);
    });
    for (auto& p : pools_of(rt, arg)) {
      p->reconnect_all();
    }
    co_return std::string("KILL");
  }
  if (cmd == "set") {
    // SET key = value: the value keeps its case and may be quoted.
    auto eq = sql.find('=');
    if (eq == std::string_view::npos) co_return make_error("08P01", "syntax: SET key = value");
    std::string key(trim(sql.substr(0, eq)));
    key = key.substr(key.find_first_of(" \t") + 1);  // drop "SET"
    key = std::string(trim(key));
    std::string value(trim(sql.substr(eq + 1)));
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    Status st = rt.set(key, value);
    if (!st) co_return st.take_error();
    co_return std::string("SET");
  }
  if (cmd == "shutdown") {
    runtime::ShutdownMode mode = runtime::ShutdownMode::kImmediate;
    if (arg == "wait_for_servers") mode = runtime::ShutdownMode::kWaitForServers;
    if (arg == "wait_for_clients") mode = runtime::ShutdownMode::kWaitForClients;
    rt.shutdown(mode);
    co_return std::string("SHUTDOWN");
  }
  co_return make_error("08P01", "invalid command '" + join(w) + "', use SHOW HELP;");
}

}  // namespace

asio::awaitable<Status> serve_console(session::ClientSession& s) {
  std::string out;
  write_welcome(s, out);
  Status st = co_await s.send(out);
  if (!st) co_return st;
  bool skipping = false;  // after an error in extended protocol, until Sync
  while (true) {
    auto msg = co_await net::read_message(s.socket(), s.input(), 1 << 20);
    if (!msg) co_return ok_status();  // the admin client went away
    char type = msg->header.type;
    std::string sql;
    if (type == 'Q') {
      auto parsed = protocol::parse_query(msg->body);
      if (parsed) sql = *parsed;
    }
    s.input().consume(msg->header.total());
    out.clear();
    if (type == 'X') co_return ok_status();
    if (type == 'Q') {
      std::vector<std::string> words = split_words(sql);
      if (words.empty()) {
        protocol::write_empty_query_response(out);
      } else {
        auto tag = co_await execute(s, sql, words, out);
        if (!tag) {
          write_error(out, tag.error().sqlstate, tag.error().message);
        } else if (!tag->empty()) {
          protocol::write_command_complete(out, *tag);
        }
      }
      protocol::write_ready_for_query(out, 'I');
    } else {
      // Extended protocol: one error, then skip to Sync as PostgreSQL does.
      if (!skipping) {
        write_error(out, "08P01", "the admin console supports the simple query protocol only");
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
