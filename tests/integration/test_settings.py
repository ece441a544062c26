"""Settings at the edges of pooling: the order idle servers are reused in,
the client's address in application_name, refusing the simple query
protocol, client limits per database and per user, listening socket
options, the statistics line and the log file after rotation."""

import grp
import os
import re
import socket
import stat
import time

import psycopg
import pytest

from harness import clients, util, wire
from harness.pooler import Pooler


def _backend_pids(p, n, **kw):
    with p.connect(**kw) as conn:
        return [conn.execute("select pg_backend_pid()").fetchone()[0] for _ in range(n)]


def _open_servers(p, n):
    """Makes the pool open n servers: n clients inside a transaction at once."""
    conns = [p.connect(autocommit=False) for _ in range(n)]
    try:
        for c in conns:
            c.execute("select 1")
    finally:
        for c in conns:
            c.rollback()
            c.close()


@pytest.mark.parametrize("round_robin", [False, True])
def test_server_round_robin(pooler, round_robin):
    p = pooler(pool_mode="transaction", default_pool_size=3,
               extra_ini={"server_round_robin": int(round_robin)})
    _open_servers(p, 3)
    pids = _backend_pids(p, 9)
    if round_robin:
        # Every server takes its turn, in the same order each round.
        assert len(set(pids)) == 3
        assert pids[0:3] == pids[3:6] == pids[6:9]
    else:
        # LIFO: the server just released serves again.
        assert len(set(pids)) == 1


def _app_name(conn):
    return (conn.info.parameter_status("application_name"),
            conn.execute("show application_name").fetchone()[0])


def test_application_name_add_host(pooler, pg):
    p = pooler(pool_mode="transaction", extra_ini={"application_name_add_host": 1})
    with p.connect(application_name="billing") as conn:
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as own:
            port = own.getsockname()[1]
        expected = f"billing - 127.0.0.1:{port}"
        assert _app_name(conn) == (expected, expected)
        # The server sees it too, whichever server runs the query.
        with pg.connect() as direct:
            names = [r[0] for r in direct.execute(
                "select application_name from pg_stat_activity where usename = 'app'")]
        assert expected in names
        # Set once at login: the client's own SET is kept as it is.
        conn.execute("set application_name = 'later'")
        assert conn.execute("show application_name").fetchone()[0] == "later"
    with p.connect() as conn:  # no name given: PgBouncer's "app"
        assert conn.info.parameter_status("application_name").startswith("app - 127.0.0.1:")
    unix = psycopg.connect(host=p.sock_dir, port=p.port, dbname="appdb", user="app",
                           password="apppass", application_name="cron", autocommit=True)
    with unix:
        name = unix.info.parameter_status("application_name")
        assert re.fullmatch(rf"cron - unix\(\d+@[^)]+\):{p.port}", name), name


def test_application_name_left_alone_by_default(pooler):
    p = pooler(pool_mode="transaction")
    with p.connect(application_name="billing") as conn:
        assert _app_name(conn) == ("billing", "billing")


def test_disable_pqexec(pooler):
    p = pooler(pool_mode="transaction", extra_ini={"disable_pqexec": 1})
    with p.connect() as conn:
        # The extended protocol is untouched.
        assert conn.execute("select %s::int + 1", [41]).fetchone() == (42,)
        with pytest.raises(psycopg.OperationalError, match="PQexec disallowed"):
            conn.execute("select 1; drop table if exists nothing")
    # Every other client goes on.
    with p.connect() as conn:
        assert conn.execute("select %s::text", ["still here"]).fetchone() == ("still here",)
    assert "PQexec disallowed" in p.log_text()


def _refused(p, user="app", db="appdb"):
    """The login error a client gets (a raw client, to see the SQLSTATE)."""
    conn = wire.Conn(p.host, p.port)
    try:
        errors = wire.errors_of(conn.startup(user, db, p.password_for(user)))
        assert errors, f"{user}@{db} was let in"
        return errors[0]
    finally:
        conn.close()


def test_max_db_client_connections(pooler, kind):
    if kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18 has no max_db_client_connections")
    p = pooler(pool_mode="transaction", extra_ini={"max_db_client_connections": 2})
    first, second = p.connect(), p.connect()
    try:
        err = _refused(p)
        assert (err["C"], err["M"]) == (
            "53300", "client connections exceeded (max_db_client_connections)")
        # Another database has its own count; the admin console is exempt.
        with p.connect(db="postgres") as other:
            assert other.execute("select 1").fetchone() == (1,)
        assert p.admin("show version").rows
        # A leaving client frees its slot.
        second.close()
        with p.connect() as again:
            assert again.execute("select 2").fetchone() == (2,)
        assert first.execute("select 3").fetchone() == (3,)
    finally:
        first.close()
        second.close()


