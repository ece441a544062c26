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
        # PgBouncer quotes the query as it was sent.
        assert f"invalid command '{command}'" in str(err.value)
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


# ---------------------------------------------------------------------------
# PgBouncer 1.26's console (admin_columns.LATEST). Debian's 1.18 predates
# most of it, hence usher_only.

def _admin_error(p, sql, user="admin"):
    with pytest.raises(psycopg.Error) as exc:
        p.admin(sql, user=user)
    return exc.value


@pytest.mark.usher_only
@pytest.mark.parametrize("command", sorted(ac.LATEST))
def test_show_columns_are_pgbouncer_1_26(pooler, command):
    p = pooler()
    with p.connect() as conn:  # so that pools/servers/stats have rows
        conn.execute("select 1")
        assert _live_columns(p, command) == ac.LATEST[command]


@pytest.mark.usher_only
def test_show_totals_and_lists_rows_are_pgbouncer_1_26(pooler):
    p = pooler()
    assert [r[0] for r in p.admin("show totals").rows] == ac.TOTALS_ROWS_LATEST
    assert [r[0] for r in p.admin("show lists").rows] == ac.LISTS_ROWS_LATEST


@pytest.mark.usher_only
def test_show_help_is_pgbouncer_1_26(pooler):
    p = pooler()
    res = p.admin("show help")
    assert [(n["severity"], n["message"]) for n in res.notices] == [("NOTICE", "Console usage")]
    assert res.notices[0]["detail"] == ac.HELP_DETAIL_LATEST


@pytest.mark.usher_only
def test_show_peers_lists_the_peers_section(pooler):
    p = pooler(start=False)
    p.peers = {2: "host=10.0.0.2 port=7432 pool_size=3", 1: "host=/tmp/peer1"}
    p.write_ini()
    p.start()
    peers = p.admin("show peers").dicts()
    assert peers == [
        {"peer_id": 1, "host": "/tmp/peer1", "port": 6432, "pool_size": 5},
        {"peer_id": 2, "host": "10.0.0.2", "port": 7432, "pool_size": 3},
    ]
    # No cancel forwarding to peers yet, so no peer pools.
    assert p.admin("show peer_pools").rows == []
    assert dict(p.admin("show lists").rows)["peers"] == 2


@pytest.mark.usher_only
def test_show_peers_without_a_peers_section_is_empty(pooler):
    p = pooler()
    assert p.admin("show peers").rows == []
    assert dict(p.admin("show lists").rows)["peers"] == 0


@pytest.mark.usher_only
def test_show_users_reports_limits_and_current_counts(pooler):
    p = pooler(pool_mode="transaction",
               users={"app": "pool_size=3 max_user_client_connections=7"},
               extra_ini={"max_user_connections": 11})
    a, b = p.connect(), p.connect()
    try:
        a.execute("select 1")
        users = {r["name"]: r for r in p.admin("show users")}
        app = users["app"]
        assert app["pool_size"].strip() == "3"
        assert app["reserve_pool_size"] == ""
        assert app["pool_mode"] is None
        assert app["max_user_connections"] == 11
        assert app["current_connections"] >= 1
        assert app["max_user_client_connections"] == 7
        assert app["current_client_connections"] == 2
        assert users["app2"]["current_client_connections"] == 0
        assert users["app2"]["pool_size"] == ""
    finally:
        a.close()
        b.close()


@pytest.mark.usher_only
def test_show_databases_reports_client_counts_and_lifetime(pooler):
    p = pooler(extra_ini={"max_db_client_connections": 9, "server_lifetime": 120})
    with p.connect(), p.connect():
        dbs = {r["name"]: r for r in p.admin("show databases")}
        app = dbs["appdb"]
        assert app["current_client_connections"] == 2
        assert app["max_client_connections"] == 9
        assert app["server_lifetime"] == 120
        assert app["reserve_pool_size"] == 0
        assert app["load_balance_hosts"] is None
        assert dbs["benchdb"]["current_client_connections"] == 0
        assert dbs["pgbouncer"]["pool_mode"] == "statement"
    names = [r["name"] for r in p.admin("show databases")]
    assert names == sorted(names)


@pytest.mark.usher_only
def test_show_stats_counts_client_logins(pooler):
    p = pooler()

    def login_counts():
        stats = {r["database"]: r for r in p.admin("show stats")}.get("appdb")
        totals = {r["database"]: r for r in p.admin("show stats_totals")}.get("appdb")
        return (int(stats["total_client_login_count"]) if stats else 0,
                int(totals["client_login_count"]) if totals else 0)

    before = login_counts()
    for _ in range(3):
        with p.connect() as conn:
            conn.execute("select 1")
    after = login_counts()
    assert after[0] - before[0] == 3
    assert after[1] - before[1] == 3
    totals = dict(p.admin("show totals").rows)
    assert int(totals["total_client_login_count"]) >= 3
    assert int(totals["total_server_assignment_count"]) >= 3


