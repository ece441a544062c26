"""Everyday traffic through the pooler: psql, simple/extended protocol,
errors in transactions, notices, LISTEN/NOTIFY, large results."""

import hashlib
import os
import shutil
import tempfile
import time

import psycopg
import pytest

from harness import clients, wire

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_psql_script(pooler, pool_mode):
    p = pooler(pool_mode=pool_mode)
    work = tempfile.mkdtemp(prefix="uit-psql-")
    try:
        shutil.copy(os.path.join(DATA, "items_in.csv"), work)
        res = clients.run_psql(p, ["-f", os.path.join(DATA, "psql_script.sql")], cwd=work)
        assert res.returncode == 0, res.stderr
        with open(os.path.join(DATA, "psql_script.expected")) as f:
            expected = f.read()
        assert res.stdout == expected
        assert "ERROR" not in res.stderr
        # The server's NOTICE reaches psql through the pooler.
        assert 'NOTICE:  table "psql_items" does not exist, skipping' in res.stderr
        with open(os.path.join(work, "items_out.csv")) as f:
            out = f.read()
        with open(os.path.join(DATA, "items_out.expected.csv")) as f:
            assert out == f.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_psql_error_stops_script(pooler):
    p = pooler()
    res = clients.run_psql(
        p, ["-f", "-"], input="select 'first';\nselect 1/0;\nselect 'not reached';\n",
        timeout=30,
    )
    assert res.returncode == 3  # psql: script stopped by ON_ERROR_STOP
    assert "first" in res.stdout
    assert "not reached" not in res.stdout
    assert "ERROR:  division by zero" in res.stderr


def test_simple_protocol_types(pooler):
    p = pooler()
    with p.connect() as conn:
        # No parameters: psycopg 3 uses the simple query protocol.
        row = conn.execute(
            "select 1::int, 'two'::text, 3.5::numeric, true, null::int, "
            "'2024-02-29'::date, array[1,2,3], '{\"a\": 1}'::jsonb, "
            "'\\x00ff'::bytea, repeat('é', 3)"
        ).fetchone()
    import datetime
    from decimal import Decimal

    assert row == (
        1, "two", Decimal("3.5"), True, None, datetime.date(2024, 2, 29),
        [1, 2, 3], {"a": 1}, b"\x00\xff", "ééé",
    )


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_extended_protocol_psycopg3(pooler, pool_mode):
    p = pooler(pool_mode=pool_mode)
    with p.connect() as conn:
        assert conn.prepare_threshold is None
        cur = conn.execute("select %s::int + %s::int, %s::text || 'x'", (40, 2, "a"))
        assert cur.fetchone() == (42, "ax")
        conn.execute("drop table if exists ext_t")
        conn.execute("create table ext_t (id int, v text)")
        with conn.cursor() as cur:
            cur.executemany("insert into ext_t values (%s, %s)", [(i, f"v{i}") for i in range(100)])
        rows = conn.execute("select id, v from ext_t where id >= %s order by id", (95,)).fetchall()
        assert rows == [(i, f"v{i}") for i in range(95, 100)]
        # Binary results over the extended protocol.
        cur = conn.cursor(binary=True)
        cur.execute("select %s::bigint * 2, %s::bytea", (2**40, b"\x01\x02"))
        assert cur.fetchone() == (2**41, b"\x01\x02")
        conn.execute("drop table ext_t")


def test_extended_protocol_many_clients_transaction_mode(pooler):
    """Unnamed statements from many clients interleave through 2 servers."""
    p = pooler(pool_mode="transaction", default_pool_size=2)

    def work(n):
        with p.connect() as conn:
            total = 0
            for i in range(50):
                total += conn.execute("select %s::int * %s::int", (n, i)).fetchone()[0]
            return total

    workers = [clients.start(work, n) for n in range(8)]
    results = [w.join_result(60) for w in workers]
    assert results == [n * sum(range(50)) for n in range(8)]


def test_psycopg2(pooler):
    p = pooler()
    conn = p.connect_psycopg2()
    try:
        cur = conn.cursor()
        cur.execute("drop table if exists pg2_t")
        cur.execute("create table pg2_t (id int primary key, v text)")
        cur.executemany("insert into pg2_t values (%s, %s)", [(1, "a"), (2, "b")])
        conn.commit()
        cur.execute("select v from pg2_t where id = %s", (2,))
        assert cur.fetchone() == ("b",)
        cur.execute("insert into pg2_t values (3, 'c')")
        conn.rollback()
        cur.execute("select count(*) from pg2_t")
        assert cur.fetchone() == (2,)
        cur.execute("drop table pg2_t")
        conn.commit()
    finally:
        conn.close()


def test_multi_statement_simple_query(pooler):
    p = pooler()
    conn, msgs, err = clients.raw_login(p)
    with conn:
        assert err is None
        msgs = conn.simple_query(
            "drop table if exists multi_t; create table multi_t (a int); "
            "insert into multi_t values (1), (2); select sum(a) from multi_t; "
            "drop table multi_t"
        )
        tags = [body.rstrip(b"\0").decode() for t, body in msgs if t == b"C"]
        assert tags == ["DROP TABLE", "CREATE TABLE", "INSERT 0 2", "SELECT 1", "DROP TABLE"]
        assert wire.rows_of(msgs) == [("3",)]
        assert [t for t, _ in msgs].count(b"Z") == 1
        assert msgs[-1] == (b"Z", b"I")


