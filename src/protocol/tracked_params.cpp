#include "protocol/tracked_params.h"

#include <strings.h>

#include "protocol/extended.h"

namespace usher::protocol {

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// The server's facts, and settings only a superuser or the server itself
// changes: replaying one for another client would be wrong or a privilege.
// (session_authorization is tracked, as in PgBouncer 1.26: restoring it
// undoes another client's SET SESSION AUTHORIZATION.)
constexpr std::array<std::string_view, 5> kNeverTracked = {
    "server_version", "server_encoding", "integer_datetimes", "is_superuser", "in_hot_standby"};

constexpr std::array<std::string_view, 10> kTrackedByDefault = {"application_name",
                                                                "client_encoding",
                                                                "DateStyle",
                                                                "default_transaction_read_only",
                                                                "IntervalStyle",
                                                                "scram_iterations",
                                                                "search_path",
                                                                "session_authorization",
                                                                "standard_conforming_strings",
                                                                "TimeZone"};

}  // namespace

bool tracked_by_default(std::string_view name) {
  for (auto n : kTrackedByDefault) {
    if (same_name(n, name)) return true;
  }
  return false;
}

bool never_tracked(std::string_view name) {
  for (auto n : kNeverTracked) {
    if (same_name(n, name)) return true;
  }
  return false;
}

bool may_change_settings(std::string_view tag) {
  if (!tag.empty() && tag.back() == '\0') tag.remove_suffix(1);
  return tag == "SET" || tag == "RESET" || tag.starts_with("DISCARD");
}

int TrackedParams::index_of(std::string_view name) const {
  for (int i = 0; i < int(size()); ++i) {
    if (same_name(name_of(i), name)) return i;
  }
  return -1;
}

int TrackedParams::add(std::string_view name) {
  const int i = index_of(name);
  if (i >= 0) return i;
  if (extra_.size() >= kMaxExtra) return -1;
  extra_.push_back(Extra{std::string(name), {}, State::kAbsent});
  return int(size()) - 1;
}

bool TrackedParams::set(std::string_view name, std::string_view value) {
  const int i = add(name);
  if (i < 0) return false;
  value_ref(i).assign(value);
  state_ref(i) = State::kKnown;
  return true;
}

bool TrackedParams::standard_conforming_strings() const {
  return !has(kStandardConformingStrings) ||
         strcasecmp(values_[kStandardConformingStrings].c_str(), "off") != 0;
}

namespace {

// What the replay does for one name, given the client's wish and what is
// known of the server.
enum class Step { kNothing, kSet, kReset };

Step step_for(TrackedParams::State client, std::string_view wanted, TrackedParams::State server,
              std::string_view held) {
  using State = TrackedParams::State;
  if (client == State::kKnown) {
    const bool agrees = (server == State::kKnown || server == State::kAssumed) && held == wanted;
    return agrees ? Step::kNothing : Step::kSet;
  }
  // The client wants the default: only what Usher set, or what may have been
  // changed, needs undoing. A reported value is the server's own.
  return server == State::kAssumed || server == State::kUnknown ? Step::kReset : Step::kNothing;
}

}  // namespace

std::string TrackedParams::replay_messages(const TrackedParams& server) const {
  std::vector<std::string_view> params;
  std::string sql;
  auto add_call = [&](std::string_view name, const std::string* value) {
    sql += params.empty() ? "SELECT " : ", ";
    params.push_back(name);
    sql += "set_config($" + std::to_string(params.size());
    if (value) {
      params.push_back(*value);
      sql += ", $" + std::to_string(params.size());
    } else {
      sql += ", NULL";  // a reset: PostgreSQL's set_config_by_name() reads NULL so
    }
    sql += ", false)";
  };
  for (int i = 0; i < int(size()); ++i) {
    const int s = i < kFixed ? i : server.index_of(name_of(i));
    const State held_state = s < 0 ? State::kAbsent : server.state(s);
    const std::string_view held = s < 0 ? std::string_view() : std::string_view(server.get(s));
    switch (step_for(state(i), get(i), held_state, held)) {
      case Step::kSet:
        add_call(name_of(i), &get(i));
        break;
      case Step::kReset:
        add_call(name_of(i), nullptr);
        break;
      case Step::kNothing:
        break;
    }
  }
  // What the server holds and this client has no entry for at all.
  for (int s = kFixed; s < int(server.size()); ++s) {
    if (index_of(server.name_of(s)) >= 0) continue;
    if (step_for(State::kAbsent, {}, server.state(s), server.get(s)) == Step::kReset)
      add_call(server.name_of(s), nullptr);
  }
  if (params.empty()) return {};
  std::string out;
  // The unnamed statement: the server's own one is gone after this, which
  // ServerConnection::run() records.
  write_parse(out, "", sql, std::string_view("\0\0", 2));
  write_bind_text(out, "", "", params);
  write_execute(out, "", 0);
  write_sync(out);
  return out;
}

void TrackedParams::replayed(const TrackedParams& client) {
  auto settle = [&](int s, State wanted_state, const std::string& wanted) {
    State& st = state_ref(s);
    if (st == State::kKnown) return;  // reported: the server said what it holds
    if (wanted_state == State::kKnown) {
      value_ref(s) = wanted;
      st = State::kAssumed;
    } else {
      value_ref(s).clear();
      st = State::kAbsent;
    }
  };
  for (int i = 0; i < int(client.size()); ++i) {
    const bool wanted = client.state(i) == State::kKnown;
    const int s = wanted ? add(client.name_of(i)) : index_of(client.name_of(i));
    if (s >= 0) settle(s, client.state(i), client.get(i));
  }
  for (int s = kFixed; s < int(size()); ++s) {
    if (client.index_of(name_of(s)) < 0) settle(s, State::kAbsent, {});
  }
}

void TrackedParams::forget_unreported() {
  for (int s = 0; s < int(size()); ++s) {
    if (state(s) == State::kAssumed) state_ref(s) = State::kUnknown;
  }
}

}  // namespace usher::protocol
