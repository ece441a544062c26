"""The admin console (virtual database `pgbouncer`): SHOW output columns as
PgBouncer's, figures that match what happened, and the control commands."""

import time

import psycopg
import pytest

import admin_columns as ac
from expectations import check_message, check_sqlstate
from harness import clients, util


def _live_columns(p, command):
    with p.connect(db="pgbouncer", user="admin") as conn:
        cur = conn.execute(command)
        return [(d.name, d.type_code) for d in cur.description]


def _check_columns(kind, command, live):
    expected = ac.V1_18[command]
    if kind == "pgbouncer":
        assert live == expected
    else:
        live_names = [n for n, _ in live]
        assert ac.is_ordered_subsequence(ac.names(expected), live_names), (
            f"{command}: 1.18 columns {ac.names(expected)} not all present in order in {live_names}"
        )
        # Types of the 1.18 columns must match (clients parse them).
        live_types = dict(live)
        for name, oid in expected:
            name = name if name in live_types else ac.ALIASES.get(name, name)
            assert live_types[name] == oid, (command, name, live_types[name], oid)


@pytest.mark.parametrize("command", ac.REQUIRED)
def test_show_columns(pooler, kind, command):
    p = pooler()
    with p.connect() as conn:  # so that pools/servers/stats have rows
        conn.execute("select 1")
        _check_columns(kind, command, _live_columns(p, command))


