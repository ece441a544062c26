// The admin console's result sets as JSON for /api/v1: an array of
// objects whose keys are the console's column names (PgBouncer's, so the
// API's field names are as stable as its console), numbers as numbers,
// NULL as null.
#pragma once

#include <boost/json.hpp>

#include "admin/result_set.h"

namespace usher::http {

boost::json::array to_json(const admin::ResultSet& rs);

}  // namespace usher::http
