"""Protocol fidelity of the query cache (cache-study section 4, cases
37-40, 43-45 at the simple-protocol level): a hit is the server's answer
byte for byte (RowDescription, DataRows, CommandComplete tag,
ReadyForQuery status); empty queries, errors part-way through the rows and
notices are never stored; a result over query_cache_max_entry is correct
and not stored; empty results are cached and invalidated like any other;
pipelined queries are answered in order; many concurrent identical misses
all get correct answers, and run once on the server while the first is in
flight (a stampede), waiting a bounded time for it."""

import socket
import threading

import pytest

from cache_util import (
    CACHE_INI, Background, assert_cached, assert_not_cached, cache_rows, client, counters, direct,
    hit_delta, rows, same_answer, serving_client, sqlstate, stream_backlog, value, wait_live,
    wait_rows, wait_serving, wait_until,
)
from cache_util import cached, closes_clients, table  # noqa: F401 - pytest fixtures, used by name
from harness import wire

pytestmark = pytest.mark.usher_only


# --- 40. exact replay


EXACT = [
    "SELECT id, v FROM cache_t ORDER BY id",
    "SELECT id FROM cache_t ORDER BY id LIMIT 0",
    "SELECT NULL::int AS n, ''::text AS e, 'x'::char(3) AS c, 1.50::numeric(5, 2) AS m",
    "SELECT '\\x00ff'::bytea AS b, '{1,2}'::int[] AS a, '(1,2)'::point AS p",
    "SELECT 'caf\u00e9 \u2603' AS u",
    "VALUES (1, 'a'), (2, NULL)",
    "TABLE cache_t",
    "SELECT 1 AS x UNION ALL SELECT 2 ORDER BY 1",
    "SELECT count(*), max(v), string_agg(v, ',' ORDER BY id) FROM cache_t",
    "SELECT id, v FROM cache_t WHERE id > 1000",
    "SELECT",
]


@pytest.mark.parametrize("sql", EXACT)
def test_a_hit_is_the_servers_answer_byte_for_byte(cached, pg, sql):
    p, c = cached
    answer = assert_cached(p, c, sql)
    with direct(pg) as d:
        server = d.simple_query(sql)
    same_answer(answer, server)
    assert answer[-1] == (b"Z", b"I")
    tag = [body for t, body in answer if t == b"C"]
    assert len(tag) == 1 and tag[0].startswith(b"SELECT ")


def test_in_a_transaction_the_status_is_the_servers(cached, pg):
    p, c = cached
    sql = "SELECT id, v FROM cache_t WHERE id = 1"
    assert_cached(p, c, sql)
    c.simple_query("BEGIN")
    inside, n = hit_delta(p, c, sql, times=2)
    assert n == 0
    for a in inside:
        assert a[-1] == (b"Z", b"T") and wire.rows_of(a) == [("1", "v1")]
    c.simple_query("SELECT 1/0")
    failed = c.simple_query(sql)
    assert sqlstate(failed) == "25P02" and failed[-1] == (b"Z", b"E")
    c.simple_query("ROLLBACK")
    after, n = hit_delta(p, c, sql, times=1)
    assert n == 1 and after[0][-1] == (b"Z", b"I")


# --- 37. empty queries


@pytest.mark.parametrize("sql", ["", ";", "  ", "-- nothing", "/* usher:cache ttl=1h */", ";;"])
def test_empty_query_answers_like_the_server(cached, pg, sql):
    p, c = cached
    with direct(pg) as d:
        server = d.simple_query(sql)
    assert wire.tags_of(server) == "IZ"
    before = counters(p)
    for _ in range(3):
        same_answer(c.simple_query(sql), server)
    after = counters(p)
    assert after["hits"] == before["hits"] and after["entries"] == before["entries"]


# --- 38. errors part-way through the rows


def test_an_error_after_some_rows_reaches_the_client_and_is_not_stored(cached, pg):
    p, c = cached
    sql = "SELECT id, 10 / (id - 5) FROM cache_t ORDER BY id"
    with direct(pg) as d:
        server = d.simple_query(sql)
    assert wire.tags_of(server) == "TDDDDEZ"
    assert sqlstate(server) == "22012"
    wait_serving(p, c)
    before = counters(p)
    for _ in range(3):
        same_answer(c.simple_query(sql), server)
    after = counters(p)
    assert after["hits"] == before["hits"]
    assert after["entries"] == before["entries"]
    # Once the data allows the query to finish, it is cached as usual.
    c.simple_query("DELETE FROM cache_t WHERE id = 5")
    answer = assert_cached(p, c, sql)
    assert len(wire.rows_of(answer)) == 9


