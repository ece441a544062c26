// The admin console's session: the welcome, the message loop (simple
// Query only, as in PgBouncer) and PgBouncer's grammar for a query;
// console_commands.cpp runs what it reads.
#include "admin/console.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>

#include "admin/console_commands.h"
#include "protocol/message_type.h"
#include "protocol/messages.h"
#include "protocol/writer.h"
#include "session/client_session.h"
#include "version.h"

namespace usher::admin {

namespace asio = boost::asio;

Error invalid_command(std::string_view query) {
  return make_error(std::string(kConsoleError),
                    "invalid command '" + std::string(query) + "', use SHOW HELP;");
}

Error console_error(const std::string& message) {
  return make_error(std::string(kConsoleError), message);
}

namespace {

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

Result<Command> parse_command(std::string_view query) {
  Cursor in(query);
  in.skip_spaces();
  auto name = in.word();
  if (!name) return invalid_command(query);
  Command cmd{lower(*name), "", {}};
  in.skip_spaces();
  if (auto arg = in.word()) cmd.arg = *arg;
  if (cmd.name == "cache" && lower(cmd.arg) == "explain") {
    // CACHE EXPLAIN db statement: the statement is the rest, as written.
    in.skip_spaces();
    auto db = in.word();
    in.skip_spaces();
    if (!db || in.at_end()) return invalid_command(query);
    if (db->size() > kMaxArgLength) return console_error("bad arguments");
    cmd.more.push_back(*db);
    cmd.statement = std::string(in.remaining());
    return cmd;
  }
  if (cmd.name == "cache") {
    // CACHE FLUSH [db [table]]; the table as schema.name or name.
    for (int i = 0; i < 2; ++i) {
      in.skip_spaces();
      auto w = in.word();
      if (!w) break;
      if (i == 1 && in.skip('.')) {
        auto name = in.word();
        if (!name) return invalid_command(query);
        *w += "." + *name;
      }
      cmd.more.push_back(*w);
    }
  }
  if (!in.finish()) return invalid_command(query);
  if (cmd.name.size() > kMaxCommandLength || cmd.arg.size() > kMaxArgLength)
    return console_error("bad arguments");
  for (const auto& w : cmd.more)
    if (w.size() > 2 * kMaxArgLength + 1) return console_error("bad arguments");
  return cmd;
}

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
  if (type == protocol::PqMsg_Parse || type == protocol::PqMsg_Bind ||
      type == protocol::PqMsg_Execute)
    return "extended query protocol not supported by admin console";
  return "unsupported packet type for admin console: " + std::to_string(static_cast<int>(type));
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
  protocol::write_ready_for_query(out, protocol::kTransactionIdle);
}

void write_error(std::string& out, std::string_view sqlstate, std::string_view message) {
  protocol::write_error_response(out, "ERROR", sqlstate, message);
}

// One query on the console. Returns the CommandComplete tag, or an error.
asio::awaitable<Reply> execute(session::ClientConnection& s, Control& control,
                               std::string_view query, std::string& out) {
  if (auto set = parse_set(query)) co_return co_await run_set(s, control, *set, out);
  auto cmd = parse_command(query);
  if (!cmd) co_return cmd.take_error();
  co_return co_await run_command(s, control, query, *cmd, out);
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
    auto msg = co_await net::read_message(s.stream, s.in, 1 << 20);
    if (!msg) co_return ok_status();  // the admin client went away
    char type = msg->header.type;
    std::string sql;
    if (type == protocol::PqMsg_Query) {
      auto parsed = protocol::parse_query(msg->body);
      if (parsed) sql = *parsed;
    }
    s.in.consume(msg->header.total());
    out.clear();
    if (type == protocol::PqMsg_Terminate) co_return ok_status();
    if (type == protocol::PqMsg_Query) {
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
      protocol::write_ready_for_query(out, protocol::kTransactionIdle);
    } else {
      // PgBouncer's messages; but where it then disconnects, the console
      // skips to Sync as PostgreSQL does and stays usable.
      if (!skipping) {
        write_error(out, kConsoleError, unsupported_message(type));
        skipping = true;
      }
      if (type == protocol::PqMsg_Sync) {
        protocol::write_ready_for_query(out, protocol::kTransactionIdle);
        skipping = false;
      }
      if (out.empty()) continue;
    }
    st = co_await s.send(out);
    if (!st) co_return ok_status();
  }
}

}  // namespace usher::admin