def test_max_user_client_connections(pooler, kind):
    if kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18 has no max_user_client_connections")
    p = pooler(pool_mode="transaction", users={"app2": "max_user_client_connections=3"},
               extra_ini={"max_user_client_connections": 1})
    held = p.connect(user="app")
    try:
        err = _refused(p, user="app", db="postgres")  # counted across databases
        assert (err["C"], err["M"]) == (
            "53300", "client connections exceeded (max_user_client_connections)")
        # [users] raises the limit for app2.
        app2 = [p.connect(user="app2") for _ in range(3)]
        assert _refused(p, user="app2")["C"] == "53300"
        for c in app2:
            c.close()
    finally:
        held.close()
    with p.connect(user="app") as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_so_reuseport(pooler, pg):
    first = pooler(extra_ini={"so_reuseport": 1})
    second = Pooler(pg, util.make_service_tempdir("uit-pl-"))
    try:
        second.port = first.port
        settings = second.default_settings()
        settings.update({"so_reuseport": "1", "unix_socket_dir": ""})
        second.write_ini(databases=second.default_databases(), settings=settings)
        second.write_userlist()
        second.start()
        # Both serve; the kernel spreads connections between them.
        for _ in range(4):
            with first.connect() as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        first.stop()
        with second.connect() as conn:
            assert conn.execute("select 2").fetchone() == (2,)
    finally:
        second.stop()
        util.remove_tree(second.base_dir)


def test_listen_port_taken_without_so_reuseport(pooler, pg):
    first = pooler()
    second = Pooler(pg, util.make_service_tempdir("uit-pl-"))
    try:
        second.port = first.port
        settings = second.default_settings()
        settings["unix_socket_dir"] = ""
        second.write_ini(databases=second.default_databases(), settings=settings)
        second.write_userlist()
        second.start(wait=False)
        assert second.wait_exit(10) not in (None, 0)
    finally:
        second.stop()
        util.remove_tree(second.base_dir)
    assert first.running()


def test_unix_socket_group(pooler):
    group = grp.getgrnam("postgres")
    p = pooler(extra_ini={"unix_socket_group": "postgres", "unix_socket_mode": "0770"})
    st = os.stat(os.path.join(p.sock_dir, f".s.PGSQL.{p.port}"))
    assert st.st_gid == group.gr_gid
    assert stat.S_IMODE(st.st_mode) == 0o770


def test_unknown_unix_socket_group_fails_to_start(pooler):
    p = pooler(extra_ini={"unix_socket_group": "no_such_group_here"}, start=False)
    p.start(wait=False)
    assert p.wait_exit(10) not in (None, 0)
    assert "no_such_group_here" in p.output_text()


def _stats_lines(p):
    return [l for l in p.log_text().splitlines() if "stats: " in l and "xacts/s" in l]


def test_log_stats(pooler):
    p = pooler(pool_mode="transaction", extra_ini={"stats_period": 1})
    with p.connect() as conn:
        for _ in range(20):
            conn.execute("select 1")
    util.wait_until(lambda: _stats_lines(p), 10, what="a stats line in the log")
    # At least one period saw the 20 transactions.
    util.wait_until(
        lambda: any(int(re.search(r"stats: (\d+) xacts/s", l).group(1)) > 0
                    for l in _stats_lines(p)), 10, what="a stats line with traffic")


def test_log_stats_off(pooler):
    p = pooler(pool_mode="transaction", extra_ini={"stats_period": 1, "log_stats": 0})
    with p.connect() as conn:
        conn.execute("select 1")
    time.sleep(2.5)  # two stats periods pass
    assert _stats_lines(p) == []


