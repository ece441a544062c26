// SHOW commands of the admin console.
#pragma once

#include <boost/asio.hpp>
#include <string>

#include "admin/result_set.h"
#include "common/result.h"

namespace usher::runtime {
class Runtime;
}

namespace usher::admin {

boost::asio::awaitable<Result<ResultSet>> show(runtime::Runtime& rt, const std::string& what);
std::string help_text();

}  // namespace usher::admin
