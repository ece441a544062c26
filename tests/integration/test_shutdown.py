"""Shutdown signals, with PgBouncer 1.18's semantics (man pgbouncer(1)):

  SIGINT   safe shutdown: like PAUSE then SHUTDOWN - waits until every
           server connection is released (transaction mode: open
           transactions finish), then exits.
  SIGTERM  immediate shutdown, like SHUTDOWN on the console.
  SIGQUIT  not handled by 1.18 (default action: the process dies at once).

Version note: PgBouncer >= 1.23 changed these (PR #902): SIGTERM became a
"super safe shutdown" that waits for all *clients* to disconnect (a second
SIGTERM is immediate), SIGINT stays a safe shutdown but also stops
listening, and SIGQUIT is the immediate shutdown. The tests assert the 1.18
behaviour, which is what Debian 12 ships and what this tier targets.
"""

import os
import time

import psycopg
import pytest

from harness import util


def _row_count(pg, table):
    return pg.sql(f"select count(*) from {table}", db="appdb")[0][0]


def _fresh_table(pg, table):
    pg.sql(f"drop table if exists {table}", db="appdb")
    pg.sql(f"create table {table} (id int)", db="appdb")
    pg.sql(f"grant all on {table} to app", db="appdb")


def test_pidfile_written(pooler):
    p = pooler()
    util.wait_until(lambda: os.path.exists(p.pid_path), 5, what="pidfile")
    with open(p.pid_path) as f:
        assert int(f.read().strip()) == p.pid


def test_sigint_waits_for_open_transaction(pooler, pg):
    _fresh_table(pg, "sigint_t")
    p = pooler(pool_mode="transaction")
    tx = p.connect(autocommit=False)
    try:
        tx.execute("insert into sigint_t values (1)")
        p.sigint()
        assert p.wait_exit(1.5) is None, "exited with a transaction still open"
        tx.execute("insert into sigint_t values (2)")
        tx.commit()  # the transaction may finish normally
    finally:
        tx.close()
    assert p.wait_exit(10) is not None, "still running after the transaction ended"
    assert _row_count(pg, "sigint_t") == 2
    assert not os.path.exists(p.pid_path)


def test_sigint_with_idle_clients_exits_promptly(pooler):
    p = pooler(pool_mode="transaction")
    idle = [p.connect() for _ in range(3)]
    try:
        for c in idle:
            c.execute("select 1")  # servers released after each transaction
        p.sigint()
        assert p.wait_exit(10) is not None
    finally:
        for c in idle:
            c.close()


def test_sigterm_waits_for_clients(pooler, kind):
    """Current PgBouncer (1.23+) and Usher: SIGTERM stops accepting, lets
    connected clients carry on, and exits once the last one leaves."""
    if kind == "pgbouncer":
        pytest.skip("PgBouncer 1.18's SIGTERM is immediate (see test_sigterm_is_immediate)")
    p = pooler(pool_mode="transaction")
    c = p.connect()
    try:
        assert c.execute("select 1").fetchone() == (1,)
        p.sigterm()
        time.sleep(1.0)
        assert p.running(), "exited while a client was still connected"
        assert c.execute("select 2").fetchone() == (2,)
        with pytest.raises(psycopg.OperationalError):
            p.connect(connect_timeout=3)
    finally:
        c.close()
    assert p.wait_exit(10) is not None, "still running after the last client left"
    assert not os.path.exists(p.pid_path)


def test_sigterm_is_immediate(pooler, pg, kind):
    if kind != "pgbouncer":
        pytest.skip("PgBouncer 1.18 semantics; Usher follows 1.23+ (SIGQUIT is immediate)")
    _fresh_table(pg, "sigterm_t")
    p = pooler(pool_mode="transaction")
    tx = p.connect(autocommit=False)
    try:
        tx.execute("insert into sigterm_t values (1)")
        t0 = time.monotonic()
        p.sigterm()
        assert p.wait_exit(5) is not None, "SIGTERM did not stop the pooler"
        assert time.monotonic() - t0 < 5
        with pytest.raises(psycopg.OperationalError):
            tx.execute("insert into sigterm_t values (2)")
            tx.commit()
    finally:
        tx.close()
    # The open transaction died with its server connection.
    util.wait_until(lambda: not pg.backend_pids(db="appdb", user="app"), 10,
                    what="server connections closed")
    assert _row_count(pg, "sigterm_t") == 0
    assert not os.path.exists(p.pid_path)


def test_sigquit_stops_promptly(pooler):
    p = pooler()
    conn = p.connect()
    try:
        conn.execute("select 1")
        p.sigquit()
        assert p.wait_exit(5) is not None
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
    finally:
        conn.close()
    assert not util.port_open(p.port)


def test_sigusr1_pause_sigusr2_resume(pooler):
    """SIGUSR1 = PAUSE, SIGUSR2 = RESUME (1.18 man page)."""
    import signal

    from harness import clients

    p = pooler(pool_mode="transaction", extra_ini={"query_wait_timeout": 30})
    with p.connect() as conn:
        conn.execute("select 1")
        p.signal(signal.SIGUSR1)
        # A global PAUSE does not show in SHOW DATABASES.paused (that is the
        # per-database PAUSE db); give the signal a moment to be handled.
        time.sleep(0.5)
        waiter = clients.start(lambda: conn.execute("select 'resumed'").fetchone())
        time.sleep(0.8)
        assert waiter.is_alive()
        p.signal(signal.SIGUSR2)
        assert waiter.join_result(10) == ("resumed",)
