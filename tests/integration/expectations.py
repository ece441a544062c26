"""What the pooler answers, per pooler, in one place.

Observed on Debian's PgBouncer 1.18.0 (2026-11, this tier's reference run):
PgBouncer sends every error *it* generates (not ones it forwards from
PostgreSQL) as ErrorResponse severity FATAL with SQLSTATE 08P01
(protocol_violation), then closes the client connection.
Newer PgBouncer (>= 1.19, PR #814) forwards PostgreSQL's SQLSTATE when a
*server* login fails, but its own auth/limit errors are still 08P01.

Usher is meant to answer with PostgreSQL's own codes where one exists
(28P01 invalid_password, 3D000 invalid_catalog_name, 53300
too_many_connections), keeping PgBouncer's message text so that log
scrapers and humans recognise it. Change the "usher" column here if the
lead decides otherwise; the tests read only this table.
"""

PROTOCOL_VIOLATION = "08P01"

# A value may be a tuple of acceptable alternatives.
SQLSTATE = {
    "pgbouncer": {
        "wrong_password": "08P01",
        "unknown_user": "08P01",
        "unknown_database": "08P01",
        "max_client_conn": "08P01",
        "admin_not_allowed": "08P01",
        "query_wait_timeout": "08P01",
        "idle_transaction_timeout": "08P01",
        "client_idle_timeout": "08P01",
        "query_timeout": "08P01",
        "client_login_timeout": "08P01",
        "unsupported_startup_parameter": "08P01",
        "statement_mode_transaction": "08P01",
        "database_disabled": "08P01",
        "admin_invalid_command": "08P01",
        "admin_access_needed": "08P01",
        "protocol_violation": "08P01",
        # PostgreSQL rejected the pooler's server login (its 28P01 is
        # replaced by 08P01 in 1.18; >= 1.19 forwards the server's code).
        "server_login_failed": "08P01",
    },
    "usher": {
        # PostgreSQL: 28P01 invalid_password.
        "wrong_password": "28P01",
        # PostgreSQL hides whether the role exists behind 28P01 for password
        # methods; 28000 (invalid_authorization_specification) for trust.
        "unknown_user": ("28P01", "28000"),
        # PostgreSQL: 3D000 invalid_catalog_name (npgsql/EF rely on it).
        "unknown_database": "3D000",
        # PostgreSQL: 53300 too_many_connections ("sorry, too many clients").
        "max_client_conn": "53300",
        # PostgreSQL: 28000 invalid_authorization_specification (no pg_hba entry).
        "admin_not_allowed": "28000",
        # No PostgreSQL equivalent: keep PgBouncer's.
        "query_wait_timeout": "08P01",
        # PostgreSQL: 25P03 idle_in_transaction_session_timeout.
        "idle_transaction_timeout": "25P03",
        # PostgreSQL 14+ idle_session_timeout uses 57P05; PgBouncer's 08P01
        # is also accepted.
        "client_idle_timeout": ("08P01", "57P05"),
        # PostgreSQL: 57014 query_canceled (statement_timeout).
        "query_timeout": "57014",
        "client_login_timeout": "08P01",
        "unsupported_startup_parameter": "08P01",
        "statement_mode_transaction": "08P01",
        "database_disabled": "08P01",
        # The admin console answers like PgBouncer's.
        "admin_invalid_command": "08P01",
        "admin_access_needed": "08P01",
        "protocol_violation": "08P01",
        # Forward PostgreSQL's own code, as PgBouncer >= 1.19 does.
        "server_login_failed": "28P01",
    },
}

# Message texts ('M' field) PgBouncer 1.18 sends, matched as substrings (so
# more detail may follow). A tuple lists acceptable alternatives: the first
# is PgBouncer's, the others PostgreSQL's wording for the same event.
MESSAGE = {
    # auth_type md5/plain: "password authentication failed"; scram-sha-256:
    # "SASL authentication failed"; PostgreSQL: 'password authentication
    # failed for user "x"'. All contain this.
    "wrong_password": "authentication failed",
    "unknown_database": ("no such database: {db}", 'database "{db}" does not exist'),
    "max_client_conn": "no more connections allowed (max_client_conn)",
    "admin_not_allowed": "not allowed",
    "query_wait_timeout": "query_wait_timeout",
    "idle_transaction_timeout": ("idle transaction timeout", "idle-in-transaction timeout"),
    "client_idle_timeout": ("client_idle_timeout", "idle-session timeout"),
    "query_timeout": ("query timeout", "statement timeout"),
    "client_login_timeout": "client_login_timeout",
    "unsupported_startup_parameter": "unsupported startup parameter: {name}",
    "statement_mode_transaction": "transaction blocks not allowed in statement pooling mode",
    "database_disabled": 'database "{db}" is disabled',
    # "invalid command '<sql>', use SHOW HELP;"
    "admin_invalid_command": "invalid command",
    "admin_access_needed": "admin access needed",
    # what a client of a KILLed database reads (PgBouncer)
    "database_killed": "database removed",
    # PostgreSQL's own text, forwarded by the pooler.
    "server_login_failed": 'password authentication failed for user "{user}"',
}


def _alternatives(value):
    return value if isinstance(value, tuple) else (value,)


def sqlstate(kind, what):
    """The expected SQLSTATE (the first one where several are accepted)."""
    return _alternatives(SQLSTATE[kind][what])[0]


def check_sqlstate(kind, what, actual):
    allowed = _alternatives(SQLSTATE[kind][what])
    assert actual in allowed, f"{what}: SQLSTATE {actual!r}, expected {' or '.join(allowed)} ({kind})"


def message(what, **kw):
    return _alternatives(MESSAGE[what])[0].format(**kw)


def check_message(what, actual, **kw):
    options = [m.format(**kw) for m in _alternatives(MESSAGE[what])]
    assert any(o in actual for o in options), f"{what}: message {actual!r}, expected one of {options}"
