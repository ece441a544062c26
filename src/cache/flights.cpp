#include "cache/flights.h"

namespace usher::cache {

bool Flight::on_landed(std::function<void()> wake) {
  {
    std::lock_guard lock(mu_);
    if (!landed_) {
      if (wakes_.size() >= kMaxWaiters) return false;
      wakes_.push_back(std::move(wake));
      return true;
    }
  }
  wake();
  return true;
}

void Flight::land() {
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(mu_);
    landed_ = true;
    wakes.swap(wakes_);
  }
  // Outside the lock: a wake-up may post work that joins another flight.
  for (auto& wake : wakes)
    wake();
}

FlightLease& FlightLease::operator=(FlightLease&& other) noexcept {
  if (this != &other) {
    drop();
    owner_ = other.owner_;
    key_ = std::move(other.key_);
    flight_ = std::move(other.flight_);
    other.owner_ = nullptr;
    other.flight_.reset();
  }
  return *this;
}

void FlightLease::drop() {
  if (!flight_) return;
  auto flight = std::move(flight_);
  flight_.reset();
  owner_->land(key_, flight);
  key_.clear();
}

std::shared_ptr<Flight> Flights::join_or_lead(std::string_view key, FlightLease& lease) {
  lease.drop();
  std::lock_guard lock(mu_);
  auto [it, added] = flying_.try_emplace(std::string(key));
  if (!added) return it->second;
  it->second = std::make_shared<Flight>();
  lease.owner_ = this;
  lease.key_ = it->first;
  lease.flight_ = it->second;
  return nullptr;
}

size_t Flights::size() const {
  std::lock_guard lock(mu_);
  return flying_.size();
}

void Flights::land(const std::string& key, const std::shared_ptr<Flight>& flight) {
  {
    std::lock_guard lock(mu_);
    auto it = flying_.find(key);
    if (it != flying_.end() && it->second == flight) flying_.erase(it);
  }
  flight->land();
}

}  // namespace usher::cache