@pytest.mark.usher_only
def test_show_clients_ids_and_idle_state(pooler):
    p = pooler(pool_mode="transaction")
    idle = p.connect(application_name="idle-one")
    busy = p.connect(autocommit=False, application_name="busy-one")
    try:
        busy.execute("select 1")  # holds its server: a transaction is open
        clients = {c["application_name"]: c for c in p.admin("show clients")}
        assert clients["idle-one"]["state"] == "idle"
        assert clients["busy-one"]["state"] == "active"
        assert clients["busy-one"]["link"] != ""
        assert clients["idle-one"]["replication"] == "none"
        ids = [c["id"] for c in p.admin("show clients")]
        assert len(set(ids)) == len(ids) and all(i > 0 for i in ids)
        server_ids = [s["id"] for s in p.admin("show servers")]
        assert not set(server_ids) & set(ids), "ids must be unique across sockets"
    finally:
        busy.rollback()
        idle.close()
        busy.close()


@pytest.mark.usher_only
def test_kill_client(pooler):
    p = pooler()
    victim = p.connect(application_name="victim")
    bystander = p.connect(application_name="bystander")
    try:
        victim.execute("select 1")
        clients = {c["application_name"]: c for c in p.admin("show clients")}
        victim_id = clients["victim"]["id"]
        res = p.admin(f"kill_client {victim_id}")
        assert res.rows == []
        with pytest.raises(psycopg.OperationalError) as exc:
            victim.execute("select 1")
        assert "admin forced disconnect" in str(exc.value)
        assert bystander.execute("select 'still here'").fetchone() == ("still here",)
        err = _admin_error(p, f"kill_client {victim_id}")
        assert (err.sqlstate, err.diag.message_primary) == ("08P01", "client not found")
        err = _admin_error(p, "kill_client someone")
        assert (err.sqlstate, err.diag.message_primary) == ("08P01", "invalid client pointer supplied")
        err = _admin_error(p, f"kill_client {clients['bystander']['id']}", user="stats")
        assert err.diag.message_primary == "admin access needed"
    finally:
        victim.close()
        bystander.close()


@pytest.mark.usher_only
def test_kill_without_database_kills_all_but_the_console(pooler):
    p = pooler(pool_mode="session")
    a = p.connect(db="appdb")
    b = p.connect(db="postgres", user="app")
    try:
        with p.connect(db="pgbouncer", user="admin", autocommit=True) as console:
            console.execute("kill")
            for victim in (a, b):
                with pytest.raises(psycopg.OperationalError):
                    victim.execute("select 1")
            # The console itself survives and sees the databases paused.
            assert console.execute("show version").fetchone()[0].startswith("Usher")
        paused = {r["name"]: r["paused"] for r in p.admin("show databases")}
        assert paused["appdb"] == 1 and paused["postgres"] == 1
        p.admin("resume appdb")
        p.admin("resume postgres")
        clients.assert_pooler_serves(p)
    finally:
        a.close()
        b.close()


@pytest.mark.usher_only
def test_suspend_is_unknown_as_in_1_26(pooler):
    p = pooler()
    err = _admin_error(p, "SUSPEND")
    assert err.sqlstate == "08P01"
    assert err.diag.message_primary == "invalid command 'SUSPEND', use SHOW HELP;"
    assert dict(p.admin("show state").rows)["suspended"] == "no"
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_show_fds_is_unknown_as_in_1_26(pooler):
    p = pooler()
    err = _admin_error(p, "show fds")
    assert err.diag.message_primary == "invalid command 'show fds', use SHOW HELP;"


@pytest.mark.usher_only
def test_reload_failure_is_f0000(pooler):
    p = pooler(default_pool_size=4)
    p.write_ini(extra_ini={"pool_mode": "no_such_mode"})
    err = _admin_error(p, "reload")
    assert err.sqlstate == "F0000"
    assert err.diag.message_primary == "RELOAD failed, see logs for additional details"
    # The old configuration stays in force.
    cfg = {r["key"]: r["value"] for r in p.admin("show config")}
    assert cfg["pool_mode"] == "transaction"
    clients.assert_pooler_serves(p)


def test_reload_takes_no_argument(pooler):
    p = pooler()
    err = _admin_error(p, "reload now")
    assert err.sqlstate == "08P01"
    assert err.diag.message_primary == "invalid command 'reload now', use SHOW HELP;"


