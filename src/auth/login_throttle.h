// A brake on password guessing, in the spirit of PostgreSQL's auth_delay but
// per client address: after a few failed logins from one address within a
// window, every further password check from that address first waits, 100
// ms and doubling with each failure, up to a few seconds.
//
// The delay applies to every check from a throttled address, successful or
// not, and a success does not clear the count: otherwise one valid account
// would let an attacker reset it between guesses. A legitimate client from
// that address is slowed, never refused, and the record is forgotten
// `window` after the last failure. Each connection waits on its own, so the
// delay bounds the guessing rate per connection; client_login_timeout and
// max_client_conn bound how many connections wait at once.
//
// Pure: the caller passes the time, so tests control the clock. Memory is
// bounded: past `max_addresses`, the address whose last failure is oldest is
// forgotten. Thread-safe (one short lock per call).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace usher::auth {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  using Duration = std::chrono::milliseconds;

  struct Limits {
    int free_failures = 5;      // failures within `window` before any delay
    Duration window{60'000};    // a record is forgotten this long after its last failure
    Duration first_delay{100};  // the delay at free_failures, doubled by each further failure
    Duration max_delay{3'200};  // the most any check waits
    size_t max_addresses = 10'000;
  };

  LoginThrottle() : LoginThrottle(Limits{}) {}
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  // How long a password check from `address` waits before it runs (zero:
  // not throttled).
  Duration delay(std::string_view address, Clock::time_point now) const;

  // Records a failed check. True when this failure is the one that starts
  // throttling the address, so the caller logs it once.
  bool failed(std::string_view address, Clock::time_point now);

  const Limits& limits() const { return limits_; }
  size_t size() const;  // addresses remembered

 private:
  struct Record {
    std::string address;
    int failures = 0;
    Clock::time_point last_failure;
  };
  using List = std::list<Record>;  // most recent failure at the front

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  bool expired(const Record& r, Clock::time_point now) const {
    return now - r.last_failure > limits_.window;
  }

  const Limits limits_;
  mutable std::mutex mu_;
  List records_;
  std::unordered_map<std::string, List::iterator, Hash, std::equal_to<>> by_address_;
};

}  // namespace usher::auth