@pytest.mark.parametrize("command", ac.OPTIONAL)
def test_show_internal_columns(pooler, kind, command):
    """PgBouncer's internals: PgBouncer lists them; Usher, which has no such
    internals (docs/configuration.md), refuses them as PgBouncer refuses an
    unknown SHOW, and the console stays usable."""
    p = pooler()
    if kind == "pgbouncer":
        _check_columns(kind, command, _live_columns(p, command))
        return
    with p.connect(db="pgbouncer", user="admin", autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as err:
            conn.execute(command)
        check_sqlstate(kind, "admin_invalid_command", err.value.sqlstate)
        check_message("admin_invalid_command", str(err.value))
        assert command.lower() in str(err.value)
        assert conn.execute("show version").fetchone()[0].startswith("Usher")


def test_show_help(pooler):
    p = pooler()
    res = p.admin("show help")
    assert res.rows == []
    assert len(res.notices) == 1
    n = res.notices[0]
    assert n["severity"] == "NOTICE"
    assert n["message"] == ac.HELP_NOTICE_MESSAGE
    for word in ("SHOW", "POOLS", "CLIENTS", "SERVERS", "RELOAD", "PAUSE", "RESUME",
                 "KILL", "SHUTDOWN", "RECONNECT"):
        assert word in n["detail"], word


def test_show_version(pooler, kind):
    p = pooler()
    res = p.admin("show version")
    assert res.columns == ["version"]
    assert len(res.rows) == 1
    version = res.rows[0][0]
    if kind == "pgbouncer":
        assert version.startswith("PgBouncer 1.18")
    else:
        assert version.startswith(("Usher", "PgBouncer"))


def test_show_lists_and_totals_rows(pooler, kind):
    p = pooler()
    lists = p.admin("show lists")
    names = [r[0] for r in lists.rows]
    assert ac.is_ordered_subsequence(ac.LISTS_ROWS_1_18, names)
    assert dict(lists.rows)["databases"] >= 3
    totals = p.admin("show totals")
    assert ac.is_ordered_subsequence(ac.TOTALS_ROWS_1_18, [r[0] for r in totals.rows])


def test_show_config_reflects_ini(pooler):
    p = pooler(pool_mode="session", default_pool_size=7,
               extra_ini={"max_client_conn": 123, "query_wait_timeout": 42})
    cfg = {r["key"]: r for r in p.admin("show config")}
    assert cfg["pool_mode"]["value"] == "session"
    assert cfg["default_pool_size"]["value"] == "7"
    assert cfg["default_pool_size"]["default"] == "20"
    assert cfg["max_client_conn"]["value"] == "123"
    assert cfg["query_wait_timeout"]["value"] == "42"
    assert cfg["listen_port"]["value"] == str(p.port)
    assert cfg["listen_port"]["changeable"] == "no"
    assert cfg["default_pool_size"]["changeable"] == "yes"


def test_show_databases_and_users(pooler):
    p = pooler(default_pool_size=4)
    dbs = {r["name"]: r for r in p.admin("show databases")}
    assert {"appdb", "benchdb", "postgres", "pgbouncer"} <= set(dbs)
    assert dbs["appdb"]["host"] == "127.0.0.1"
    assert dbs["appdb"]["port"] == p.pg.port
    assert dbs["appdb"]["database"] == "appdb"
    assert dbs["appdb"]["pool_size"] == 4
    assert dbs["appdb"]["paused"] == 0 and dbs["appdb"]["disabled"] == 0
    users = {r["name"] for r in p.admin("show users")}
    assert {"app", "app2", "admin"} <= users


def test_pools_clients_servers_reflect_activity(pooler, pg):
    p = pooler(pool_mode="transaction", default_pool_size=2,
               extra_ini={"query_wait_timeout": 30})
    a = p.connect(autocommit=False, application_name="holder-a")
    b = p.connect(autocommit=False, application_name="holder-b")
    c = p.connect(application_name="waiter-c")
    try:
        pid_a = a.execute("select pg_backend_pid()").fetchone()[0]
        pid_b = b.execute("select pg_backend_pid()").fetchone()[0]
        waiter = clients.start(lambda: c.execute("select 'c ran'").fetchone())

        def pool():
            return [r for r in p.admin("show pools") if r["database"] == "appdb"][0]

        util.wait_until(lambda: pool()["cl_waiting"] == 1, 5, what="cl_waiting=1")
        row = pool()
        assert row["user"] == "app"
        assert row["cl_active"] == 2
        assert row["sv_active"] == 2
        assert row["sv_idle"] == 0
        assert row["pool_mode"] == "transaction"

        servers = [s for s in p.admin("show servers") if s["database"] == "appdb"]
        assert sorted(s["remote_pid"] for s in servers) == sorted([pid_a, pid_b])
        assert all(s["state"] == "active" and s["type"] == "S" for s in servers)
        assert all(s["port"] == p.pg.port for s in servers)

        cl = [x for x in p.admin("show clients") if x["database"] == "appdb"]
        states = sorted((x["application_name"], x["state"]) for x in cl)
        assert states == [("holder-a", "active"), ("holder-b", "active"),
                          ("waiter-c", "waiting")]
        assert all(x["type"] == "C" and x["user"] == "app" for x in cl)
        a.commit()
        assert waiter.join_result(10) == ("c ran",)
        b.commit()
        util.wait_until(lambda: pool()["sv_idle"] == 2, 5, what="servers idle")
    finally:
        for x in (a, b, c):
            x.close()


def test_show_stats_counts_queries(pooler):
    p = pooler(pool_mode="transaction")

    def stats():
        return {r["database"]: r for r in p.admin("show stats")}.get("appdb")

    before = stats()
    base_q = int(before["total_query_count"]) if before else 0
    base_x = int(before["total_xact_count"]) if before else 0
    with p.connect() as conn:
        for i in range(20):
            conn.execute("select %s::int", (i,))
    with p.connect(autocommit=False) as conn:
        conn.execute("select 1")
        conn.execute("select 2")
        conn.commit()
    after = stats()
    assert int(after["total_query_count"]) - base_q >= 22
    assert int(after["total_xact_count"]) - base_x >= 21
    assert int(after["total_received"]) > 0 and int(after["total_sent"]) > 0


def test_invalid_command(pooler, kind):
    p = pooler()
    with pytest.raises(psycopg.Error) as exc:
        p.admin("show no_such_thing")
    check_sqlstate(kind, "admin_invalid_command", exc.value.sqlstate)
    check_message("admin_invalid_command", str(exc.value))


@pytest.mark.usher_only
def test_show_state(pooler):
    p = pooler()
    res = p.admin("show state")
    assert [(c, 25) for c in res.columns] == ac.SHOW_STATE
    assert dict(res.rows) == {"active": "yes", "paused": "no", "suspended": "no"}


def test_pause_and_resume(pooler):
    p = pooler(pool_mode="transaction", extra_ini={"query_wait_timeout": 30})
    with p.connect() as conn:
        conn.execute("select 1")
        # PAUSE returns once servers are released (none is busy here).
        assert p.admin("pause appdb").rows == []
        assert [r for r in p.admin("show databases") if r["name"] == "appdb"][0]["paused"] == 1
        waiter = clients.start(lambda: conn.execute("select 'after resume'").fetchone())
        time.sleep(1.0)
        assert waiter.is_alive(), "query ran while the database was paused"
        p.admin("resume appdb")
        assert waiter.join_result(10) == ("after resume",)
    assert [r for r in p.admin("show databases") if r["name"] == "appdb"][0]["paused"] == 0


def test_pause_waits_for_transaction(pooler):
    p = pooler(pool_mode="transaction")
    tx = p.connect(autocommit=False)
    try:
        tx.execute("select 1")
        pauser = clients.start(lambda: p.admin("pause"))
        time.sleep(1.0)
        assert pauser.is_alive(), "PAUSE returned while a transaction was open"
        tx.commit()
        pauser.join_result(10)
        p.admin("resume")
    finally:
        tx.close()
    clients.assert_pooler_serves(p)


def test_resume_when_not_paused_is_an_error(pooler):
    p = pooler()
    with pytest.raises(psycopg.Error) as exc:
        p.admin("resume")
    assert exc.value.sqlstate == "08P01"


def test_reconnect_replaces_server_connections(pooler, pg):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as conn:
        old = conn.execute("select pg_backend_pid()").fetchone()[0]
        p.admin("reconnect appdb")
        new = conn.execute("select pg_backend_pid()").fetchone()[0]
        assert new != old
        util.wait_until(lambda: old not in pg.backend_pids(), 5, what="old backend closed")


def test_disable_and_enable(pooler, kind):
    p = pooler()
    with p.connect() as existing:
        p.admin("disable appdb")
        err, closed = clients.login_error(p)
        check_sqlstate(kind, "database_disabled", err["C"])
        check_message("database_disabled", err["M"], db="appdb")
        # Existing clients keep working.
        assert existing.execute("select 'existing ok'").fetchone() == ("existing ok",)
        p.admin("enable appdb")
    clients.assert_pooler_serves(p)


def test_kill_database(pooler):
    # PgBouncer 1.18 treats the killed servers like a failed login and waits
    # server_login_retry (default 15 s) before connecting again.
    p = pooler(pool_mode="session", extra_ini={"server_login_retry": 1})
    victim = p.connect()
    assert victim.execute("select 1").fetchone() == (1,)
    p.admin("kill appdb")
    # PgBouncer sends FATAL "database removed" and closes the client.
    with pytest.raises(psycopg.OperationalError):
        victim.execute("select 1")
    assert victim.closed or victim.broken
    victim.close()
    # New clients wait until RESUME.
    newcomer = clients.start(lambda: p.connect(connect_timeout=15).execute("select 'resumed'").fetchone())
    time.sleep(1.0)
    assert newcomer.is_alive()
    p.admin("resume appdb")
    assert newcomer.join_result(15) == ("resumed",)


def test_shutdown_command(pooler):
    p = pooler()
    conn = p.connect(db="pgbouncer", user="admin")
    try:
        try:
            conn.execute("shutdown")
        except psycopg.OperationalError:
            pass  # the pooler may close the console before answering
    finally:
        conn.close()
    assert p.wait_exit(10) is not None, "pooler still running after SHUTDOWN"


def test_set_command(pooler):
    p = pooler()
    p.admin("set default_pool_size = 9")
    cfg = {r["key"]: r["value"] for r in p.admin("show config")}
    assert cfg["default_pool_size"] == "9"


def test_admin_console_rejects_extended_protocol_gracefully(pooler):
    """The console speaks the simple query protocol only; a parameterised
    query gets an error, not a crash."""
    p = pooler()
    with p.connect(db="pgbouncer", user="admin") as conn:
        with pytest.raises(psycopg.Error):
            conn.execute("show %s", ("pools",))
    assert p.running()
    assert p.admin("show version").columns == ["version"]
