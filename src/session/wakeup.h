// Lets one coroutine sleep until any of several I/O completions arrives.
// Read handlers call notify_from_handler(), anything else notify(); the
// session awaits wait(). All on one worker thread, so no locking. A notify
// with nobody waiting is remembered, so a completion that lands between two
// waits is never lost.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <optional>

namespace usher::session {

namespace asio = boost::asio;

class Wakeup {
 public:
  // `io` runs the waiting coroutine.
  explicit Wakeup(asio::io_context& io) : executor_(io.get_executor()) {}

  // From a completion handler, which the event loop runs at the top of its
  // stack: resume the waiter right here. Posting instead would cost a second
  // trip through the event loop for every read.
  void notify_from_handler() {
    if (auto h = take()) std::move (*h)();
  }

  // From anywhere else on the worker (a timer sweep, the session itself).
  void notify() {
    // Post rather than resume inline: the notifier may be in the middle of
    // its own work (a sweep over sessions), and resuming here would nest.
    // Wrapped in a lambda: posting an any_completion_handler directly
    // recurses forever in Boost 1.81 (its allocator wraps itself).
    if (auto h = take()) asio::post(executor_, [h = std::move(*h)]() mutable { std::move(h)(); });
  }

  asio::awaitable<void> wait() {
    if (pending_) {
      pending_ = false;
      co_return;
    }
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
        [this](asio::any_completion_handler<void()> h) { handler_.emplace(std::move(h)); },
        asio::use_awaitable);
    pending_ = false;
  }

 private:
  // The waiter's handler, or none (the notify is remembered for the next wait).
  std::optional<asio::any_completion_handler<void()>> take() {
    if (!handler_) {
      pending_ = true;
      return std::nullopt;
    }
    std::optional<asio::any_completion_handler<void()>> h(std::move(handler_));
    handler_.reset();
    return h;
  }

  // Boost 1.81's any_completion_handler move-assignment wraps the handler in
  // itself (infinite recursion on invocation), so it is only ever
  // move-constructed: emplace() into this optional.
  std::optional<asio::any_completion_handler<void()>> handler_;
  asio::io_context::executor_type executor_;  // not any_io_executor: 16 bytes, not 40
  bool pending_ = false;
};

}  // namespace usher::session