def test_an_error_in_the_first_row_and_a_cast_error(cached, pg):
    p, c = cached
    for sql in ("SELECT 1 / (id - 1) FROM cache_t ORDER BY id",
                "SELECT v::int FROM cache_t ORDER BY id",
                "SELECT id FROM cache_t WHERE id = 'x'"):
        with direct(pg) as d:
            server = d.simple_query(sql)
        assert sqlstate(server) is not None
        answers = assert_not_cached(p, c, sql)
        for a in answers:
            same_answer(a, server)


# --- 39. notices


def test_a_query_with_notices_is_not_stored(cached, pg):
    p, c = cached
    pg.sql("create or replace function cache_noisy(x int) returns int immutable "
           "language plpgsql as $$ begin raise notice 'noisy %', x; return x; end $$",
           db="appdb")
    pg.sql("grant execute on function cache_noisy(int) to app", db="appdb")
    try:
        wait_serving(p, c)
        sql = "SELECT cache_noisy(id) FROM cache_t WHERE id <= 2 ORDER BY id"
        with direct(pg) as d:
            server = d.simple_query(sql)
        assert wire.tags_of(server).count("N") == 2
        answers = assert_not_cached(p, c, sql)
        for a in answers:
            same_answer(a, server)
        # A quiet immutable call over the same rows is cached.
        assert_cached(p, c, "SELECT abs(id) FROM cache_t WHERE id <= 2 ORDER BY id")
    finally:
        pg.sql("drop function if exists cache_noisy(int)", db="appdb")


# --- pipelined simple queries


def pipeline(conn, statements, timeout=30):
    conn.send(b"".join(wire.query(s) for s in statements))
    return [conn.read_until({b"Z"}, timeout) for _ in statements]


def test_pipelined_queries_are_answered_in_order(cached, pg):
    p, c = cached
    a = "SELECT v FROM cache_t WHERE id = 1"
    b = "SELECT v FROM cache_t WHERE id = 2"
    assert_cached(p, c, a)
    assert_cached(p, c, b)
    # Hits first, then a miss, then a hit again.
    answers = pipeline(c, [a, b, "SELECT v FROM cache_t WHERE id = 3", a, "SELECT 1/0", b])
    assert [wire.rows_of(x) for x in answers] == [
        [("v1",)], [("v2",)], [("v3",)], [("v1",)], [], [("v2",)]]
    assert sqlstate(answers[4]) == "22012"
    # A write in the batch: the reads after it see it.
    answers = pipeline(c, [a, "UPDATE cache_t SET v = 'piped' WHERE id = 1", a, b])
    assert [wire.rows_of(x) for x in answers] == [[("v1",)], [], [("piped",)], [("v2",)]]
    assert value(c, a) == "piped"
    # A transaction in the batch: nothing inside it comes from the cache.
    assert_cached(p, c, b)
    other = client(p)
    answers = pipeline(c, ["BEGIN", "UPDATE cache_t SET v = 'tx' WHERE id = 2", b, "ROLLBACK", b])
    assert [x[-1] for x in answers] == [(b"Z", b"T"), (b"Z", b"T"), (b"Z", b"T"), (b"Z", b"I"),
                                        (b"Z", b"I")]
    assert wire.rows_of(answers[2]) == [("tx",)]
    assert wire.rows_of(answers[4]) == [("v2",)]
    assert value(other, b) == "v2"


def test_extended_protocol_reads_are_correct_and_partial_fetches_are_not_cached(cached, pg):
    p, c = cached
    sql = "SELECT id, v FROM cache_t ORDER BY id"
    full = assert_cached(p, c, sql)
    c.send(wire.parse("", sql) + wire.bind("") + wire.execute("", max_rows=3) +
           wire.execute("", max_rows=3) + wire.sync())
    got = c.read_until({b"Z"})
    assert wire.tags_of(got) == "12DDDsDDDsZ"
    assert wire.rows_of(got) == wire.rows_of(full)[:6]
    # The simple Query still gets every row.
    answers, n = hit_delta(p, c, sql, times=1)
    assert wire.rows_of(answers[0]) == wire.rows_of(full) and len(wire.rows_of(full)) == 10
    # A write through the extended protocol invalidates (stream lagging).
    stream_backlog(pg)
    c.send(wire.parse("", "UPDATE cache_t SET v = $1 WHERE id = 1") + wire.bind("", ["ext"]) +
           wire.execute("") + wire.sync())
    assert wire.tags_of(c.read_until({b"Z"})) == "12CZ"
    other = client(p)
    assert value(other, "SELECT v FROM cache_t WHERE id = 1") == "ext"