def test_logfile_reopened_on_sighup(pooler):
    p = pooler()
    rotated = p.log_path + ".1"
    os.rename(p.log_path, rotated)  # what logrotate does
    p.reload()

    def login_logged_in_new_file():
        with p.connect() as conn:
            conn.execute("select 1")
        return "login attempt" in util.read_text(p.log_path)

    util.wait_until(login_logged_in_new_file, 10, what="a login logged in a new logfile")
    assert "listening on" in util.read_text(rotated)
    assert "listening on" not in util.read_text(p.log_path)
    # PgBouncer's line format: date, time, zone, pid.
    first = util.read_text(p.log_path).splitlines()[0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [A-Z][A-Za-z0-9+-]* \[\d+\] ", first), first


def test_set_conffile_then_reload(pooler):
    p = pooler()
    other = os.path.join(p.base_dir, "other.ini")
    dbs = dict(p.databases)
    dbs["elsewhere"] = f"host={p.pg.host} port={p.pg.port} dbname=postgres"
    lines = ["[databases]"] + [f"{k} = {v}" for k, v in dbs.items()]
    lines += ["[pgbouncer]"] + [f"{k} = {v}" for k, v in p.settings.items()]
    with open(other, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(other, 0o644)
    util.chown_service(other)
    p.admin(f"set conffile = '{other}'")
    p.admin("reload")
    with p.connect(db="elsewhere") as conn:
        assert conn.execute("select current_database()").fetchone() == ("postgres",)


def test_several_hosts_are_used_in_turn(pooler, pg):
    # The same PostgreSQL over TCP and over its Unix socket: the server's
    # view of the client address tells which host each connection went to.
    p = pooler(pool_mode="transaction", default_pool_size=4, databases={
        "appdb": f"host={pg.host},{pg.sock_dir} port={pg.port} dbname=appdb"})
    conns = [p.connect(autocommit=False) for _ in range(4)]
    try:
        addrs = [c.execute("select inet_client_addr()::text").fetchone()[0] for c in conns]
    finally:
        for c in conns:
            c.close()
    assert sorted(addrs, key=str) == sorted(["127.0.0.1/32", "127.0.0.1/32", None, None], key=str)


@pytest.mark.usher_only
def test_load_balance_hosts_disable_stays_on_a_host(pooler, pg):
    """PgBouncer 1.24's load_balance_hosts=disable: every connection goes to
    the first host; only a failed connection moves on to the next."""
    p = pooler(pool_mode="transaction", default_pool_size=4, databases={
        "appdb": f"host={pg.sock_dir},{pg.host} port={pg.port} dbname=appdb "
                 "load_balance_hosts=disable"})
    conns = [p.connect(autocommit=False) for _ in range(4)]
    try:
        addrs = [c.execute("select inet_client_addr()::text").fetchone()[0] for c in conns]
    finally:
        for c in conns:
            c.close()
    assert addrs == [None] * 4  # all over the Unix socket

    missing = "/nonexistent-usher-socket-dir"
    p = pooler(pool_mode="transaction", default_pool_size=4,
               extra_ini={"server_login_retry": "0.2"}, databases={
                   "appdb": f"host={missing},{pg.host} port={pg.port} dbname=appdb "
                            "load_balance_hosts=disable"})
    with pytest.raises(psycopg.OperationalError):
        p.connect()
    time.sleep(0.5)  # past server_login_retry: the next try goes to the next host
    conns = [p.connect(autocommit=False) for _ in range(3)]
    try:
        addrs = [c.execute("select inet_client_addr()::text").fetchone()[0] for c in conns]
    finally:
        for c in conns:
            c.close()
    assert addrs == ["127.0.0.1/32"] * 3


@pytest.mark.usher_only
def test_login_notify_message(pooler):
    p = pooler(extra_ini={"login_notify_message": "Welcome to the pool"})
    conn, msgs, err = clients.raw_login(p)
    with conn:
        assert err is None, err
        notices = [wire.parse_fields(body) for tag, body in msgs if tag == b"N"]
        assert [n["M"] for n in notices] == ["Welcome to the pool"]
        assert [tag for tag, _ in msgs][-1] == b"Z"


@pytest.mark.usher_only
def test_query_wait_notify(pooler):
    """PgBouncer 1.25: a client queued longer than query_wait_notify hears
    so once, then gets its answer when a server frees up."""
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_wait_notify": "1"})
    holder = p.connect(autocommit=False)
    holder.execute("select 1")  # holds the only server
    conn, _, err = clients.raw_login(p)
    with conn:
        assert err is None, err
        conn.send(wire.query("select 'served'"))
        msgs = conn.read_until({b"N"}, timeout=10)
        notice = wire.parse_fields(msgs[-1][1])
        assert notice["M"] == ("No server connection available in postgres backend, "
                               "client being queued")
        holder.rollback()
        msgs = conn.read_until({b"Z"}, timeout=10)
        assert wire.rows_of(msgs) == [("served",)]
        assert b"N" not in [tag for tag, _ in msgs]
    holder.close()


def test_syslog(pooler):
    # libc's syslog() writes to /dev/log; on a machine without a syslog
    # daemon (CI) the test listens there itself for its duration.
    if os.path.exists("/dev/log"):
        pytest.skip("/dev/log belongs to this machine's syslog daemon")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        listener.bind("/dev/log")
        os.chmod("/dev/log", 0o666)  # PgBouncer runs as the service account
        listener.settimeout(10)
        p = pooler(extra_ini={"syslog": 1, "syslog_ident": "usher-it",
                              "syslog_facility": "local3"})
        with p.connect() as conn:
            conn.execute("select 1")
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("login attempt" in l for l in lines):
            lines.append(listener.recv(65536).decode())
        logins = [l for l in lines if "login attempt" in l]
        assert logins, lines
        # <priority> is facility local3 (19) * 8 + severity info (6).
        assert re.match(r"<158>.*usher-it\[\d+\]: ", logins[0]), logins[0]
    finally:
        listener.close()
        if os.path.exists("/dev/log"):
            os.unlink("/dev/log")


def test_user_timeouts_override_global(pooler, kind):
    if kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18's [users] has no timeouts")
    p = pooler(pool_mode="transaction",
               users={"app2": "query_timeout=1 idle_transaction_timeout=1"})
    # app2's own limits apply to app2 ...
    with p.connect(user="app2") as conn:
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="query timeout"):
            conn.execute("select pg_sleep(10)")
        assert time.monotonic() - t0 < 8
    with p.connect(user="app2", autocommit=False) as conn:
        conn.execute("select 1")
        time.sleep(3)  # idle in transaction past app2's 1 s
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 2")
    # ... and not to app, who has the global (none).
    with p.connect(user="app", autocommit=False) as conn:
        conn.execute("select pg_sleep(2.5)")
        time.sleep(2.5)
        assert conn.execute("select 3").fetchone() == (3,)
