// A few threads for CPU-heavy work that must not run on a worker's event
// loop: PBKDF2 for SCRAM costs about a millisecond per 4096 rounds, a stored
// secret or a server may ask for a million rounds, and while a worker
// computes it every client of that worker waits. Such work is handed to this
// pool and the calling coroutine awaits the result; it resumes on its own
// worker, as after any other wait.
#pragma once

#include <boost/asio.hpp>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace usher::net {

namespace asio = boost::asio;

class OffloadPool {
 public:
  explicit OffloadPool(int threads) : thread_count_(threads) {}
  ~OffloadPool() { stop(); }
  OffloadPool(const OffloadPool&) = delete;
  OffloadPool& operator=(const OffloadPool&) = delete;

  // Starts the threads. Separate from the constructor because `usher -d`
  // forks after the runtime is built, and threads do not survive a fork.
  // Work submitted before start() waits for it.
  void start();
  // Drops work not yet started and joins the threads (a job already running
  // finishes first). The awaiting coroutines are never resumed: call this
  // only once their event loops have stopped.
  void stop();

  // Runs f() on the pool; the awaiting coroutine resumes on its own
  // executor with the result. f must not throw, and owns what it uses
  // (copies, not references into the caller's buffers).
  //
  // Build f as a named variable and move it in: g++ 12 copies a lambda
  // written inside the co_await expression bit by bit and destroys both
  // copies (a double free under ASan). For the same reason this is plain
  // handlers, not a coroutine taking f as a parameter.
  template <typename F>
  auto run(F f) {
    using R = std::invoke_result_t<F&>;
    return asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
        [this](auto handler, F work) {
          asio::post(io_, [handler = std::move(handler), work = std::move(work)]() mutable {
            R result = work();
            auto ex = asio::get_associated_executor(handler);
            asio::dispatch(ex,
                           [handler = std::move(handler), result = std::move(result)]() mutable {
                             std::move(handler)(std::move(result));
                           });
          });
        },
        asio::use_awaitable, std::move(f));
  }

 private:
  const int thread_count_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::vector<std::thread> threads_;
};

}  // namespace usher::net
