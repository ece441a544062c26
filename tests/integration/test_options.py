"""The `options` startup parameter and per-client parameters, as in
PgBouncer 1.26: `-c name=value`, `-cname=value` and `--name=value` (libpq's
PGOPTIONS and `options=`, JDBC's `options`), applied and kept per client in
transaction mode like any tracked parameter; others refused unless
ignore_startup_parameters lists them (or `options`); malformed ones end the
login and nothing else. Also the parameters PostgreSQL 15 does not report
(search_path): each client keeps its own, and a client that never set one
gets the server's default back after another client's.

PgBouncer 1.18 has no `options` support: these are Usher-only."""

import psycopg
import pytest

from harness import clients, wire

pytestmark = pytest.mark.usher_only

DEFAULT_SEARCH_PATH = '"$user", public'


def _setting(conn, name):
    return conn.execute("select current_setting(%s, true)", (name,)).fetchone()[0]


def _one_server(pooler, **ini):
    return pooler(pool_mode="transaction", default_pool_size=1, extra_ini=ini or None)


@pytest.mark.parametrize("options", [
    "-c search_path=tenant_a",
    "-csearch_path=tenant_a",
    "--search_path=tenant_a",
    "--search-path=tenant_a",
    "  -c   search_path=tenant_a  ",
])
def test_every_form_sets_the_parameter(pooler, options):
    p = _one_server(pooler)
    with p.connect(options=options) as conn:
        assert _setting(conn, "search_path") == "tenant_a"


def test_several_settings_with_escapes_as_libpq_writes_them(pooler):
    p = _one_server(pooler)
    opts = r"-c search_path=a,\ b --DateStyle=German,\ DMY -c application_name=it\'s\ mine"
    with p.connect(options=opts) as conn:
        assert _setting(conn, "search_path") == "a, b"
        assert _setting(conn, "DateStyle") == "German, DMY"
        assert _setting(conn, "application_name") == "it's mine"


