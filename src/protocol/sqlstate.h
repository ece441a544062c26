// SQLSTATE codes Usher sends or looks for, named as in PostgreSQL's
// errcodes.txt (its ERRCODE_* names, lowercased).
#pragma once

namespace usher::protocol::sqlstate {

inline constexpr const char* successful_completion = "00000";  // notices
inline constexpr const char* feature_not_supported = "0A000";
inline constexpr const char* connection_failure = "08006";
inline constexpr const char* protocol_violation = "08P01";
inline constexpr const char* invalid_parameter_value = "22023";
inline constexpr const char* active_sql_transaction = "25001";
inline constexpr const char* in_failed_sql_transaction = "25P02";
inline constexpr const char* idle_in_transaction_session_timeout = "25P03";
inline constexpr const char* transaction_timeout = "25P04";
inline constexpr const char* invalid_sql_statement_name = "26000";
inline constexpr const char* invalid_authorization_specification = "28000";
inline constexpr const char* invalid_password = "28P01";
inline constexpr const char* invalid_catalog_name = "3D000";
inline constexpr const char* syntax_error = "42601";
inline constexpr const char* duplicate_prepared_statement = "42P05";
inline constexpr const char* insufficient_resources = "53000";
inline constexpr const char* too_many_connections = "53300";
inline constexpr const char* program_limit_exceeded = "54000";
inline constexpr const char* statement_too_complex = "54001";
inline constexpr const char* query_canceled = "57014";
inline constexpr const char* admin_shutdown = "57P01";
inline constexpr const char* idle_session_timeout = "57P05";
// Usher's own, as PgBouncer's: a configuration file that cannot be used.
inline constexpr const char* config_file_error = "F0000";

}  // namespace usher::protocol::sqlstate
