"""Helpers for the query result cache tests (test_cache*.py): raw clients
through Usher and directly on PostgreSQL, SHOW CACHE counters, and bounded
waits. Every answer through Usher is compared with the server's own.

Counters: `hits` counts answers served from the cache, `misses` cacheable
reads that went to the server, `uncacheable` single reads refused. A test
that says "not cached" first makes sure the database is serving hits at all
(wait_serving), so that a hit count that did not move means a refusal and
not a stream that happened to lag.

Fixtures, imported by name into each test module: closes_clients (autouse
there), table (cache_t), cached (a pooler and a client with the cache
serving); tables_fixture() makes a `table` of other tables.
"""

import threading
import time

import pytest

from harness import wire
from harness.postgres import ROLES, SUPERUSER, SUPERUSER_PASSWORD

CACHE_INI = {"query_cache": "on", "query_cache_replication_user": SUPERUSER}
PROXY_INI = {"query_cache": "on", "query_cache_invalidation": "proxy"}
# proxy with a user that may replicate: today the stream runs anyway (see
# test_cache_modes.py), and the catalog only loads when it can.
PROXY_STREAM_INI = dict(PROXY_INI, query_cache_replication_user=SUPERUSER)

# Rows of one direct transaction that keeps the invalidation stream busy
# decoding for a while (tenths of a second): long enough that a read right
# after a write through Usher is sure to come before the stream reports the
# write, so the read is fresh only if Usher waited for the stream.
BACKLOG_ROWS = 100_000

# Bounds on waits for what is eventually true (out-of-band writes are seen
# within the replication lag); generous, and never asserted as durations.
FRESH_TIMEOUT = 15.0
POLL = 0.02

# A cacheable read with no table: the probe that the cache serves at all.
PROBE = "SELECT 'usher cache probe' AS probe"

SHOW_CACHE_COLUMNS = [
    "database", "state", "entries", "bytes", "hits", "misses", "hit_ratio",
    "uncacheable", "fills", "invalidations_stream", "invalidations_catalog",
    "invalidations_proxy", "flushes_gap", "flushes_unknown_commit",
    "flushes_console", "applied_lsn", "barrier_lsn", "evictions",
    "refused_stale_fills",
]

COUNTERS = ("entries", "hits", "misses", "uncacheable", "fills", "invalidations_stream",
            "invalidations_catalog", "invalidations_proxy", "flushes_gap",
            "flushes_unknown_commit", "flushes_console", "evictions", "refused_stale_fills")


def password(user):
    if user == SUPERUSER:
        return SUPERUSER_PASSWORD
    return ROLES[user]


def cache_rows(p, db="appdb"):
    for r in p.admin("SHOW CACHE").dicts():
        if r["database"] == db:
            return r
    return None


def counters(p, db="appdb"):
    r = cache_rows(p, db)
    if r is None:
        return {k: 0 for k in COUNTERS}
    return {k: int(r[k]) for k in COUNTERS}


def hits(p, db="appdb"):
    return counters(p, db)["hits"]


def state(p, db="appdb"):
    r = cache_rows(p, db)
    return r["state"] if r else None


# Clients through Usher still open: closed by close_clients() (the autouse
# fixture closes_clients), before the pooler stops, even when a test
# fails half-way (Usher's SIGTERM waits for its clients).
_open_clients = []


def client(p, db="appdb", user="app", params=None):
    """A raw client through Usher, logged in."""
    c = wire.Conn(p.host, p.port)
    _open_clients.append(c)
    msgs = c.startup(user, db, p.password_for(user), params=params)
    assert msgs[-1][0] == b"Z", msgs
    return c


def close_clients():
    while _open_clients:
        _open_clients.pop().close()


def serving_client(p, db="appdb", user="app", params=None):
    """client(), once the database's stream is live and the cache serves."""
    c = client(p, db, user, params)
    wait_live(p, db, conn=c)
    wait_serving(p, c, db)
    return c


def direct(pg, db="appdb", user="app", params=None):
    """A raw client on PostgreSQL itself (no pooler), logged in."""
    c = wire.Conn(pg.host, pg.port)
    msgs = c.startup(user, db, password(user), params=params)
    assert msgs[-1][0] == b"Z", msgs
    return c


def rows(conn, sql):
    """Rows of a query that must succeed."""
    msgs = conn.simple_query(sql)
    errors = wire.errors_of(msgs)
    assert not errors, (sql, errors)
    return wire.rows_of(msgs)


def value(conn, sql):
    r = rows(conn, sql)
    assert len(r) == 1 and len(r[0]) == 1, (sql, r)
    return r[0][0]


def sqlstate(msgs):
    errors = wire.errors_of(msgs)
    return errors[0]["C"] if errors else None


def wait_live(p, db="appdb", conn=None, timeout=20):
    """Until the database's stream is live (a first query starts it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn is not None:
            conn.simple_query("SELECT 1")
        r = cache_rows(p, db)
        if r and r["state"] in ("live", "proxy"):
            return r
        time.sleep(0.05)
    raise AssertionError(f"cache never live: {cache_rows(p, db)}")


def wait_serving(p, conn, db="appdb", timeout=FRESH_TIMEOUT):
    """Until a repeated cacheable read is a hit: the cache serves now (the
    stream has caught up with every write through Usher, and the catalog
    is loaded). Every test that counts hits starts here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.simple_query(PROBE)
        before = hits(p, db)
        conn.simple_query(PROBE)
        if hits(p, db) > before:
            return
        time.sleep(POLL)
    raise AssertionError(f"the cache never served a hit: {cache_rows(p, db)}")