# --- 43. larger than query_cache_max_entry


def test_a_result_over_max_entry_is_correct_and_not_stored(pooler, pg, table):
    pg.sql("drop table if exists cache_wide", db="appdb")
    pg.sql("create table cache_wide as select g as id, repeat(chr(65 + g % 26), 100) as pad "
           "from generate_series(1, 2000) g", db="appdb")
    pg.sql("grant select on cache_wide to app", db="appdb")
    try:
        p = pooler(extra_ini=dict(CACHE_INI, query_cache_max_entry="64kB"))
        c = serving_client(p)
        big = "SELECT id, pad FROM cache_wide ORDER BY id"
        with direct(pg) as d:
            server = d.simple_query(big)
            small_server = d.simple_query("SELECT id, pad FROM cache_wide ORDER BY id LIMIT 100")
        assert sum(len(b) for _, b in server) > 200_000
        before = counters(p)
        for _ in range(3):
            same_answer(c.simple_query(big), server)
        after = counters(p)
        assert after["hits"] == before["hits"]
        assert after["fills"] == before["fills"]
        assert after["entries"] == before["entries"]
        # Under the limit: cached as usual.
        small = assert_cached(p, c, "SELECT id, pad FROM cache_wide ORDER BY id LIMIT 100")
        same_answer(small, small_server)
        assert int(counters(p)["entries"]) >= 1
    finally:
        pg.sql("drop table if exists cache_wide", db="appdb")


# --- 44. empty results


def test_an_empty_result_is_cached_and_invalidated(cached, pg):
    p, c = cached
    sql = "SELECT id, v FROM cache_t WHERE id = 999"
    answer = assert_cached(p, c, sql)
    assert wire.tags_of(answer) == "TCZ"
    other = client(p)
    stream_backlog(pg)
    other.simple_query("INSERT INTO cache_t VALUES (999, 'taken')")
    assert rows(c, sql) == [("999", "taken")]
    other.simple_query("DELETE FROM cache_t WHERE id = 999")
    assert rows(c, sql) == []
    assert_cached(p, c, sql)
    pg.sql("insert into cache_t values (999, 'direct')", db="appdb")
    wait_rows(c, sql, [("999", "direct")])


# --- 45. concurrent identical misses


