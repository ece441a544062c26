// Clients waiting for a server, oldest first. One FIFO per worker, so that a
// server released on a worker can go to a waiter on the same worker (no
// socket move between event loops) unless a waiter elsewhere has waited
// noticeably longer: fairness is kept within kLocalityWindow, which is what
// keeps tail latency close to the median when clients far outnumber servers.
// Not thread-safe: the pool's mutex guards it.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "pool/server_connection.h"

namespace usher::pool {

// What a waiting client is handed.
enum class GrantKind { kServer, kConnect, kError };
struct Grant {
  GrantKind kind = GrantKind::kError;
  ServerPtr server;              // kServer
  std::unique_ptr<Error> error;  // kError; a pointer keeps the Grant cheap to pass along
};

struct Waiter {
  int worker;
  Clock::time_point since;
  uint64_t ticket;                 // names the wait for WaitQueue::remove()
  asio::any_io_executor executor;  // the waiting client's worker
  asio::any_completion_handler<void(Grant)> handler;

  // Completes the wait on the waiter's own worker, whichever thread calls.
  // A lambda rather than the handler itself: posting an
  // any_completion_handler directly recurses forever in Boost 1.81.
  void complete(Grant grant) {
    asio::post(executor, [h = std::move(handler), g = std::move(grant)]() mutable {
      std::move(h)(std::move(g));
    });
  }
};

class WaitQueue {
 public:
  static constexpr auto kLocalityWindow = std::chrono::milliseconds(1);

  explicit WaitQueue(int workers) : queues_(workers) {}

  bool empty() const { return size() == 0; }
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // Readable without the pool's lock, as a hint: a client that sees waiters
  // will queue behind them anyway, so it need not try for a server first.
  bool has_waiters_hint() const { return size() > 0; }
  void push(Waiter w) {
    queues_[w.worker].push_back(std::move(w));
    size_.store(size() + 1, std::memory_order_relaxed);
  }
  // The longest-waiting client; the queue must not be empty.
  const Waiter& oldest() const { return queues_[oldest_index()].front(); }
  Waiter pop_oldest() { return pop(oldest_index()); }
  // Takes out the wait `ticket` of `worker` (a client that left); nothing
  // when it is no longer queued (already granted). Its slot stays behind
  // with no handler until it reaches the front: erasing from the middle
  // would move-assign Waiters, and Boost 1.81's any_completion_handler
  // move-assignment wraps the handler in itself.
  std::optional<Waiter> remove(int worker, uint64_t ticket) {
    std::optional<Waiter> out;
    for (auto& w : queues_[worker]) {
      if (w.ticket != ticket || !w.handler) continue;
      out.emplace(std::move(w));
      size_.store(size() - 1, std::memory_order_relaxed);
      trim(static_cast<size_t>(worker));
      break;
    }
    return out;
  }
  // For a server released on `worker`: that worker's oldest waiter, unless
  // another has waited longer by more than kLocalityWindow.
  Waiter pop_for(int worker) {
    size_t o = oldest_index();
    const auto& local = queues_[worker];
    if (!local.empty() && local.front().since <= queues_[o].front().since + kLocalityWindow) {
      return pop(worker);
    }
    return pop(o);
  }

 private:
  size_t oldest_index() const {
    size_t best = queues_.size();
    for (size_t i = 0; i < queues_.size(); ++i) {
      if (!queues_[i].empty() &&
          (best == queues_.size() || queues_[i].front().since < queues_[best].front().since)) {
        best = i;
      }
    }
    return best;
  }
  Waiter pop(size_t i) {
    Waiter w = std::move(queues_[i].front());
    queues_[i].pop_front();
    size_.store(size() - 1, std::memory_order_relaxed);
    trim(i);
    return w;
  }
  // Drops removed waits from the front, so that every front is a live one.
  void trim(size_t i) {
    while (!queues_[i].empty() && !queues_[i].front().handler)
      queues_[i].pop_front();
  }

  std::vector<std::deque<Waiter>> queues_;
  std::atomic<size_t> size_ = 0;  // written under the pool's lock only
};

}  // namespace usher::pool
