// PgBouncer's peering ([peers], peer_id): several poolers share one address
// (so_reuseport, or a load balancer), so a client's CancelRequest, which
// comes on a connection of its own, may reach a process other than the one
// the client is logged in to. The key names the process that issued it
// (protocol/cancel_key.h); a request for another peer's key is sent on to
// that peer's [peers] address, as PgBouncer does, and PgBouncer peers
// understand Usher's keys as Usher understands theirs.
#pragma once

#include <boost/asio.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.h"
#include "protocol/cancel_key.h"

namespace usher::session {

class PeerCancels {
 public:
  // Sends `key`, issued by another peer, on to it, with one forward fewer
  // left. Dropped (and logged) when its forwards are used up, the peer is
  // not in [peers], or pool_size requests to it are already in flight for
  // longer than cancel_wait_timeout. Returns once the peer has taken it, or
  // after cancel_wait_timeout.
  boost::asio::awaitable<void> forward(const config::Config& cfg, protocol::CancelKey key);

  // SHOW PEER_POOLS: the peers forwarded to so far, by peer_id.
  struct Counts {
    int peer_id = 0;
    int active = 0;   // sent, waiting for the peer to take them
    int waiting = 0;  // waiting for one of its pool_size places
  };
  std::vector<Counts> counts() const;

 private:
  struct Peer;
  std::shared_ptr<Peer> peer(int peer_id);

  mutable std::mutex mu_;
  std::map<int, std::shared_ptr<Peer>> peers_;
};

}  // namespace usher::session
