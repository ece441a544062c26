"""Startup phase: SSL/GSS negotiation, protocol versions, startup
parameters, and per-client session parameters on shared server connections."""

import struct

import psycopg
import pytest

from expectations import PROTOCOL_VIOLATION, check_message, check_sqlstate
from harness import clients, wire


def _login_ok(conn, user="app", password="apppass", db="appdb", **kw):
    msgs = conn.startup(user, db, password, **kw)
    errors = wire.errors_of(msgs)
    assert not errors, errors
    assert msgs[-1] == (b"Z", b"I")
    return msgs


def test_ssl_request_answered_n(pooler):
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.ssl_request())
        assert conn.read_bytes(1) == b"N"
        _login_ok(conn)
        assert wire.rows_of(conn.simple_query("select 'after ssl n'")) == [("after ssl n",)]


def test_gssenc_request_answered_n(pooler):
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.gssenc_request())
        assert conn.read_bytes(1) == b"N"
        _login_ok(conn)
        assert wire.rows_of(conn.simple_query("select 'after gss n'")) == [("after gss n",)]


def test_gssenc_then_ssl_then_startup(pooler):
    # libpq with gssencmode=prefer and sslmode=prefer sends both in turn.
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.gssenc_request())
        assert conn.read_bytes(1) == b"N"
        conn.send(wire.ssl_request())
        assert conn.read_bytes(1) == b"N"
        _login_ok(conn)


def test_libpq_sslmode_prefer_falls_back(pooler):
    p = pooler()
    with psycopg.connect(p.conninfo(sslmode="prefer", gssencmode="prefer"), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.pgconn.ssl_in_use is False


def test_login_messages(pooler):
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        msgs = _login_ok(conn)
        tags = [t for t, _ in msgs]
        assert tags.count(b"K") == 1  # BackendKeyData
        assert tags.index(b"K") < tags.index(b"Z")
        assert conn.backend_pid is not None and conn.backend_key is not None
        for name in ("server_version", "server_encoding", "client_encoding",
                     "DateStyle", "TimeZone", "integer_datetimes",
                     "standard_conforming_strings"):
            assert name in conn.params, (name, conn.params)
        assert conn.params["client_encoding"] == "UTF8"
        assert conn.params["server_version"].startswith("15")


def test_protocol_3_1_accepted(pooler):
    """A 3.1 StartupMessage must not be refused (PostgreSQL accepts it)."""
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        _login_ok(conn, version=wire.protocol_version(3, 1))
        assert wire.rows_of(conn.simple_query("select 31")) == [("31",)]


@pytest.mark.usher_only
def test_protocol_3_1_gets_negotiate_protocol_version(pooler):
    """PostgreSQL answers a 3.1 startup (and unknown _pq_ options) with
    NegotiateProtocolVersion('v'): the newest version it speaks (PostgreSQL
    15 sends the whole version word, 3.0 = 196608, although the protocol
    docs say "minor") and the options it did not recognise, then carries on. PgBouncer 1.18 silently accepts 3.1 and
    refuses _pq_.* as an unsupported startup parameter."""
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        msgs = _login_ok(conn, version=wire.protocol_version(3, 1),
                         params={"_pq_.usher_test": "on"})
        v = [body for tag, body in msgs if tag == b"v"]
        assert len(v) == 1, [t for t, _ in msgs]
        newest, count = struct.unpack("!II", v[0][:8])
        assert newest == wire.protocol_version(3, 0)
        names = [n.decode() for n in v[0][8:].split(b"\0") if n]
        assert count == len(names) == 1 and names == ["_pq_.usher_test"]
        assert [t for t, _ in msgs].index(b"v") < [t for t, _ in msgs].index(b"Z")
        assert wire.rows_of(conn.simple_query("select 1")) == [("1",)]


def test_protocol_2_refused(pooler):
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.startup_packet({"user": "app", "database": "appdb"},
                                      version=wire.protocol_version(2, 0)))
        err = wire.errors_of(conn.read_until({b"E"}))[0]
        assert err["S"] == "FATAL"
        assert err["C"] in (PROTOCOL_VIOLATION, "0A000")
        assert conn.expect_closed(5)
    clients.assert_pooler_serves(p)


def test_protocol_4_refused(pooler):
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.startup_packet({"user": "app", "database": "appdb"},
                                      version=wire.protocol_version(4, 0)))
        err = wire.errors_of(conn.read_until({b"E"}))[0]
        assert err["S"] == "FATAL"
        assert err["C"] in (PROTOCOL_VIOLATION, "0A000")
        assert conn.expect_closed(5)
    clients.assert_pooler_serves(p)


