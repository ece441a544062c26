"""Admin console result columns, in one place.

V1_18: captured from Debian's PgBouncer 1.18.0 (`SHOW <x>` through psycopg,
column name and type OID: 25 text, 23 int4, 20 int8, 1700 numeric, 17 bytea).
The test compares the live output with these lists: PgBouncer must match
exactly; Usher must contain every 1.18 column, in the same relative order
(later PgBouncer releases inserted columns, e.g. `replication` after
`database` in SHOW CLIENTS/SERVERS, so tools that read by name keep working).

LATEST: PgBouncer 1.26's lists, names and types, which Usher must match
exactly (tests marked usher_only: Debian's 1.18 has the older ones).
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

# PgBouncer 1.26 (from /work/notes: admin.c of 1.25, stats.c of 1.25.1, and
# 1.26's client_login_count), names and types. Usher answers with exactly
# these. The place of client_login_count in SHOW STATS/STATS_AVERAGES/TOTALS
# is PgBouncer's test-confirmed name put after the prepared-statement
# figures; its exact position in 1.26 is not confirmed.
_CONN_COLUMNS_LATEST = [
    ("type", TEXT), ("user", TEXT), ("database", TEXT), ("replication", TEXT),
    ("state", TEXT), ("addr", TEXT), ("port", INT4), ("local_addr", TEXT),
    ("local_port", INT4), ("connect_time", TEXT), ("request_time", TEXT),
    ("wait", INT4), ("wait_us", INT4), ("close_needed", INT4), ("ptr", TEXT),
    ("link", TEXT), ("remote_pid", INT4), ("tls", TEXT),
    ("application_name", TEXT), ("prepared_statements", INT4), ("id", INT4),
]

_STATS_FIGURES = [
    "server_assignment_count", "xact_count", "query_count", "received", "sent",
    "xact_time", "query_time", "wait_time", "client_parse_count",
    "server_parse_count", "bind_count", "client_login_count",
]


def _numeric(names):
    return [(n, NUMERIC) for n in names]


LATEST = {
    "SHOW POOLS": [
        ("database", TEXT), ("user", TEXT), ("cl_active", INT4),
        ("cl_waiting", INT4), ("cl_active_cancel_req", INT4),
        ("cl_waiting_cancel_req", INT4), ("sv_active", INT4),
        ("sv_active_cancel", INT4), ("sv_being_canceled", INT4),
        ("sv_idle", INT4), ("sv_used", INT4), ("sv_tested", INT4),
        ("sv_login", INT4), ("maxwait", INT4), ("maxwait_us", INT4),
        ("pool_mode", TEXT), ("load_balance_hosts", TEXT),
    ],
    "SHOW CLIENTS": list(_CONN_COLUMNS_LATEST),
    "SHOW SERVERS": list(_CONN_COLUMNS_LATEST),
    "SHOW DATABASES": [
        ("name", TEXT), ("host", TEXT), ("port", INT4), ("database", TEXT),
        ("force_user", TEXT), ("pool_size", INT4), ("min_pool_size", INT4),
        ("reserve_pool_size", INT4), ("server_lifetime", INT4),
        ("pool_mode", TEXT), ("load_balance_hosts", TEXT),
        ("max_connections", INT4), ("current_connections", INT4),
        ("max_client_connections", INT4), ("current_client_connections", INT4),
        ("paused", INT4), ("disabled", INT4),
    ],
    # pool_size and reserve_pool_size are text: "%9d", or "" when unset.
    "SHOW USERS": [
        ("name", TEXT), ("pool_size", TEXT), ("reserve_pool_size", TEXT),
        ("pool_mode", TEXT), ("max_user_connections", INT4),
        ("current_connections", INT4), ("max_user_client_connections", INT4),
        ("current_client_connections", INT4),
    ],
    "SHOW STATS": [("database", TEXT)]
    + _numeric("total_" + n for n in _STATS_FIGURES)
    + _numeric("avg_recv" if n == "received" else "avg_" + n for n in _STATS_FIGURES),
    "SHOW STATS_TOTALS": [("database", TEXT)] + _numeric([
        "server_assignment_count", "xact_count", "query_count",
        "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
        "client_parse_count", "server_parse_count", "bind_count",
        "client_login_count",
    ]),
    # Only the prepared-statement figures carry avg_ here (PgBouncer's quirk).
    "SHOW STATS_AVERAGES": [("database", TEXT)] + _numeric([
        "server_assignment_count", "xact_count", "query_count",
        "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
        "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count",
        "client_login_count",
    ]),
    "SHOW TOTALS": [("name", TEXT), ("value", NUMERIC)],
    "SHOW LISTS": [("list", TEXT), ("items", INT4)],
    "SHOW PEERS": [
        ("peer_id", INT4), ("host", TEXT), ("port", INT4), ("pool_size", INT4),
    ],
    "SHOW PEER_POOLS": [
        ("peer_id", INT4), ("cl_active_cancel_req", INT4),
        ("cl_waiting_cancel_req", INT4), ("sv_active_cancel", INT4),
        ("sv_login", INT4),
    ],
    "SHOW STATE": [("key", TEXT), ("value", TEXT)],
    "SHOW CONFIG": [
        ("key", TEXT), ("value", TEXT), ("default", TEXT), ("changeable", TEXT),
    ],
    "SHOW VERSION": [("version", TEXT)],
    "SHOW DNS_HOSTS": [("hostname", TEXT), ("ttl", INT8), ("addrs", TEXT)],
    "SHOW DNS_ZONES": [("zonename", TEXT), ("serial", INT8), ("count", INT4)],
}

# Rows of SHOW TOTALS in 1.26, in order.
_TOTALS_FIGURES = [
    "server_assignment_count", "xact_count", "query_count", "client_bytes",
    "server_bytes", "xact_time", "query_time", "wait_time",
    "ps_client_parse_count", "ps_server_parse_count", "ps_bind_count",
    "client_login_count",
]
TOTALS_ROWS_LATEST = (["total_" + n for n in _TOTALS_FIGURES]
                      + ["avg_" + n for n in _TOTALS_FIGURES])

# Rows of SHOW LISTS in 1.26, in order (peers and peer_pools since 1.19).
LISTS_ROWS_LATEST = [
    "databases", "users", "peers", "pools", "peer_pools", "free_clients",
    "used_clients", "login_clients", "free_servers", "used_servers",
    "dns_names", "dns_zones", "dns_queries", "dns_pending",
]

# SHOW HELP's detail in 1.26: 1.25's (admin.c) without SHOW FDS and SUSPEND,
# which 1.26 removed.
HELP_DETAIL_LATEST = (
    "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
    "\tSHOW PEERS|PEER_POOLS\n"
    "\tSHOW SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
    "\tSHOW DNS_HOSTS|DNS_ZONES\n"
    "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
    "\tSET key = arg\n"
    "\tRELOAD\n"
    "\tPAUSE [<db>]\n"
    "\tRESUME [<db>]\n"
    "\tDISABLE <db>\n"
    "\tENABLE <db>\n"
    "\tRECONNECT [<db>]\n"
    "\tKILL [<db>]\n"
    "\tKILL_CLIENT <client_id>\n"
    "\tSHUTDOWN\n"
    "\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
    "\tWAIT_CLOSE [<db>]"
)


# Columns renamed in later PgBouncer releases: either name satisfies 1.18's.
ALIASES = {"reserve_pool": "reserve_pool_size"}


def names(cols):
    return [c[0] for c in cols]


def is_ordered_subsequence(needed, have):
    it = iter(have)
    return all(any(h in (n, ALIASES.get(n)) for h in it) for n in needed)
