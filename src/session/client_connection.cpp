#include "session/client_connection.h"

#include "common/socket_id.h"
#include "net/message_io.h"

namespace usher::session {

ClientConnection::ClientConnection(SessionContext& ctx, Worker& worker, net::Socket socket)
    : ctx(ctx),
      worker(worker),
      id(next_socket_id()),
      stream(std::move(socket)),
      wake(worker.io),
      config(ctx.config()) {
  addr = net::peer_name(stream.socket());
  port = net::peer_port(stream.socket());
}

asio::awaitable<Status> ClientConnection::send(std::string_view bytes) {
  co_return co_await net::write_all(stream, bytes);
}

Membership::~Membership() {
  if (cancel_key.pid != 0) ctx.cancels().remove(cancel_key);
  if (counted_in_pool) pool->clients.fetch_sub(1);
  if (db_clients) db_clients->give_back();
  if (user_clients) user_clients->give_back();
}

}  // namespace usher::session