@pytest.mark.slow
def test_concurrent_identical_misses_all_get_correct_answers(pooler, pg, table):
    pg.sql("drop table if exists cache_big", db="appdb")
    pg.sql("create table cache_big as select g as id from generate_series(1, 1200) g",
           db="appdb")
    pg.sql("grant select on cache_big to app", db="appdb")
    try:
        p = pooler(extra_ini=dict(CACHE_INI, max_client_conn="100"), default_pool_size=20)
        n_clients = 16
        conns = [client(p) for _ in range(n_clients)]
        wait_live(p, conn=conns[0])
        wait_serving(p, conns[0])
        sql = ("SELECT v, n FROM cache_t, (SELECT count(*) AS n FROM cache_big a, cache_big b) g "
               "WHERE id = 1")
        writer = client(p)
        for round_no in range(3):
            expect = [(f"r{round_no}", str(1200 * 1200))]
            writer.simple_query(f"UPDATE cache_t SET v = 'r{round_no}' WHERE id = 1")
            start = threading.Barrier(n_clients)
            results = [None] * n_clients

            def run(i):
                start.wait(timeout=30)
                results[i] = [wire.rows_of(conns[i].simple_query(sql, timeout=60))
                              for _ in range(3)]

            threads = [threading.Thread(target=run, args=(i,)) for i in range(n_clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
                assert not t.is_alive()
            for r in results:
                assert r == [expect] * 3, (round_no, r)
        assert counters(p)["hits"] > 0
    finally:
        pg.sql("drop table if exists cache_big", db="appdb")


# --- 45. a stampede: one execution on the server, the others wait for it

# A cacheable statement that is slow and counts its executions: the
# function says IMMUTABLE (so the cache takes it), sleeps, and bumps a
# sequence, which no transaction rolls back. The sequence is UNLOGGED: a
# logged one writes WAL now and then, and so takes a transaction id, and
# the stream reads a committed transaction with no row in it as possible
# DDL (catalog changes are not decoded) and forgets the database's
# entries; the leader's own fill would then be refused whenever the
# stream saw its commit before Usher saw its answer. The first execution
# of cache_flaky() fails.
STAMPEDE_SQL = [
    "drop function if exists cache_slow(int, float8), cache_flaky(int)",
    "drop sequence if exists cache_calls",
    "create unlogged sequence cache_calls",
    "grant usage on sequence cache_calls to app",
    "create function cache_slow(n int, secs float8) returns int language plpgsql immutable as "
    "$$ begin perform nextval('cache_calls'); perform pg_sleep(secs); return n; end $$",
    "create function cache_flaky(n int) returns int language plpgsql immutable as "
    "$$ begin if nextval('cache_calls') = 1 then perform pg_sleep(0.5); "
    "raise exception 'first call fails'; end if; return n; end $$",
]
STAMPEDE_CLIENTS = 8


@pytest.fixture
def stampede(pooler, pg, table):
    for s in STAMPEDE_SQL:
        pg.sql(s, db="appdb")
    p = pooler(extra_ini=CACHE_INI, default_pool_size=STAMPEDE_CLIENTS + 2)
    conns = [client(p) for _ in range(STAMPEDE_CLIENTS)]
    wait_live(p, conn=conns[0])
    wait_serving(p, conns[0])
    yield p, conns
    pg.sql("drop function if exists cache_slow(int, float8), cache_flaky(int)", db="appdb")
    pg.sql("drop sequence if exists cache_calls", db="appdb")


def server_calls(pg):
    (called, n), = pg.sql("select is_called, last_value from cache_calls", db="appdb")
    return n if called else 0


def run_stampede(pg, conns, sql):
    """conns[0] runs sql; once the server runs it, the others send it too.
    Every client's answer, in order."""
    first = Background(lambda: conns[0].simple_query(sql, timeout=60))
    wait_until(lambda: pg.sql("select 1 from pg_stat_activity where state = 'active' "
                              "and query = %s", (sql,), db="appdb"),
               what="the first execution on the server")
    rest = [Background(lambda c=c: c.simple_query(sql, timeout=60)) for c in conns[1:]]
    return [first.join()] + [b.join() for b in rest]


def test_a_stampede_of_identical_misses_runs_once_on_the_server(stampede, pg):
    p, conns = stampede
    sql = "SELECT cache_slow(7, 0.5) AS n"
    before = counters(p)
    answers = run_stampede(pg, conns, sql)
    assert [wire.rows_of(a) for a in answers] == [[("7",)]] * STAMPEDE_CLIENTS
    assert server_calls(pg) == 1, cache_rows(p)
    assert counters(p)["hits"] - before["hits"] == STAMPEDE_CLIENTS - 1
    # Each waiter's answer is the leader's, byte for byte.
    assert all(a == answers[0] for a in answers)


def test_waiters_do_not_wait_past_the_bound_for_a_slow_leader(stampede, pg):
    # The leader takes longer than cache::kFlightWait (2 s): the others give
    # up waiting and run the query themselves.
    p, conns = stampede
    answers = run_stampede(pg, conns, "SELECT cache_slow(8, 4) AS n")
    assert [wire.rows_of(a) for a in answers] == [[("8",)]] * STAMPEDE_CLIENTS
    assert server_calls(pg) == STAMPEDE_CLIENTS


def test_a_failed_leader_wakes_the_waiters_and_keeps_its_error(stampede, pg):
    p, conns = stampede
    answers = run_stampede(pg, conns, "SELECT cache_flaky(9) AS n")
    assert sqlstate(answers[0]) == "P0001"
    for a in answers[1:]:
        assert sqlstate(a) is None and wire.rows_of(a) == [("9",)], a
    # The waiters woke when the leader failed and went to the server: one
    # of them led the next fill; the rest found it in flight but waited
    # only once.
    assert 2 <= server_calls(pg) <= STAMPEDE_CLIENTS
    assert_cached(p, conns[1], "SELECT cache_flaky(9) AS n")


def test_a_leader_that_disconnects_leaves_the_waiters_answered(stampede, pg):
    p, conns = stampede
    sql = "SELECT cache_slow(10, 1) AS n"
    first = Background(lambda: conns[0].simple_query(sql, timeout=60))
    wait_until(lambda: pg.sql("select 1 from pg_stat_activity where state = 'active' "
                              "and query = %s", (sql,), db="appdb"),
               what="the first execution on the server")
    rest = [Background(lambda c=c: c.simple_query(sql, timeout=60)) for c in conns[1:]]
    conns[0].sock.shutdown(socket.SHUT_RDWR)
    try:
        first.join()
    except Exception:  # noqa: BLE001 - its socket is gone
        pass
    for b in rest:
        assert wire.rows_of(b.join()) == [("10",)]
