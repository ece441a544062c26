"""Admin console result columns, in one place.

V1_18: captured from Debian's PgBouncer 1.18.0 (`SHOW <x>` through psycopg,
column name and type OID: 25 text, 23 int4, 20 int8, 1700 numeric, 17 bytea).
The test compares the live output with these lists: PgBouncer must match
exactly; Usher must contain every 1.18 column, in the same relative order
(later PgBouncer releases inserted columns, e.g. `replication` after
`database` in SHOW CLIENTS/SERVERS, so tools that read by name keep working).

LATEST: the column lists documented for current PgBouncer (doc/usage.md,
1.24/1.25), for reference when Usher adds the newer columns.
"""

TEXT, INT4, INT8, NUMERIC, BYTEA = 25, 23, 20, 1700, 17

_CONN_COLUMNS = [
    ("type", TEXT), ("user", TEXT), ("database", TEXT), ("state", TEXT),
    ("addr", TEXT), ("port", INT4), ("local_addr", TEXT), ("local_port", INT4),
    ("connect_time", TEXT), ("request_time", TEXT), ("wait", INT4),
    ("wait_us", INT4), ("close_needed", INT4), ("ptr", TEXT), ("link", TEXT),
    ("remote_pid", INT4), ("tls", TEXT), ("application_name", TEXT),
]

V1_18 = {
    "SHOW POOLS": [
        ("database", TEXT), ("user", TEXT), ("cl_active", INT4),
        ("cl_waiting", INT4), ("cl_active_cancel_req", INT4),
        ("cl_waiting_cancel_req", INT4), ("sv_active", INT4),
        ("sv_active_cancel", INT4), ("sv_being_canceled", INT4),
        ("sv_idle", INT4), ("sv_used", INT4), ("sv_tested", INT4),
        ("sv_login", INT4), ("maxwait", INT4), ("maxwait_us", INT4),
        ("pool_mode", TEXT),
    ],
    "SHOW CLIENTS": list(_CONN_COLUMNS),
    "SHOW SERVERS": list(_CONN_COLUMNS),
    "SHOW DATABASES": [
        ("name", TEXT), ("host", TEXT), ("port", INT4), ("database", TEXT),
        ("force_user", TEXT), ("pool_size", INT4), ("min_pool_size", INT4),
        ("reserve_pool", INT4), ("pool_mode", TEXT), ("max_connections", INT4),
        ("current_connections", INT4), ("paused", INT4), ("disabled", INT4),
    ],
    "SHOW USERS": [("name", TEXT), ("pool_mode", TEXT)],
    "SHOW STATS": [
        ("database", TEXT), ("total_xact_count", NUMERIC),
        ("total_query_count", NUMERIC), ("total_received", NUMERIC),
        ("total_sent", NUMERIC), ("total_xact_time", NUMERIC),
        ("total_query_time", NUMERIC), ("total_wait_time", NUMERIC),
        ("avg_xact_count", NUMERIC), ("avg_query_count", NUMERIC),
        ("avg_recv", NUMERIC), ("avg_sent", NUMERIC), ("avg_xact_time", NUMERIC),
        ("avg_query_time", NUMERIC), ("avg_wait_time", NUMERIC),
    ],
    "SHOW STATS_TOTALS": [
        ("database", TEXT), ("xact_count", NUMERIC), ("query_count", NUMERIC),
        ("bytes_received", NUMERIC), ("bytes_sent", NUMERIC),
        ("xact_time", NUMERIC), ("query_time", NUMERIC), ("wait_time", NUMERIC),
    ],
    "SHOW STATS_AVERAGES": [
        ("database", TEXT), ("xact_count", NUMERIC), ("query_count", NUMERIC),
        ("bytes_received", NUMERIC), ("bytes_sent", NUMERIC),
        ("xact_time", NUMERIC), ("query_time", NUMERIC), ("wait_time", NUMERIC),
    ],
    # SHOW TOTALS is one (name, value) row per figure:
    # total_xact_count, total_query_count, total_client_bytes,
    # total_server_bytes, total_xact_time, total_query_time, total_wait_time,
    # avg_xact_count, avg_query_count, avg_client_bytes, avg_server_bytes,
    # avg_xact_time, avg_query_time, avg_wait_time
    "SHOW TOTALS": [("name", TEXT), ("value", NUMERIC)],
    # rows: databases, users, pools, free_clients, used_clients,
    # login_clients, free_servers, used_servers, dns_names, dns_zones,
    # dns_queries, dns_pending
    "SHOW LISTS": [("list", TEXT), ("items", INT4)],
    "SHOW CONFIG": [
        ("key", TEXT), ("value", TEXT), ("default", TEXT), ("changeable", TEXT),
    ],
    "SHOW VERSION": [("version", TEXT)],
    "SHOW MEM": [
        ("name", TEXT), ("size", INT4), ("used", INT4), ("free", INT4),
        ("memtotal", INT4),
    ],
    "SHOW DNS_HOSTS": [("hostname", TEXT), ("ttl", INT8), ("addrs", TEXT)],
    "SHOW DNS_ZONES": [("zonename", TEXT), ("serial", INT8), ("count", INT4)],
    "SHOW SOCKETS": list(_CONN_COLUMNS) + [
        ("recv_pos", INT4), ("pkt_pos", INT4), ("pkt_remain", INT4),
        ("send_pos", INT4), ("send_remain", INT4), ("pkt_avail", INT4),
        ("send_avail", INT4),
    ],
    "SHOW ACTIVE_SOCKETS": list(_CONN_COLUMNS) + [
        ("recv_pos", INT4), ("pkt_pos", INT4), ("pkt_remain", INT4),
        ("send_pos", INT4), ("send_remain", INT4), ("pkt_avail", INT4),
        ("send_avail", INT4),
    ],
    "SHOW FDS": [
        ("fd", INT4), ("task", TEXT), ("user", TEXT), ("database", TEXT),
        ("addr", TEXT), ("port", INT4), ("cancel", INT8), ("link", INT4),
        ("client_encoding", TEXT), ("std_strings", TEXT), ("datestyle", TEXT),
        ("timezone", TEXT), ("password", TEXT), ("scram_client_key", BYTEA),
        ("scram_server_key", BYTEA),
    ],
}

