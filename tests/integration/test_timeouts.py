"""Timeouts: the client gets PgBouncer's message and SQLSTATE, then the
connection is closed; nobody else is disturbed."""

import socket
import time

import psycopg

from expectations import check_message, check_sqlstate
from harness import clients, wire

SLACK = 3.0  # PgBouncer checks timeouts about once a second


def _read_error(conn, timeout):
    t0 = time.monotonic()
    msgs = conn.read_until({b"E"}, timeout=timeout)
    elapsed = time.monotonic() - t0
    return wire.errors_of(msgs)[0], elapsed


def test_query_wait_timeout(pooler, kind):
    """Pool of 1 held by an open transaction; a second client's query waits
    query_wait_timeout and is refused."""
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_wait_timeout": 2})
    holder = p.connect(autocommit=False)
    try:
        holder.execute("select 1")  # holds the only server connection
        conn, _, err = clients.raw_login(p)
        with conn:
            assert err is None
            t0 = time.monotonic()
            conn.send(wire.query("select 'never runs'"))
            err, _ = _read_error(conn, timeout=2 + SLACK + 5)
            elapsed = time.monotonic() - t0
            assert 1.5 <= elapsed <= 2 + SLACK, elapsed
            assert err["S"] == "FATAL"
            check_sqlstate(kind, "query_wait_timeout", err["C"])
            check_message("query_wait_timeout", err["M"])
            assert conn.expect_closed(5)
        # The holder was not disturbed.
        assert holder.execute("select 'still mine'").fetchone() == ("still mine",)
        holder.commit()
    finally:
        holder.close()
    clients.assert_pooler_serves(p)


def test_query_wait_timeout_psycopg_message(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_wait_timeout": 1})
    with p.connect(autocommit=False) as holder:
        holder.execute("select 1")
        with p.connect() as waiter:
            try:
                waiter.execute("select 1")
                raise AssertionError("query ran although the pool was held")
            except psycopg.OperationalError as e:
                assert "query_wait_timeout" in str(e)
        holder.rollback()


def test_waiting_client_served_when_server_frees(pooler):
    """Below query_wait_timeout a waiting client simply waits its turn."""
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_wait_timeout": 10})
    holder = p.connect(autocommit=False)
    holder.execute("select 1")
    waiter = clients.start(lambda: p.connect().execute("select 'served'").fetchone())
    time.sleep(1.0)
    assert waiter.is_alive()
    pools = [r for r in p.admin("show pools") if r["database"] == "appdb"]
    assert pools[0]["cl_waiting"] == 1
    assert pools[0]["sv_active"] == 1
    holder.commit()
    holder.close()
    assert waiter.join_result(10) == ("served",)


def test_waiting_clients_are_served_in_arrival_order(pooler, pg):
    """A full pool queues clients first come, first served: five clients
    that ask one after another while the only server is held get it in that
    order (a sequence on the one backend numbers their turns)."""
    pg.sql("drop sequence if exists fifo_turn", db="appdb")
    pg.sql("create sequence fifo_turn", db="appdb")
    pg.sql("grant usage on sequence fifo_turn to app", db="appdb")
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_wait_timeout": 30})
    holder = p.connect(autocommit=False)
    holder.execute("select 1")
    waiters = []
    try:
        for n in range(5):
            conn, _, err = clients.raw_login(p)
            assert err is None
            waiters.append(conn)
            conn.send(wire.query(f"select {n}, nextval('fifo_turn')"))
            time.sleep(0.2)  # a clear arrival order
        holder.commit()
        turns = {}
        for conn in waiters:
            (n, turn), = wire.rows_of(conn.read_until({b"Z"}, timeout=15))
            turns[int(n)] = int(turn)
        assert [turns[n] for n in range(5)] == sorted(turns.values()), turns
    finally:
        holder.close()
        for conn in waiters:
            conn.close()


def test_idle_transaction_timeout(pooler, kind):
    p = pooler(pool_mode="transaction", extra_ini={"idle_transaction_timeout": 1})
    conn, _, err = clients.raw_login(p)
    with conn:
        assert err is None
        assert conn.simple_query("begin")[-1] == (b"Z", b"T")
        err, elapsed = _read_error(conn, timeout=1 + SLACK + 5)
        assert 0.8 <= elapsed <= 1 + SLACK
        check_sqlstate(kind, "idle_transaction_timeout", err["C"])
        check_message("idle_transaction_timeout", err["M"])
        assert conn.expect_closed(5)
    clients.assert_pooler_serves(p)


def test_client_idle_timeout(pooler, kind):
    p = pooler(extra_ini={"client_idle_timeout": 1})
    conn, _, err = clients.raw_login(p)
    with conn:
        assert err is None
        err, elapsed = _read_error(conn, timeout=1 + SLACK + 5)
        assert 0.8 <= elapsed <= 1 + SLACK
        check_sqlstate(kind, "client_idle_timeout", err["C"])
        check_message("client_idle_timeout", err["M"])
        assert conn.expect_closed(5)


def test_query_timeout(pooler, kind):
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_timeout": 1})
    conn, _, err = clients.raw_login(p)
    with conn:
        assert err is None
        conn.send(wire.query("select pg_sleep(10)"))
        err, elapsed = _read_error(conn, timeout=1 + SLACK + 5)
        assert 0.8 <= elapsed <= 1 + SLACK
        check_sqlstate(kind, "query_timeout", err["C"])
        check_message("query_timeout", err["M"])
        assert conn.expect_closed(5)
    # The server connection that ran the query is closed (PgBouncer does not
    # send a CancelRequest; PostgreSQL notices the disconnect only when
    # pg_sleep ends), and the pool of 1 serves the next client at once.
    clients.assert_pooler_serves(p)


def test_client_login_timeout(pooler, kind):
    p = pooler(extra_ini={"client_login_timeout": 1})
    with socket.create_connection((p.host, p.port), timeout=10) as s:
        conn = wire.Conn.__new__(wire.Conn)
        conn.sock, conn.buf, conn.timeout = s, b"", 10
        t0 = time.monotonic()
        err, _ = _read_error(conn, timeout=1 + SLACK + 5)
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed <= 1 + SLACK
        check_sqlstate(kind, "client_login_timeout", err["C"])
        check_message("client_login_timeout", err["M"])
        assert conn.expect_closed(5)
    clients.assert_pooler_serves(p)
