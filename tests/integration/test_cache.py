"""The query result cache (docs/cache.md): hits replay the server's answer,
and no read through Usher returns data older than a write it acknowledged,
or than a write made directly on the server once the invalidation stream
has passed it."""

import time

import pytest

from cache_util import CACHE_INI, PROXY_INI, cache_rows, client, wait_live
from cache_util import closes_clients, table  # noqa: F401 - pytest fixtures, used by name
from harness import wire

pytestmark = pytest.mark.usher_only


def test_hit_replays_the_servers_answer(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    first = c.simple_query("SELECT id, v FROM cache_t ORDER BY id")
    before = cache_rows(p)
    second = c.simple_query("SELECT id, v FROM cache_t ORDER BY id")
    after = cache_rows(p)
    assert second == first
    assert int(after["hits"]) == int(before["hits"]) + 1
    assert wire.rows_of(second)[0] == ("1", "v1")
    # Comments and whitespace do not matter; constants do.
    c.simple_query("/* x */ SELECT id,  v FROM cache_t ORDER BY id")
    assert int(cache_rows(p)["hits"]) == int(after["hits"]) + 1
    other = c.simple_query("SELECT id, v FROM cache_t WHERE id = 2")
    assert wire.rows_of(other) == [("2", "v2")]


def test_write_through_usher_is_seen_at_once(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    for i in range(11, 31):
        count = wire.rows_of(c.simple_query("SELECT count(*) FROM cache_t"))[0][0]
        assert count == str(i - 1)
        c.simple_query(f"INSERT INTO cache_t VALUES ({i}, 'x')")
    w = client(p)
    for i in range(31, 41):
        w.simple_query("BEGIN")
        w.simple_query(f"INSERT INTO cache_t VALUES ({i}, 'y')")
        w.simple_query("COMMIT")
        assert wire.rows_of(c.simple_query("SELECT count(*) FROM cache_t"))[0][0] == str(i)


def test_write_made_directly_is_seen(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    c.simple_query("SELECT v FROM cache_t WHERE id = 1")
    c.simple_query("SELECT v FROM cache_t WHERE id = 1")
    assert int(cache_rows(p)["hits"]) >= 1
    pg.sql("update cache_t set v = 'direct' where id = 1", db="appdb")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if wire.rows_of(c.simple_query("SELECT v FROM cache_t WHERE id = 1")) == [("direct",)]:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the direct write was never seen")


def test_volatile_and_stable_functions_are_not_cached(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    pg.sql("drop sequence if exists cache_s", db="appdb")
    pg.sql("create sequence cache_s", db="appdb")
    pg.sql("grant all on cache_s to app", db="appdb")
    c = client(p)
    wait_live(p, conn=c)
    vals = [wire.rows_of(c.simple_query("SELECT nextval('cache_s')"))[0][0] for _ in range(3)]
    assert vals == ["1", "2", "3"]
    r1 = c.simple_query("SELECT random()")
    r2 = c.simple_query("SELECT random()")
    assert wire.rows_of(r1) != wire.rows_of(r2)
    n1 = c.simple_query("SELECT clock_timestamp()")
    n2 = c.simple_query("SELECT clock_timestamp()")
    assert wire.rows_of(n1) != wire.rows_of(n2)
    hits = int(cache_rows(p)["hits"])
    c.simple_query("SELECT now()")
    c.simple_query("SELECT now()")
    c.simple_query("SELECT current_user")
    c.simple_query("SELECT current_user")
    assert int(cache_rows(p)["hits"]) == hits


def test_nothing_is_cached_inside_a_transaction(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    c.simple_query("SELECT v FROM cache_t WHERE id = 3")
    c.simple_query("BEGIN")
    c.simple_query("UPDATE cache_t SET v = 'uncommitted' WHERE id = 3")
    inside = c.simple_query("SELECT v FROM cache_t WHERE id = 3")
    assert wire.rows_of(inside) == [("uncommitted",)]
    assert inside[-1] == (b"Z", b"T")
    c.simple_query("ROLLBACK")
    other = client(p)
    assert wire.rows_of(other.simple_query("SELECT v FROM cache_t WHERE id = 3")) == [("v3",)]


def test_reads_in_a_write_transaction_taken_unparsed_stay_correct(pooler, pg, table):
    """After a write in a transaction, a plain SELECT is not parsed (it is
    never cached there): it still reads the transaction's own rows, its
    commit is still waited for, and SELECT ... INTO is still a write."""
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    read = "SELECT v FROM cache_t WHERE id = 4"
    c.simple_query(read)
    c.simple_query(read)  # cached now, or soon
    c.simple_query("BEGIN")
    c.simple_query("UPDATE cache_t SET v = 'in tx' WHERE id = 4")
    for _ in range(3):
        inside = c.simple_query(read)
        assert wire.rows_of(inside) == [("in tx",)] and inside[-1] == (b"Z", b"T")
    made = c.simple_query("SELECT id, v INTO cache_made FROM cache_t")
    assert not wire.errors_of(made), made
    c.simple_query("COMMIT")
    try:
        # Fresh for everyone at once after the commit, through Usher.
        other = client(p)
        for _ in range(3):
            assert wire.rows_of(other.simple_query(read)) == [("in tx",)]
        assert pg.sql("select count(*) from cache_made", db="appdb") == [(10,)]
        rows = other.simple_query("SELECT count(*) FROM cache_made")
        assert wire.rows_of(rows) == [("10",)], rows
    finally:
        pg.sql("drop table if exists cache_made", db="appdb")


def test_ddl_made_directly_is_seen(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    c.simple_query("SELECT * FROM cache_t WHERE id = 1")
    c.simple_query("SELECT * FROM cache_t WHERE id = 1")
    pg.sql("alter table cache_t add column w int default 7", db="appdb")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = wire.rows_of(c.simple_query("SELECT * FROM cache_t WHERE id = 1"))
        if rows == [("1", "v1", "7")]:
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"the direct ALTER was never seen: {rows}")


def test_set_role_stops_hits_for_that_client(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    c.simple_query("SELECT v FROM cache_t WHERE id = 4")
    c.simple_query("SELECT v FROM cache_t WHERE id = 4")
    hits = int(cache_rows(p)["hits"])
    c.simple_query("SET search_path = pg_catalog")
    c.simple_query("SELECT v FROM public.cache_t WHERE id = 4")
    c.simple_query("SELECT v FROM cache_t WHERE id = 4")
    assert int(cache_rows(p)["hits"]) == hits


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_extended_protocol_hits_and_formats(pooler, pg, table, pool_mode):
    p = pooler(pool_mode=pool_mode, extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    with p.connect() as conn:
        q = "SELECT id, v FROM cache_t WHERE id = %s"
        assert conn.execute(q, (1,)).fetchall() == [(1, "v1")]
        before = int(cache_rows(p)["hits"])
        assert conn.execute(q, (1,)).fetchall() == [(1, "v1")]
        after = int(cache_rows(p)["hits"])
        if pool_mode == "transaction":
            assert after == before + 1
        assert conn.execute(q, (2,)).fetchall() == [(2, "v2")]
        # Binary results are another entry, never text bytes read as binary.
        assert conn.cursor(binary=True).execute(q, (1,)).fetchall() == [(1, "v1")]
        assert conn.cursor(binary=True).execute(q, (1,)).fetchall() == [(1, "v1")]
        conn.execute("UPDATE cache_t SET v = 'new' WHERE id = 1")
        assert conn.execute(q, (1,)).fetchall() == [(1, "new")]
        assert conn.cursor(binary=True).execute(q, (1,)).fetchall() == [(1, "new")]


def test_named_prepared_statements_hit(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    with p.connect(prepare_threshold=0) as conn:
        q = "SELECT v FROM cache_t WHERE id = %s"
        for _ in range(3):
            assert conn.execute(q, (3,)).fetchall() == [("v3",)]
        assert int(cache_rows(p)["hits"]) >= 1
        pg.sql("update cache_t set v = 'direct3' where id = 3", db="appdb")
        deadline = time.monotonic() + 10
        while conn.execute(q, (3,)).fetchall() != [("direct3",)]:
            assert time.monotonic() < deadline, "the direct write was never seen"
            time.sleep(0.01)


def test_extended_protocol_writes_are_placed_not_flushed(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    with p.connect() as conn:
        for i in range(5):
            c.simple_query("SELECT v FROM cache_t WHERE id = 9")
            assert wire.rows_of(c.simple_query("SELECT v FROM cache_t WHERE id = 9")) == [
                ("v9" if i == 0 else f"w{i - 1}",)]
            conn.execute("UPDATE cache_t SET v = %s WHERE id = 9", (f"w{i}",))
        r = cache_rows(p)
        # Each commit's position was learned: no flush for want of one.
        assert int(r["flushes_unknown_commit"]) == 0
        assert r["barrier_lsn"] != "0/0"
    assert wire.rows_of(c.simple_query("SELECT v FROM cache_t WHERE id = 9")) == [("w4",)]


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_a_closed_statement_is_never_answered_from_the_cache(pooler, table, pool_mode):
    p = pooler(pool_mode=pool_mode, extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    c.send(wire.parse("s1", "SELECT v FROM cache_t WHERE id = 5") + wire.sync())
    c.read_until({b"Z"})
    run = wire.bind("s1") + wire.execute() + wire.sync()
    for _ in range(3):
        c.send(run)
        assert wire.rows_of(c.read_until({b"Z"})) == [("v5",)]
    assert int(cache_rows(p)["hits"]) >= 1
    c.send(wire.close("S", "s1") + wire.sync())
    c.read_until({b"Z"})
    c.send(run)
    msgs = c.read_until({b"Z"})
    # PostgreSQL's answer: the statement is gone.
    assert [e.get("C") for e in (wire.parse_fields(b) for t, b in msgs if t == b"E")] == ["26000"]


def test_sql_execute_prepared_by_usher_invalidates_in_proxy_mode(pooler, table):
    """EXECUTE of an SQL-prepared write, on a server Usher prepares it on
    again, invalidates what it wrote (the proxy sees only EXECUTE)."""
    p = pooler(extra_ini=PROXY_INI)
    c = client(p)
    wait_live(p, conn=c)
    c.simple_query("PREPARE upd(text) AS UPDATE cache_t SET v = $1 WHERE id = 1")
    for _ in range(2):
        assert wire.rows_of(c.simple_query("SELECT v FROM cache_t WHERE id = 1")) == [("v1",)]
    # A new server, which lacks the statement: Usher prepares it there first.
    p.admin("RECONNECT appdb")
    assert not wire.errors_of(c.simple_query("EXECUTE upd('executed')"))
    assert wire.rows_of(c.simple_query("SELECT v FROM cache_t WHERE id = 1")) == [("executed",)]


def test_a_statement_too_deep_to_parse_passes_through(pooler, table):
    """A client's SELECT 1+1+...+1 of 200 kB: the parser's recursion would
    overflow a worker's stack, so it is not analysed; the server answers."""
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    msgs = c.simple_query("SELECT 1" + "+1" * 100000, timeout=60)
    assert [e["C"] for e in wire.errors_of(msgs)] == ["54001"]  # stack depth limit exceeded
    assert wire.rows_of(c.simple_query("SELECT v FROM cache_t WHERE id = 1")) == [("v1",)]
    assert p.running()
