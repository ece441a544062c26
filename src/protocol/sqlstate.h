// SQLSTATE codes Usher sends, named as in PostgreSQL's errcodes.txt.
#pragma once

namespace usher::protocol::sqlstate {

inline constexpr const char* feature_not_supported = "0A000";
inline constexpr const char* connection_failure = "08006";
inline constexpr const char* protocol_violation = "08P01";
inline constexpr const char* invalid_parameter_value = "22023";
inline constexpr const char* active_sql_transaction = "25001";
inline constexpr const char* idle_in_transaction_session_timeout = "25P03";
inline constexpr const char* transaction_timeout = "25P04";
inline constexpr const char* invalid_authorization_specification = "28000";
inline constexpr const char* invalid_password = "28P01";
inline constexpr const char* invalid_catalog_name = "3D000";
inline constexpr const char* insufficient_resources = "53000";
inline constexpr const char* too_many_connections = "53300";
inline constexpr const char* query_canceled = "57014";
inline constexpr const char* admin_shutdown = "57P01";
inline constexpr const char* idle_session_timeout = "57P05";

}  // namespace usher::protocol::sqlstate
