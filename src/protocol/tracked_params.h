// The session parameters PgBouncer tracks per client and replays on whichever
// server connection serves it: a client's SET of one of these survives a
// change of server in transaction mode. Others (search_path, ...) do not, as
// in PgBouncer; see docs/architecture.md.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace usher::protocol {

inline constexpr std::array<std::string_view, 6> kTrackedNames = {
    "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings",
    "application_name"};

class TrackedParams {
 public:
  static constexpr int kClientEncoding = 0;  // index in kTrackedNames
  static constexpr int kApplicationName = 5;
  static constexpr int kStandardConformingStrings = 4;  // index in kTrackedNames

  // Index of a tracked name (case-insensitive, as PostgreSQL GUC names are),
  // or -1.
  static int index_of(std::string_view name);

  // Records a value if the name is tracked; returns whether it was.
  bool set(std::string_view name, std::string_view value);
  const std::string& get(int i) const { return values_[i]; }
  bool has(int i) const { return known_[i]; }

  // Whether strings are lexed with standard_conforming_strings on (the
  // default, and what PostgreSQL assumes when it was never reported).
  bool standard_conforming_strings() const;

  // The messages that bring `server` to these values, or "" when they
  // already agree; values the client never had are left alone. One
  // extended-protocol exchange (Parse, Bind, Execute, Sync) of
  // `SELECT set_config($1, $2, false), ...` with the names and values as
  // bound parameters: a value is never spliced into SQL text, so no value,
  // whatever its quotes and backslashes, and whatever the server's
  // standard_conforming_strings, can be read as SQL.
  std::string replay_messages(const TrackedParams& server) const;

 private:
  std::array<std::string, kTrackedNames.size()> values_;
  std::array<bool, kTrackedNames.size()> known_{};
};

}  // namespace usher::protocol
