"""CancelRequest through the pooler: the right query is cancelled, and only
that one."""

import random
import time

import psycopg
import pytest

from harness import clients, util, wire


def _send_cancel(p, pid, key):
    """Send a CancelRequest on a new connection; the pooler answers nothing
    and closes it."""
    with wire.Conn(p.host, p.port) as c:
        c.send(wire.cancel_request(pid, key))
        assert c.expect_closed(5)


def _wait_running(pg, text, timeout=10):
    util.wait_until(
        lambda: pg.sql(
            "select count(*) from pg_stat_activity where state = 'active' and query = %s",
            (text,),
        )[0][0] >= 1,
        timeout, what=f"{text!r} running",
    )


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_cancel_long_query(pooler, pg, pool_mode):
    p = pooler(pool_mode=pool_mode)
    with p.connect() as conn:
        sql = "select pg_sleep(10)"
        runner = clients.start(lambda: conn.execute(sql))
        _wait_running(pg, sql)
        t0 = time.monotonic()
        conn.cancel()
        with pytest.raises(psycopg.errors.QueryCanceled) as exc:
            runner.join_result(15)
        assert time.monotonic() - t0 < 5
        assert exc.value.sqlstate == "57014"
        assert "canceling statement due to user request" in str(exc.value)
        # The connection is fine afterwards.
        assert conn.execute("select 'alive'").fetchone() == ("alive",)


def test_cancel_raw_keeps_connection_usable(pooler, pg):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    conn, _, err = clients.raw_login(p)
    with conn:
        assert err is None and conn.backend_pid is not None
        conn.send(wire.query("select pg_sleep(10)"))
        _wait_running(pg, "select pg_sleep(10)")
        _send_cancel(p, conn.backend_pid, conn.backend_key)
        msgs = conn.read_until({b"Z"}, timeout=5)
        errs = wire.errors_of(msgs)
        assert errs and errs[0]["C"] == "57014"
        assert msgs[-1] == (b"Z", b"I")
        assert wire.rows_of(conn.simple_query("select 'ok'")) == [("ok",)]


def test_cancel_with_random_key_does_nothing(pooler, pg):
    p = pooler()
    with p.connect() as conn:
        sql = "select pg_sleep(1.5), 'finished'"
        runner = clients.start(lambda: conn.execute(sql).fetchone())
        _wait_running(pg, sql)
        rnd = random.Random(7)
        for _ in range(5):
            _send_cancel(p, rnd.getrandbits(31), rnd.getrandbits(32))
        assert runner.join_result(15) == ("", "finished")


def test_cancel_for_idle_client_spares_query_on_shared_server(pooler, pg):
    """Client B is idle (transaction mode: no server). A runs a query on the
    one server connection B used before. Cancelling B must not cancel A."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    b, _, err = clients.raw_login(p)
    with b:
        assert err is None
        b_server_pid = int(wire.rows_of(b.simple_query("select pg_backend_pid()"))[0][0])
        with p.connect() as a:
            sql = "select pg_sleep(1.5), pg_backend_pid()"
            runner = clients.start(lambda: a.execute(sql).fetchone())
            _wait_running(pg, sql)
            _send_cancel(p, b.backend_pid, b.backend_key)
            row = runner.join_result(15)
            assert row == ("", b_server_pid)  # same server, not cancelled
        # B itself is unaffected too.
        assert wire.rows_of(b.simple_query("select 'b ok'")) == [("b ok",)]


def test_client_keys_are_the_poolers_not_the_servers(pooler, pg):
    """BackendKeyData given to clients must identify the client, not leak
    or reuse the server's key: two clients sharing one server get different
    keys."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    a, _, ea = clients.raw_login(p)
    b, _, eb = clients.raw_login(p)
    with a, b:
        assert ea is None and eb is None
        assert (a.backend_pid, a.backend_key) != (b.backend_pid, b.backend_key)
        server_pid = int(wire.rows_of(a.simple_query("select pg_backend_pid()"))[0][0])
        assert int(wire.rows_of(b.simple_query("select pg_backend_pid()"))[0][0]) == server_pid


def test_cancel_in_flight_never_reaches_the_next_client(pooler, pg):
    """A's short transactions run on the only server while cancels for A
    keep coming; B's queries on that same server must never be cancelled.
    Between the lookup of A's backend and the delivery of the cancel, A's
    transaction can end and B can get the server: a pooler that hands the
    server on meanwhile cancels B's query (Usher did, before it closed a
    server released while a cancel for it is in flight). PgBouncer 1.18
    passes."""
    p = pooler(pool_mode="transaction", default_pool_size=1,
               extra_ini={"query_wait_timeout": 30})
    a, _, err = clients.raw_login(p)
    assert err is None
    stop = time.monotonic() + 20

    def a_loop():
        n = 0
        while time.monotonic() < stop and n < 3000:
            a.send(wire.query("select 1"))
            try:
                a.read_until({b"Z"}, timeout=10)  # 57014 is A's own business
            except (TimeoutError, wire.Closed):
                return n
            n += 1
        return n

    def canceler():
        for _ in range(400):
            if time.monotonic() > stop:
                break
            _send_cancel(p, a.backend_pid, a.backend_key)

    with a, p.connect() as b:
        workers = [clients.start(a_loop), clients.start(canceler)]
        cancelled = []
        for i in range(60):
            try:
                assert b.execute("select pg_sleep(0.01), %s::int", (i,)).fetchone() == ("", i)
            except psycopg.errors.QueryCanceled as e:
                cancelled.append(str(e))
        for w in workers:
            w.join_result(60)
        assert cancelled == []
    clients.assert_pooler_serves(p)