def test_pgoptions_through_psql(pooler):
    p = _one_server(pooler)
    env = p.env()
    env["PGOPTIONS"] = "-c search_path=from_env -c TimeZone=Asia/Tokyo"
    import subprocess
    out = subprocess.run(
        [clients.PSQL, "-X", "-At", "-d", "appdb", "-c",
         "select current_setting('search_path') || '|' || current_setting('TimeZone')"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "from_env|Asia/Tokyo"


def test_each_client_keeps_its_own_on_one_shared_server(pooler):
    """Three clients interleaved on a single server connection: two with
    their own search_path and TimeZone, one with neither."""
    p = _one_server(pooler)
    a = p.connect(options="-c search_path=tenant_a -c TimeZone=UTC")
    b = p.connect(options="--search_path=tenant_b --TimeZone=Asia/Tokyo")
    c = p.connect()
    try:
        pids = set()
        for _ in range(3):
            for conn, path, tz in ((a, "tenant_a", "UTC"), (c, DEFAULT_SEARCH_PATH, None),
                                   (b, "tenant_b", "Asia/Tokyo")):
                row = conn.execute("select current_setting('search_path'), "
                                   "current_setting('TimeZone'), pg_backend_pid()").fetchone()
                assert row[0] == path
                if tz:
                    assert row[1] == tz
                pids.add(row[2])
        assert len(pids) == 1  # really one server
    finally:
        for conn in (a, b, c):
            conn.close()


def test_a_clients_own_set_does_not_reach_the_next_client(pooler):
    p = _one_server(pooler)
    with p.connect(options="-c search_path=tenant_a") as a, p.connect() as c:
        a.execute("set search_path = evil")
        assert _setting(c, "search_path") == DEFAULT_SEARCH_PATH
        # In transaction pooling a SET of a parameter the server does not
        # report lasts for the transaction: the client is given its login
        # value again with its next one.
        assert _setting(a, "search_path") == "tenant_a"
        with a.transaction():
            a.execute("set search_path = inside")
            assert _setting(a, "search_path") == "inside"


def test_reported_parameters_set_later_are_kept_per_client(pooler):
    """default_transaction_read_only is reported by PostgreSQL 14+: a
    client's SET of it follows that client, and only that client."""
    p = _one_server(pooler)
    with p.connect() as a, p.connect() as b:
        a.execute("set default_transaction_read_only = on")
        assert _setting(b, "default_transaction_read_only") == "off"
        assert _setting(a, "default_transaction_read_only") == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            a.execute("create temp table t(x int)")
        assert _setting(b, "default_transaction_read_only") == "off"


def test_track_extra_parameters_with_a_custom_name(pooler):
    p = _one_server(pooler, track_extra_parameters="IntervalStyle, myapp.tenant")
    raw, _, err = clients.raw_login(p, params={"myapp.tenant": "7"})
    assert err is None, err
    with raw, p.connect(options="-c myapp.tenant=42") as a, p.connect() as b:
        for _ in range(2):
            assert _setting(a, "myapp.tenant") == "42"
            assert _setting(b, "myapp.tenant") in (None, "")
            rows = wire.rows_of(raw.simple_query("select current_setting('myapp.tenant')"))
            assert rows == [("7",)]


@pytest.mark.parametrize("options,name", [
    ("-c statement_timeout=5s", "statement_timeout"),
    ("-c search_path=x --work_mem=8MB", "work_mem"),
])
def test_untracked_parameter_in_options_refused(pooler, options, name):
    p = _one_server(pooler)
    err, closed = clients.login_error(p, params={"options": options})
    assert err["S"] == "FATAL"
    assert err["C"] == "08P01"
    assert err["M"] == f"unsupported startup parameter in options: {name}"
    assert closed
    clients.assert_pooler_serves(p)


def test_ignore_startup_parameters_covers_options(pooler):
    p = _one_server(pooler, ignore_startup_parameters="statement_timeout")
    with p.connect(options="-c statement_timeout=5s -c search_path=kept") as conn:
        assert _setting(conn, "statement_timeout") == "0"  # ignored, not applied
        assert _setting(conn, "search_path") == "kept"
    err, _ = clients.login_error(p, params={"options": "-c work_mem=1MB"})
    assert "work_mem" in err["M"]
    # `options` in the list ignores every untracked name inside it; tracked
    # ones still apply.
    p = _one_server(pooler, ignore_startup_parameters="options")
    with p.connect(options="-c work_mem=1MB -c search_path=still") as conn:
        assert _setting(conn, "work_mem") == "4MB"
        assert _setting(conn, "search_path") == "still"


@pytest.mark.parametrize("options", ["-c", "-c=", "-c =x", "-c search_path", "--search_path",
                                     "-B 100", "search_path=x", "-c a=1 -d"])
def test_malformed_options_end_only_that_login(pooler, options):
    p = _one_server(pooler, ignore_startup_parameters="options")
    with p.connect(options="-c search_path=bystander") as other:
        err, closed = clients.login_error(p, params={"options": options})
        assert err["S"] == "FATAL"
        assert err["C"] == "08P01"
        assert err["M"] == ("unsupported options startup parameter: only '-c config=val' and "
                            "'--config=val' are allowed")
        assert closed
        assert _setting(other, "search_path") == "bystander"


def test_a_value_the_server_refuses_fails_that_client_only(pooler):
    """PostgreSQL refuses `DateStyle=bogus` at login; through Usher the
    client hears it at its first query, and the server serves on."""
    p = _one_server(pooler)
    with p.connect() as other:
        pid = other.execute("select pg_backend_pid()").fetchone()[0]
        conn, msgs, err = clients.raw_login(p, params={"options": "-c DateStyle=bogus"})
        with conn:
            assert err is None, err
            conn.send(wire.query("select 1"))
            errors = wire.errors_of(conn.read_until({b"E"}))
            assert errors[0]["C"] == "22023"
            assert "DateStyle" in errors[0]["M"]
            assert conn.expect_closed(5)
        assert other.execute("select pg_backend_pid()").fetchone()[0] == pid


def test_values_are_bound_not_spliced(pooler, pg):
    """A value built to end a quoted literal runs nothing, whatever the
    server's standard_conforming_strings."""
    p = _one_server(pooler)
    hostile = r"x\'; create table pwned_by_options(); --"
    escaped = hostile.replace("\\", "\\\\").replace(" ", "\\ ")
    opts = "-c standard_conforming_strings=off -c application_name=" + escaped
    with p.connect(options=opts) as conn:
        assert _setting(conn, "application_name") == hostile
        assert _setting(conn, "standard_conforming_strings") == "off"
    with p.connect() as conn:
        assert conn.execute("select to_regclass('pwned_by_options')").fetchone()[0] is None