@pytest.mark.parametrize("param", ["extra_float_digits", "work_mem", "statement_timeout"])
def test_unsupported_startup_parameter_refused(pooler, kind, param):
    p = pooler()
    err, closed = clients.login_error(p, params={param: "2"})
    assert err["S"] == "FATAL"
    check_sqlstate(kind, "unsupported_startup_parameter", err["C"])
    check_message("unsupported_startup_parameter", err["M"], name=param)
    assert closed


def test_ignore_startup_parameters(pooler):
    p = pooler(extra_ini={"ignore_startup_parameters": "extra_float_digits, search_path"})
    conn, msgs, err = clients.raw_login(
        p, params={"extra_float_digits": "2", "search_path": "public"}
    )
    with conn:
        assert err is None, err
        assert wire.rows_of(conn.simple_query("select 'ok'")) == [("ok",)]
    # Parameters not listed are still refused.
    err, _ = clients.login_error(p, params={"work_mem": "8MB"})
    assert "work_mem" in err["M"]


def test_missing_user_refused(pooler):
    p = pooler()
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.startup_packet({"database": "appdb"}))
        msgs = conn.read_until({b"E"})
        err = wire.errors_of(msgs)[0]
        assert err["S"] == "FATAL"
        assert conn.expect_closed(5)
    clients.assert_pooler_serves(p)


def _session(p, tz, datestyle, appname):
    conn, msgs, err = clients.raw_login(
        p, params={"TimeZone": tz, "DateStyle": datestyle, "application_name": appname}
    )
    assert err is None, err
    return conn


def _observe(conn):
    rows = wire.rows_of(conn.simple_query(
        "select current_setting('TimeZone'), current_setting('DateStyle'), "
        "current_setting('application_name'), pg_backend_pid()"
    ))
    return rows[0]


def test_startup_parameters_follow_client_across_shared_server(pooler):
    """Two clients with different TimeZone/DateStyle/application_name take
    turns on a single server connection (transaction mode, pool of 1): each
    sees its own settings every time."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a = _session(p, "Asia/Tokyo", "SQL, DMY", "alpha")
    b = _session(p, "America/New_York", "ISO, MDY", "beta")
    with a, b:
        pids = set()
        for _ in range(5):
            tz, ds, app, pid = _observe(a)
            assert (tz, ds, app) == ("Asia/Tokyo", "SQL, DMY", "alpha")
            pids.add(pid)
            tz, ds, app, pid = _observe(b)
            assert (tz, ds, app) == ("America/New_York", "ISO, MDY", "beta")
            pids.add(pid)
        assert len(pids) == 1  # really one server connection, shared
        # Rendering depends on the client's DateStyle, not the server's last.
        assert wire.rows_of(a.simple_query("select '2024-03-01'::date::text")) == [("01/03/2024",)]
        assert wire.rows_of(b.simple_query("select '2024-03-01'::date::text")) == [("2024-03-01",)]


def test_set_parameters_follow_client_across_shared_server(pooler):
    """SET of a tracked parameter outside a transaction sticks to the client
    (the pooler replays it on whichever server serves the client next)."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as a, p.connect() as b:
        a.execute("set timezone = 'Europe/Paris'")
        b.execute("set timezone = 'Pacific/Auckland'")
        for _ in range(3):
            assert a.execute("show timezone").fetchone() == ("Europe/Paris",)
            assert b.execute("show timezone").fetchone() == ("Pacific/Auckland",)
        assert a.info.parameter_status("TimeZone") == "Europe/Paris"
        assert b.info.parameter_status("TimeZone") == "Pacific/Auckland"
        a.execute("set application_name = 'ay'")
        b.execute("set application_name = 'bee'")
        assert a.execute("select current_setting('application_name')").fetchone() == ("ay",)
        assert b.execute("select current_setting('application_name')").fetchone() == ("bee",)


@pytest.mark.usher_only
def test_unset_application_name_does_not_leak(pooler):
    """A client that never set application_name must not see another
    client's. PgBouncer < 1.22 leaks it (fixed upstream in #999)."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as a, p.connect() as b:
        assert a.execute("select current_setting('application_name')").fetchone() == ("",)
        b.execute("set application_name = 'bee'")
        assert a.execute("select current_setting('application_name')").fetchone() == ("",)
        assert b.execute("select current_setting('application_name')").fetchone() == ("bee",)


def test_application_name_in_show_clients(pooler):
    p = pooler()
    with psycopg.connect(p.conninfo(application_name="usher-it-app"), autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        rows = [c for c in p.admin("show clients") if c["database"] == "appdb"]
        assert [c["application_name"] for c in rows] == ["usher-it-app"]