def hit_delta(p, conn, sql, times=2, db="appdb"):
    """Runs sql `times` times; (answers, how many were hits)."""
    before = hits(p, db)
    answers = [conn.simple_query(sql) for _ in range(times)]
    return answers, hits(p, db) - before


def assert_cached(p, conn, sql, db="appdb", timeout=FRESH_TIMEOUT):
    """sql becomes a hit (fills, then is served); its answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.simple_query(sql)
        before = hits(p, db)
        answer = conn.simple_query(sql)
        if hits(p, db) == before + 1:
            return answer
        time.sleep(POLL)
    raise AssertionError(f"never a hit: {sql!r}; {cache_rows(p, db)}")


def assert_not_cached(p, conn, sql, db="appdb", times=3):
    """sql is never served from the cache while the cache serves: the
    probe hits before and after, sql's own runs do not. Its answers."""
    wait_serving(p, conn, db)
    before = counters(p, db)
    answers = [conn.simple_query(sql) for _ in range(times)]
    after = counters(p, db)
    assert after["hits"] == before["hits"], (sql, before, after)
    wait_serving(p, conn, db)
    return answers


def wait_rows(conn, sql, expected, timeout=FRESH_TIMEOUT):
    """Polls sql until its rows are `expected` (eventual freshness of an
    out-of-band write); fails with the last rows seen."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = wire.rows_of(conn.simple_query(sql))
        if got == expected:
            return got
        time.sleep(POLL)
    raise AssertionError(f"{sql!r}: never {expected!r}, last {got!r}")


def wait_sqlstate(conn, sql, code, timeout=FRESH_TIMEOUT):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = conn.simple_query(sql)
        if sqlstate(got) == code:
            return got
        time.sleep(POLL)
    raise AssertionError(f"{sql!r}: never {code}, last {wire.tags_of(got)} {wire.errors_of(got)}")


def wait_until(predicate, timeout=FRESH_TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(POLL)
    raise AssertionError(f"timed out waiting for {what}")


def sql_all(pg, statements, db="appdb"):
    for s in statements:
        pg.sql(s, db=db)


# The table most tests read: cache_t (id int primary key, v text), rows 1 to
# TABLE_ROWS with v 'v1', 'v2'... Tables of this shape by name, each with
# the prefix of its v values.
CACHE_T = {"cache_t": "v"}
TABLE_ROWS = 10


def make_tables(pg, tables, db="appdb"):
    names = ", ".join(tables)
    pg.sql(f"drop table if exists {names} cascade", db=db)
    for name in tables:
        pg.sql(f"create table {name} (id int primary key, v text)", db=db)
    pg.sql(f"grant all on {names} to app, app2", db=db)
    for name, prefix in tables.items():
        pg.sql(f"insert into {name} select g, '{prefix}' || g "
               f"from generate_series(1, {TABLE_ROWS}) g", db=db)


def drop_tables(pg, tables, db="appdb"):
    pg.sql(f"drop table if exists {', '.join(tables)} cascade", db=db)


def tables_fixture(tables):
    """A fixture `table`: the tables (see make_tables) and the backlog
    table made before the test, dropped after it; its value is the first
    table's name."""

    def table(pg):
        make_backlog(pg)
        make_tables(pg, tables)
        yield next(iter(tables))
        drop_tables(pg, tables)
        drop_backlog(pg)

    return pytest.fixture(name="table")(table)


table = tables_fixture(CACHE_T)


@pytest.fixture(autouse=True)
def closes_clients(pooler):
    """Closes the clients through Usher still open once a test ends."""
    yield
    close_clients()


@pytest.fixture
def cached(pooler, table):
    """(pooler, client) with the cache serving."""
    p = pooler(extra_ini=CACHE_INI)
    return p, serving_client(p)


def make_backlog(pg, db="appdb"):
    """The table stream_backlog() fills: made before the pooler starts (a
    CREATE TABLE later would be a catalog change of its own, and the
    catalog reload it causes would hide what a test looks for)."""
    pg.sql("drop table if exists cache_backlog", db=db)
    pg.sql("create table cache_backlog (id int, pad text)", db=db)


def stream_backlog(pg, db="appdb"):
    """Commits a big direct transaction: the stream lags behind it."""
    pg.sql(f"insert into cache_backlog select g, 'p' from generate_series(1, {BACKLOG_ROWS}) g",
           db=db)


def drop_backlog(pg, db="appdb"):
    pg.sql("drop table if exists cache_backlog", db=db)


def same_answer(through_usher, from_server):
    """Message for message, byte for byte (RowDescription, DataRows, tag,
    ReadyForQuery)."""
    assert wire.tags_of(through_usher) == wire.tags_of(from_server)
    assert through_usher == from_server


def copy_in(conn, sql, data):
    """COPY ... FROM STDIN over the raw client: the messages up to
    ReadyForQuery."""
    conn.send(wire.query(sql))
    first = conn.read_until({b"G", b"E", b"Z"})
    if first[-1][0] != b"G":
        return first if first[-1][0] == b"Z" else first + conn.read_until({b"Z"})
    conn.send(wire.message(b"d", data) + wire.message(b"c"))
    return first + conn.read_until({b"Z"})


class Background:
    """fn() in a thread; join() returns its value or re-raises."""

    def __init__(self, fn):
        self.result = None
        self.error = None

        def run():
            try:
                self.result = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in join()
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout=60):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background work did not finish"
        if self.error:
            raise self.error
        return self.result
