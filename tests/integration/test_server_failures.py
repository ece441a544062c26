"""Things going wrong around the pooler: clients vanishing mid-transaction,
backends terminated, PostgreSQL restarted or down."""

import socket
import struct
import threading
import time

import psycopg
import pytest

from harness import clients, util, wire


def _prepare_table(p, name):
    with p.connect() as conn:
        conn.execute(f"drop table if exists {name}")
        conn.execute(f"create table {name} (id int)")


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_killed_mid_transaction(pooler, pg, how):
    """Open a transaction, insert, vanish. The next client on the same
    single-server pool must not inherit the transaction."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    _prepare_table(p, "killed_tx")
    conn, _, err = clients.raw_login(p)
    assert err is None
    msgs = conn.simple_query("begin; insert into killed_tx values (1); select txid_current()")
    assert msgs[-1] == (b"Z", b"T")
    xid = int(wire.rows_of(msgs)[0][0])
    if how == "rst":  # abortive close: RST instead of FIN
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()

    with p.connect() as nxt:
        assert nxt.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert nxt.execute("select count(*) from killed_tx").fetchone() == (0,)
        # A fresh transaction: statement and transaction start coincide, and
        # no xid has been assigned in it yet.
        same, assigned = nxt.execute(
            "select now() = statement_timestamp(), txid_current_if_assigned()"
        ).fetchone()
        assert same is True
        assert assigned is None
        # The abandoned transaction was rolled back, not left open anywhere.
        status = nxt.execute("select txid_status(%s)", (xid,)).fetchone()[0]
        assert status == "aborted"
        nxt.execute("drop table killed_tx")
    idle_in_tx = pg.sql(
        "select count(*) from pg_stat_activity where datname = 'appdb' "
        "and state like 'idle in transaction%'"
    )[0][0]
    assert idle_in_tx == 0


def test_client_killed_mid_transaction_session_mode(pooler, pg):
    p = pooler(pool_mode="session", default_pool_size=1)
    _prepare_table(p, "killed_tx_s")
    conn = p.connect(autocommit=False)
    conn.execute("insert into killed_tx_s values (1)")
    conn.pgconn.finish()  # drop the socket without COMMIT/ROLLBACK
    with p.connect() as nxt:
        assert nxt.execute("select count(*) from killed_tx_s").fetchone() == (0,)
        assert nxt.execute("select txid_current_if_assigned()").fetchone() == (None,)
        nxt.execute("drop table killed_tx_s")


def test_terminate_idle_server_connection(pooler, pg):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    assert pg.sql("select pg_terminate_backend(%s)", (pid,)) == [(True,)]
    util.wait_until(lambda: pid not in pg.backend_pids(), 10, what="backend exit")
    time.sleep(0.2)  # let the pooler see the EOF on its idle connection
    with p.connect() as conn:
        row = conn.execute("select 'after idle kill', pg_backend_pid()").fetchone()
        assert row[0] == "after idle kill"
        assert row[1] != pid


def test_terminate_active_server_connection(pooler, pg):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    conn = p.connect()
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]

    def kill_soon():
        util.wait_until(
            lambda: pg.sql(
                "select count(*) from pg_stat_activity where pid = %s and "
                "query like 'select pg_sleep%%' and state = 'active'", (pid,)
            )[0][0] == 1,
            10, what="pg_sleep running",
        )
        pg.sql("select pg_terminate_backend(%s)", (pid,))

    killer = clients.start(kill_soon)
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError) as exc:
        conn.execute("select pg_sleep(20)")
    assert time.monotonic() - t0 < 10
    assert "terminating connection due to administrator command" in str(exc.value) or \
        "server conn crashed" in str(exc.value) or "closed" in str(exc.value)
    killer.join_result(10)
    conn.close()
    # The pooler recovers: later clients get a new server connection.
    with p.connect() as again:
        row = again.execute("select 'recovered', pg_backend_pid()").fetchone()
        assert row[0] == "recovered" and row[1] != pid
    clients.assert_pooler_serves(p)


@pytest.mark.slow
def test_postgres_restart_under_load(pooler, pg_running):
    """Clients loop on queries while PostgreSQL restarts (fast mode).
    Errors are allowed while it is down; afterwards every client works
    again through the same pooler process."""
    pg = pg_running
    p = pooler(pool_mode="transaction", default_pool_size=4,
               extra_ini={"server_login_retry": 1, "query_wait_timeout": 10})
    pooler_pid = p.pid
    stop = threading.Event()

    def worker(n):
        log = []  # (monotonic time, ok)
        conn = None
        deadline = time.monotonic() + 40
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None or conn.closed:
                    conn = p.connect(connect_timeout=5)
                ok = conn.execute("select %s::int + 1", (n,)).fetchone() == (n + 1,)
                log.append((time.monotonic(), ok))
            except psycopg.Error:
                log.append((time.monotonic(), False))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.01)
        if conn is not None:
            conn.close()
        return log

    workers = [clients.start(worker, n) for n in range(8)]
    time.sleep(1.0)
    restart_began = time.monotonic()
    pg.restart(mode="fast")
    # Recovery window: server_login_retry (1 s) plus reconnects.
    time.sleep(5.0)
    settle = time.monotonic()
    time.sleep(2.0)
    stop.set()
    logs = [w.join_result(60) for w in workers]

    assert p.running() and p.pid == pooler_pid
    for n, log in enumerate(logs):
        before = [ok for t, ok in log if t < restart_began]
        after = [ok for t, ok in log if t >= settle]
        assert before and all(before), f"worker {n} failed before the restart"
        assert len(after) >= 5, f"worker {n} made too few queries after recovery"
        assert all(after), f"worker {n} still failing after recovery: {after.count(False)} errors"
    clients.assert_pooler_serves(p)


def test_postgres_down_fails_then_recovers(pooler, pg_running):
    pg = pg_running
    p = pooler(pool_mode="transaction",
               extra_ini={"server_login_retry": 1, "query_wait_timeout": 5,
                          "server_connect_timeout": 2})
    clients.assert_pooler_serves(p)
    pg.stop(mode="fast")
    try:
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            with p.connect(connect_timeout=15) as conn:
                conn.execute("select 1")
        # Bounded by query_wait_timeout (5 s), not hanging.
        assert time.monotonic() - t0 < 12
        assert p.running()
    finally:
        pg.start()

    def serves():
        try:
            with p.connect(connect_timeout=5) as conn:
                return conn.execute("select 'back'").fetchone() == ("back",)
        except psycopg.Error:
            return False

    util.wait_until(serves, 20, interval=0.5, what="pooler serving after PostgreSQL came back")
