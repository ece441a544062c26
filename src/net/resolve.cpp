#include "net/resolve.h"

#include "protocol/sqlstate.h"

namespace usher::net {

namespace asio = boost::asio;

asio::awaitable<Result<Endpoint>> resolve(const std::string& host, int port) {
  Endpoint ep;
  if (make_endpoint(host, port, ep)) co_return ep;
  asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [ec, results] = co_await resolver.async_resolve(host, std::to_string(port),
                                                       asio::as_tuple(asio::use_awaitable));
  if (ec || results.empty()) {
    co_return make_error(protocol::sqlstate::connection_failure,
                         "could not resolve host \"" + host + "\": " + ec.message());
  }
  co_return Endpoint(results.begin()->endpoint());
}

}  // namespace usher::net
