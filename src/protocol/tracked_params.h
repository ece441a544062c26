// The session parameters Usher keeps per client and brings every server
// connection that serves it to, so that in transaction mode each client
// keeps its own settings whatever server it is given (see
// docs/architecture.md, "Parameters"). One TrackedParams holds a client's
// wanted values; another holds what Usher knows of a server connection's.
//
// Which names: those PgBouncer 1.26 tracks by default (tracked_by_default())
// and the names in track_extra_parameters may be set at login; after that,
// every parameter the server reports (ParameterStatus) is tracked too,
// except those no session may set (never_tracked()). The server reports
// most of them, so what it holds is known exactly. For one it does not
// report (search_path before PostgreSQL 18), Usher knows only what it set
// there itself, and stops trusting that after a SET, RESET or DISCARD: the
// next client given that server gets its own value again, or the default.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace usher::protocol {

// The names at fixed indices, in this order.
inline constexpr std::array<std::string_view, 6> kTrackedNames = {
    "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings",
    "application_name"};

// Reported by the server but not a client's own setting: never replayed.
bool never_tracked(std::string_view name);

// PgBouncer 1.26's default list: what a client may set at login (as a
// startup parameter or inside `options`) without track_extra_parameters.
bool tracked_by_default(std::string_view name);

// Whether a CommandComplete tag (with or without its NUL) is one after which
// a parameter the server does not report may hold another value: SET,
// RESET and DISCARD. (set_config() in a SELECT is not seen; see
// docs/architecture.md.)
bool may_change_settings(std::string_view tag);

class TrackedParams {
 public:
  static constexpr int kClientEncoding = 0;  // indices in kTrackedNames
  static constexpr int kStandardConformingStrings = 4;
  static constexpr int kApplicationName = 5;
  // At most this many names besides kTrackedNames: a server that reports
  // thousands of names does not grow every client.
  static constexpr size_t kMaxExtra = 64;

  enum class State : uint8_t {
    kAbsent,   // client: wants the server's default; server: at its default
    kKnown,    // client: wants this value; server: reported this value
    kAssumed,  // server only: Usher set this value; the server does not report it
    kUnknown,  // server only: a client may have changed it since
  };

  // Index of a name (case-insensitive, as PostgreSQL's GUC names are), or -1.
  int index_of(std::string_view name) const;

  // Records a value as known (reported by the server, or wanted by the
  // client). Returns false only when the name is new and kMaxExtra is reached.
  bool set(std::string_view name, std::string_view value);
  const std::string& get(int i) const {
    return i < kFixed ? values_[size_t(i)] : extra_[size_t(i - kFixed)].value;
  }
  State state(int i) const {
    return i < kFixed ? states_[size_t(i)] : extra_[size_t(i - kFixed)].state;
  }
  bool has(int i) const { return state(i) == State::kKnown; }
  std::string_view name(int i) const { return name_of(i); }
  size_t size() const { return kTrackedNames.size() + extra_.size(); }

  // Whether strings are lexed with standard_conforming_strings on (the
  // default, and what PostgreSQL assumes when it was never reported).
  bool standard_conforming_strings() const;

  // The messages that bring `server` to these values, or "" when it already
  // agrees: one extended-protocol exchange (Parse, Bind, Execute, Sync) of
  // `SELECT set_config($1, $2, false), ...`, names and values bound as
  // parameters, so no value, whatever its quotes and backslashes and
  // whatever the server's standard_conforming_strings, is ever read as SQL.
  // A parameter the server does not report and the client never set, but
  // which Usher set (or may have been changed) there, is reset to the
  // server's default with a NULL value (`set_config(name, NULL, false)`).
  std::string replay_messages(const TrackedParams& server) const;

  // Server side, after the replay above ran: what it set and the server did
  // not report is now assumed; what it reset is at its default.
  void replayed(const TrackedParams& client);

  // Server side: a client ran SET, RESET or DISCARD, so no value Usher set
  // and the server does not report can be trusted any more.
  void forget_unreported();

 private:
  static constexpr int kFixed = int(kTrackedNames.size());
  struct Extra {
    std::string name;
    std::string value;
    State state = State::kAbsent;
  };
  std::string_view name_of(int i) const {
    return i < kFixed ? kTrackedNames[size_t(i)] : extra_[size_t(i - kFixed)].name;
  }
  std::string& value_ref(int i) {
    return i < kFixed ? values_[size_t(i)] : extra_[size_t(i - kFixed)].value;
  }
  State& state_ref(int i) {
    return i < kFixed ? states_[size_t(i)] : extra_[size_t(i - kFixed)].state;
  }
  // The index of `name`, added (absent) if new; -1 when kMaxExtra is reached.
  int add(std::string_view name);

  // kTrackedNames' values apart from the others: they cost no name each.
  std::array<std::string, kTrackedNames.size()> values_;
  std::array<State, kTrackedNames.size()> states_{};
  std::vector<Extra> extra_;
};

}  // namespace usher::protocol
