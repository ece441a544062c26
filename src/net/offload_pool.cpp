#include "net/offload_pool.h"

namespace usher::net {

void OffloadPool::start() {
  if (!threads_.empty()) return;
  guard_.emplace(asio::make_work_guard(io_));
  for (int i = 0; i < thread_count_; ++i)
    threads_.emplace_back([this] { io_.run(); });
}

void OffloadPool::stop() {
  guard_.reset();
  io_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace usher::net
