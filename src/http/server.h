// The HTTP endpoint's listener and connections (Boost.Beast), on the
// control thread's event loop: never on a worker, so that no request,
// however slow or hostile, takes time from the data path. A client costs
// only its own socket: at most kMaxConnections at once, a header and body
// limit, and a deadline for each request to arrive and each answer to
// leave.
#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "admin/control.h"
#include "common/result.h"

namespace usher::http {

inline constexpr size_t kMaxConnections = 64;
inline constexpr size_t kMaxHeaderBytes = 8 * 1024;
// No route reads a body: a small one is tolerated, a big one refused.
inline constexpr size_t kMaxBodyBytes = 4 * 1024;
// A request must arrive whole within this (a slow sender, or a kept-alive
// connection left idle, is closed after it)...
inline constexpr std::chrono::seconds kRequestTimeout{10};
// ...and an answer must be taken within this.
inline constexpr std::chrono::seconds kWriteTimeout{30};

class Server {
 public:
  Server(boost::asio::io_context& io, admin::Control& control);
  ~Server();

  // Binds addr:port ("*" for every address); the error names the address.
  Status listen(const std::string& addr, int port);
  void start();
  // Closes the listener and every connection.
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace usher::http
