// The HTTP endpoint's routes (docs/http.md): health probes, /metrics, the
// console's SHOW commands as JSON under /api/v1, and the console's actions
// (PAUSE, RESUME, RELOAD, ...) as POSTs that need the bearer token. Who
// may do what, and CORS, are decided here from the configuration in force
// at each request, so that RELOAD and SET change them at once.
#pragma once

#include <boost/asio.hpp>

#include "admin/control.h"
#include "http/request.h"

namespace usher::http {

boost::asio::awaitable<Response> handle(admin::Control& control, const Request& request);

}  // namespace usher::http
