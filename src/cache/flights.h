// Stampede control for the result cache: the first client to miss on a key
// leads a flight (its query fills the entry); clients that miss on the
// same key meanwhile wait for the flight to land, then look again, so N
// identical misses cost the server one execution. A flight lands when its
// lease is dropped: the result stored, or given up for any reason (an
// error, too large, a write, the client gone). Waiting is bounded
// (kFlightWait, kept by session/relay.cpp), so a leader that never lands
// delays others by that much at most, never forever.
//
// Pure and thread-safe; no I/O: a waiter's wake-up is a function called
// from whichever thread lands the flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace usher::cache {

// How long a client waits for another's fill before it goes to the server
// itself: long enough for the queries stampedes are made of, short enough
// that a stuck leader (its client not reading, its query blocked) costs
// the others little.
inline constexpr std::chrono::milliseconds kFlightWait{2000};

class Flight {
 public:
  // Per flight: past this many waiters, later ones go to the server.
  static constexpr size_t kMaxWaiters = 4096;

  // Calls `wake` once the flight lands (at once if it has); false when the
  // flight is full, and `wake` is dropped.
  bool on_landed(std::function<void()> wake);
  void land();

 private:
  std::mutex mu_;
  bool landed_ = false;
  std::vector<std::function<void()>> wakes_;
};

class Flights;

// A leader's hold on its flight: dropping it (or destroying it) lands the
// flight. Empty when the caller leads nothing.
class FlightLease {
 public:
  FlightLease() = default;
  FlightLease(FlightLease&& other) noexcept { *this = std::move(other); }
  FlightLease& operator=(FlightLease&& other) noexcept;
  ~FlightLease() { drop(); }

  explicit operator bool() const { return flight_ != nullptr; }
  const std::string& key() const { return key_; }
  void drop();

 private:
  friend class Flights;
  Flights* owner_ = nullptr;
  std::string key_;
  std::shared_ptr<Flight> flight_;
};

class Flights {
 public:
  // Either the flight already in the air for `key` (returned; `lease` left
  // empty) or a new one the caller leads (`lease` set; null returned).
  std::shared_ptr<Flight> join_or_lead(std::string_view key, FlightLease& lease);
  size_t size() const;

 private:
  friend class FlightLease;
  void land(const std::string& key, const std::shared_ptr<Flight>& flight);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flying_;
};

}  // namespace usher::cache