# Commands whose columns every pooler must offer. SHOW FDS/MEM/SOCKETS are
# PgBouncer internals that Usher refuses (docs/configuration.md).
REQUIRED = [
    "SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS", "SHOW DATABASES",
    "SHOW USERS", "SHOW STATS", "SHOW STATS_TOTALS", "SHOW STATS_AVERAGES",
    "SHOW TOTALS", "SHOW LISTS", "SHOW CONFIG", "SHOW VERSION",
    "SHOW DNS_HOSTS", "SHOW DNS_ZONES",
]
OPTIONAL = ["SHOW MEM", "SHOW SOCKETS", "SHOW ACTIVE_SOCKETS", "SHOW FDS"]

# Rows of SHOW LISTS in 1.18, in order.
LISTS_ROWS_1_18 = [
    "databases", "users", "pools", "free_clients", "used_clients",
    "login_clients", "free_servers", "used_servers", "dns_names", "dns_zones",
    "dns_queries", "dns_pending",
]

# Rows of SHOW TOTALS in 1.18, in order.
TOTALS_ROWS_1_18 = [
    "total_xact_count", "total_query_count", "total_client_bytes",
    "total_server_bytes", "total_xact_time", "total_query_time",
    "total_wait_time", "avg_xact_count", "avg_query_count", "avg_client_bytes",
    "avg_server_bytes", "avg_xact_time", "avg_query_time", "avg_wait_time",
]

# SHOW HELP (1.18) answers with no rows and one NoticeResponse:
# severity NOTICE, SQLSTATE 00000, message "Console usage", detail listing
# the commands (first line "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|...").
HELP_NOTICE_MESSAGE = "Console usage"

# SHOW STATE (PgBouncer >= 1.20; "invalid command" in 1.18):
# columns key, value; rows active/paused/suspended with yes/no.
SHOW_STATE = [("key", TEXT), ("value", TEXT)]

# Current PgBouncer documentation (names only), for reference.
LATEST = {
    "SHOW POOLS": [
        "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
        "cl_waiting_cancel_req", "sv_active", "sv_active_cancel",
        "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
        "maxwait", "maxwait_us", "pool_mode", "load_balance_hosts",
    ],
    "SHOW CLIENTS": [
        "type", "user", "database", "replication", "state", "addr", "port",
        "local_addr", "local_port", "connect_time", "request_time", "wait",
        "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
        "application_name", "prepared_statements", "id",
    ],
    "SHOW SERVERS": [
        "type", "user", "database", "replication", "state", "addr", "port",
        "local_addr", "local_port", "connect_time", "request_time", "wait",
        "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
        "application_name", "prepared_statements", "id",
    ],
    "SHOW DATABASES": [
        "name", "host", "port", "database", "force_user", "pool_size",
        "min_pool_size", "reserve_pool_size", "server_lifetime", "pool_mode",
        "load_balance_hosts", "max_connections", "current_connections",
        "max_client_connections", "current_client_connections", "paused",
        "disabled",
    ],
    "SHOW USERS": [
        "name", "pool_size", "reserve_pool_size", "pool_mode",
        "max_user_connections", "current_connections",
        "max_user_client_connections", "current_client_connections",
    ],
    "SHOW STATS": [
        "database", "total_xact_count", "total_query_count",
        "total_server_assignment_count", "total_server_closed_count",
        "total_received", "total_sent", "total_xact_time", "total_query_time",
        "total_wait_time", "total_server_lifetime", "total_client_parse_count",
        "total_server_parse_count", "total_bind_count", "avg_xact_count",
        "avg_query_count", "avg_server_assignment_count", "avg_recv",
        "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time",
        "avg_server_lifetime", "avg_client_parse_count",
        "avg_server_parse_count", "avg_bind_count",
    ],
}


# Columns renamed in later PgBouncer releases: either name satisfies 1.18's.
ALIASES = {"reserve_pool": "reserve_pool_size"}


def names(cols):
    return [c[0] for c in cols]


def is_ordered_subsequence(needed, have):
    it = iter(have)
    return all(any(h in (n, ALIASES.get(n)) for h in it) for n in needed)