def test_multi_statement_psycopg3_results(pooler):
    p = pooler()
    with p.connect() as conn:
        cur = conn.execute("select 1 as a; select 'x' as b, 'y' as c")
        first = cur.fetchall()
        assert cur.nextset()
        second = cur.fetchall()
        assert (first, second) == ([(1,)], [("x", "y")])


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_error_mid_transaction_then_rollback(pooler, pool_mode):
    p = pooler(pool_mode=pool_mode, default_pool_size=1)
    with p.connect() as setup:
        setup.execute("drop table if exists err_t")
        setup.execute("create table err_t (id int)")
    with p.connect(autocommit=False) as conn:
        conn.execute("insert into err_t values (1)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("select 1/0")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction) as exc:
            conn.execute("select 1")
        assert exc.value.sqlstate == "25P02"
        conn.rollback()
        assert conn.execute("select count(*) from err_t").fetchone() == (0,)
        conn.commit()
    # The error left nothing behind for the next client on the same server.
    with p.connect() as other:
        assert other.execute("select count(*) from err_t").fetchone() == (0,)
        assert other.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        other.execute("drop table err_t")


def test_error_outside_transaction_keeps_connection(pooler):
    p = pooler()
    with p.connect() as conn:
        with pytest.raises(psycopg.errors.UndefinedTable) as exc:
            conn.execute("select * from no_such_table_xyz")
        assert exc.value.sqlstate == "42P01"
        assert conn.execute("select 'still here'").fetchone() == ("still here",)


def test_notice_from_do_block(pooler):
    p = pooler()
    notices = []
    with p.connect() as conn:
        conn.add_notice_handler(
            lambda d: notices.append((d.severity, d.sqlstate, d.message_primary))
        )
        conn.execute("do $$ begin raise notice 'hello %', 42; raise warning 'careful'; end $$")
        assert conn.execute("select 1").fetchone() == (1,)
    assert ("NOTICE", "00000", "hello 42") in notices
    assert ("WARNING", "01000", "careful") in notices


def test_listen_notify_session_mode(pooler):
    p = pooler(pool_mode="session")
    got = []
    with p.connect() as listener, p.connect() as sender:
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute("listen usher_chan")
        sender.execute("notify usher_chan, 'payload-1'")
        sender.execute("select pg_notify('usher_chan', 'payload-2')")
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            listener.execute("select 1")  # notifications are read with results
            time.sleep(0.05)
    assert got == [("usher_chan", "payload-1"), ("usher_chan", "payload-2")]


def test_large_result_streamed(pooler):
    p = pooler()
    with p.connect() as conn:
        n = 0
        total = 0
        cur = conn.cursor()
        for (s,) in cur.stream("select repeat('x', 1000) from generate_series(1, 200000)"):
            n += 1
            total += len(s)
    assert n == 200000
    assert total == 200000 * 1000


def test_large_result_server_side_cursor(pooler):
    p = pooler(pool_mode="transaction")
    with p.connect(autocommit=False) as conn:
        with conn.cursor(name="big_cur") as cur:
            cur.itersize = 5000
            cur.execute("select g, md5(g::text) from generate_series(1, 100000) g")
            count = 0
            last = None
            for row in cur:
                count += 1
                last = row
        conn.commit()
    assert count == 100000
    assert last == (100000, hashlib.md5(b"100000").hexdigest())


def test_transaction_mode_shares_one_server(pooler, pg):
    """Ten clients in turn through a pool of 1 all run on one backend."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    pids = set()
    for _ in range(10):
        with p.connect() as conn:
            pids.add(conn.execute("select pg_backend_pid()").fetchone()[0])
    assert len(pids) == 1
    assert pids <= set(pg.backend_pids(db="appdb", user="app"))


def test_session_mode_resets_server_state(pooler):
    """server_reset_query (DISCARD ALL) runs between session clients."""
    p = pooler(pool_mode="session", default_pool_size=1)
    with p.connect() as a:
        pid_a = a.execute("select pg_backend_pid()").fetchone()[0]
        a.execute("set work_mem = '7MB'")
        a.execute("prepare sess_stmt as select 1")
        assert a.execute("show work_mem").fetchone() == ("7MB",)
    with p.connect() as b:
        assert b.execute("select pg_backend_pid()").fetchone()[0] == pid_a
        assert b.execute("show work_mem").fetchone() == ("4MB",)
        assert b.execute("select count(*) from pg_prepared_statements").fetchone() == (0,)


def test_statement_mode_refuses_transactions(pooler, kind):
    from expectations import check_message, check_sqlstate

    p = pooler(pool_mode="statement")
    with p.connect() as conn:
        # A multi-statement Query outside a transaction block is fine.
        cur = conn.execute("select 1; select 2")
        assert cur.fetchone() == (1,)
        assert cur.nextset() and cur.fetchone() == (2,)
    conn, msgs, err = clients.raw_login(p)
    with conn:
        assert err is None
        conn.send(wire.query("begin"))
        msgs = conn.read_until({b"E"})
        err = wire.errors_of(msgs)[0]
        check_sqlstate(kind, "statement_mode_transaction", err["C"])
        check_message("statement_mode_transaction", err["M"])
    clients.assert_pooler_serves(p)


def test_unix_socket(pooler):
    p = pooler()
    with psycopg.connect(
        host=p.sock_dir, port=p.port, dbname="appdb", user="app",
        password="apppass", connect_timeout=10, autocommit=True,
    ) as conn:
        assert conn.execute("select current_user").fetchone() == ("app",)

