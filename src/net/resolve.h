// Host names to endpoints without blocking the event loop.
#pragma once

#include <boost/asio.hpp>
#include <string>

#include "common/result.h"
#include "net/socket.h"

namespace usher::net {

// An IP address or a Unix socket directory at once; a host name through
// Asio's resolver (the system's, off the loop). The first address wins.
// Errors are 08006 with the host named.
boost::asio::awaitable<Result<Endpoint>> resolve(const std::string& host, int port);

}  // namespace usher::net
