// SHOW commands of the admin console, with PgBouncer 1.26's columns.
#pragma once

#include <boost/asio.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "admin/control.h"
#include "admin/result_set.h"
#include "common/result.h"

namespace usher::admin {

// The result of SHOW <what> (any case), or nullopt for a name it does not
// know. Those that list sessions visit every worker.
boost::asio::awaitable<std::optional<ResultSet>> show(Control& control, std::string_view what);

// CACHE EXPLAIN db statement (show_cache.cpp): what the result cache makes
// of the statement in that database; an error when it has no cache.
Result<ResultSet> explain_cache(Control& control, const std::string& database,
                                std::string_view statement);

// The NoticeResponse detail of SHOW HELP.
std::string help_text();

// PgBouncer's made-up settings (client_encoding, datestyle, ...): SHOW
// answers one row, SET is ignored with a notice.
std::optional<ResultSet> fake_show(std::string_view name);
bool is_fake_param(std::string_view name);

// ASCII case-insensitive equality, as PgBouncer compares command words.
bool strcasecmp_view(std::string_view a, std::string_view b);

}  // namespace usher::admin
