// A worker thread running its own event loop. Client sessions live on one
// worker for their whole life.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <list>
#include <memory>
#include <thread>

#include "cache/statements.h"

namespace usher::session {

class ClientSession;

namespace asio = boost::asio;

struct Worker {
  explicit Worker(int i) : index(i) {}
  int index;
  std::atomic<int> clients{0};
  // Sessions on this worker, for the janitor and the admin console. Touched
  // only on this worker's thread.
  std::list<std::weak_ptr<ClientSession>> sessions;
  std::thread thread;
  // The result cache's decisions per statement text, for this worker's clients.
  cache::StatementMemo cache_memo;
  // Declared last so it is destroyed first: destroying it destroys the
  // session coroutines, which still use the members above.
  asio::io_context io{1};  // concurrency hint 1: only this worker's thread runs it
};

}  // namespace usher::session
