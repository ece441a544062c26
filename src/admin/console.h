// The admin console: the virtual database "pgbouncer", for admin_users and
// stats_users, with PgBouncer's commands and column names so existing
// monitoring keeps working. Simple query protocol only, as in PgBouncer.
#pragma once

#include <boost/asio.hpp>

#include "admin/control.h"
#include "common/result.h"

namespace usher::session {
struct ClientConnection;
}

namespace usher::admin {

// Clients being served by the console now (SHOW POOLS' row for it).
int console_client_count();

// Serves a client that logged in to the console database until it leaves.
boost::asio::awaitable<Status> serve_console(session::ClientConnection& client, Control& control);

}  // namespace usher::admin