def test_database_commands_refuse_unknown_and_admin_databases(pooler, kind):
    p = pooler()
    cases = {
        "pause nosuchdb": "no such database: nosuchdb",
        "resume nosuchdb": "no such database: nosuchdb",
        "kill nosuchdb": "no such database: nosuchdb",
        "reconnect nosuchdb": "no such database: nosuchdb",
        "enable nosuchdb": "no such database: nosuchdb",
        "wait_close nosuchdb": "no such database: nosuchdb",
        "pause pgbouncer": "cannot pause admin db: pgbouncer",
        "kill pgbouncer": "cannot kill admin db: pgbouncer",
        "reconnect pgbouncer": "cannot reconnect admin db: pgbouncer",
        "disable pgbouncer": "cannot disable admin db: pgbouncer",
        "enable pgbouncer": "cannot enable admin db: pgbouncer",
        "wait_close pgbouncer": "cannot wait in admin db: pgbouncer",
        "disable": "a database is required",
        "enable": "a database is required",
    }
    if kind == "pgbouncer":  # 1.18 says "disable" there; 1.25 fixed it
        cases["enable pgbouncer"] = "cannot disable admin db: pgbouncer"
    for sql, message in cases.items():
        err = _admin_error(p, sql)
        assert (sql, err.sqlstate, err.diag.message_primary) == (sql, "08P01", message)
    clients.assert_pooler_serves(p)


def test_pause_twice_is_an_error(pooler):
    p = pooler()
    with p.connect(db="pgbouncer", user="admin", autocommit=True) as console:
        console.execute("pause")
        with pytest.raises(psycopg.Error) as exc:
            console.execute("pause appdb")
        assert exc.value.diag.message_primary == "already suspended/paused"
        console.execute("resume")
    clients.assert_pooler_serves(p)


def test_stats_user_reads_but_cannot_control(pooler):
    p = pooler()
    assert p.admin("show pools", user="stats").columns[0] == "database"
    for sql in ("reload", "pause", "resume", "kill appdb", "reconnect", "disable appdb",
                "wait_close", "shutdown", "set default_pool_size = 3"):
        err = _admin_error(p, sql, user="stats")
        assert (sql, err.sqlstate, err.diag.message_primary) == (
            sql, "08P01", "admin access needed")
    assert p.running()


def test_set_tags_and_failures(pooler):
    p = pooler()
    with p.connect(db="pgbouncer", user="admin", autocommit=True) as console:
        cur = console.execute("set default_pool_size = 9")
        assert cur.statusmessage == "SET default_pool_size=9"
        cur = console.execute("SET query_wait_timeout TO '33'")
        assert cur.statusmessage == "SET query_wait_timeout=33"
        with pytest.raises(psycopg.Error) as exc:
            console.execute("set no_such_setting = 1")
        assert (exc.value.sqlstate, exc.value.diag.message_primary) == ("08P01", "SET failed")
    cfg = {r["key"]: r["value"] for r in p.admin("show config")}
    assert (cfg["default_pool_size"], cfg["query_wait_timeout"]) == ("9", "33")


def test_fake_settings_for_drivers(pooler):
    """Drivers SHOW and SET a few settings on connect: the console answers
    with made-up values."""
    p = pooler()
    res = p.admin("show client_encoding", user="stats")
    assert (res.columns, res.rows) == (["client_encoding"], [("UTF-8",)])


@pytest.mark.usher_only
def test_fake_set_is_ignored(pooler):
    """PgBouncer 1.25 ignores these SETs (JDBC sends extra_float_digits), for
    stats users too: it does so before it checks admin rights. 1.18 answers
    "SET failed"."""
    p = pooler()
    for user in ("admin", "stats"):
        res = p.admin("SET extra_float_digits = 3", user=user)
        assert [n["message"] for n in res.notices] == ["SET ignored"]


def test_select_is_show(pooler):
    p = pooler()
    assert p.admin("select version").columns == ["version"]


def test_shutdown_rejects_unknown_mode(pooler):
    p = pooler()
    err = _admin_error(p, "shutdown now")
    assert err.diag.message_primary == "invalid command 'shutdown now', use SHOW HELP;"
    assert p.running()
    clients.assert_pooler_serves(p)


def test_invalid_command_quotes_the_query(pooler):
    p = pooler()
    err = _admin_error(p, "SHOW no_such_thing")
    assert err.diag.message_primary == "invalid command 'SHOW no_such_thing', use SHOW HELP;"
    err = _admin_error(p, "show pools please")
    assert err.diag.message_primary == "invalid command 'show pools please', use SHOW HELP;"


def test_wait_close_waits_for_reconnected_servers(pooler):
    p = pooler(pool_mode="transaction")
    tx = p.connect(autocommit=False)
    try:
        tx.execute("select 1")  # holds a server in a transaction
        p.admin("reconnect appdb")
        servers = [s for s in p.admin("show servers") if s["database"] == "appdb"]
        assert [s["close_needed"] for s in servers if s["state"] == "active"] == [1]
        waiter = clients.start(lambda: p.admin("wait_close appdb"))
        time.sleep(1.0)
        assert waiter.is_alive(), "WAIT_CLOSE returned while a marked server was in use"
        tx.commit()
        waiter.join_result(10)
        assert p.admin("wait_close").rows == []  # nothing left to wait for
    finally:
        tx.close()
    clients.assert_pooler_serves(p)
