// The admin console: the virtual database "pgbouncer", for admin_users and
// stats_users, with PgBouncer's commands and column names so existing
// monitoring keeps working. Simple query protocol only, as in PgBouncer.
#pragma once

#include <boost/asio.hpp>

#include "common/result.h"

namespace usher::session {
class ClientSession;
}

namespace usher::admin {

boost::asio::awaitable<Status> serve_console(session::ClientSession& session);

}  // namespace usher::admin
