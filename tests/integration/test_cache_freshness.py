"""Freshness (cache-study section 4, cases 24-33): once a write through
Usher is acknowledged, no read through Usher returns older data, whatever
the write reached (triggers, cascades, rules, partitions, views); writes
made directly are seen within the replication lag (polled, bounded); a
result computed before a write never lands after its invalidation."""

import pytest

from cache_util import (
    CACHE_INI, PROXY_STREAM_INI, Background, assert_cached, client, copy_in, counters, direct,
    rows, serving_client, sql_all, sqlstate, stream_backlog, value, wait_live, wait_rows,
    wait_serving, wait_until,
)
from cache_util import cached, closes_clients, table  # noqa: F401 - pytest fixtures, used by name
from harness import wire
from harness.postgres import scratch_server

pytestmark = pytest.mark.usher_only


# --- 24. autocommit writes through Usher


WRITES = [
    ("INSERT INTO cache_t VALUES (11, 'new')", "11", "v1"),
    ("INSERT INTO cache_t VALUES (11, 'new') RETURNING id", "11", "v1"),
    ("UPDATE cache_t SET v = 'upd' WHERE id = 1", "10", "upd"),
    ("DELETE FROM cache_t WHERE id = 1", "9", None),
    ("INSERT INTO cache_t VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = 'upsert'",
     "10", "upsert"),
    ("MERGE INTO cache_t t USING (VALUES (1, 'merged'), (12, 'm12')) s(id, v) ON t.id = s.id "
     "WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)",
     "11", "merged"),
    ("/* usher:cache ttl=1h */ UPDATE cache_t SET v = 'hinted' WHERE id = 1", "10", "hinted"),
]


@pytest.mark.parametrize("pool_mode", ["transaction", "session", "statement"])
@pytest.mark.parametrize("write,count,v1", WRITES, ids=[w[0][:24] for w in WRITES])
def test_autocommit_write_is_seen_at_once_by_every_client(pooler, pg, table, pool_mode,
                                                         write, count, v1):
    p = pooler(pool_mode=pool_mode, extra_ini=CACHE_INI)
    reader = client(p)
    writer = client(p)
    wait_live(p, conn=reader)
    wait_serving(p, reader)
    assert_cached(p, reader, "SELECT count(*) FROM cache_t")
    assert_cached(p, reader, "SELECT v FROM cache_t WHERE id = 1")
    # The stream lags: only Usher's own wait for it keeps the reads fresh.
    stream_backlog(pg)
    assert sqlstate(writer.simple_query(write)) is None
    assert value(reader, "SELECT count(*) FROM cache_t") == count
    assert rows(reader, "SELECT v FROM cache_t WHERE id = 1") == ([(v1,)] if v1 else [])
    assert rows(writer, "SELECT v FROM cache_t WHERE id = 1") == ([(v1,)] if v1 else [])


def test_a_long_run_of_writes_and_reads(cached):
    p, c = cached
    other = client(p)
    for i in range(40):
        c.simple_query(f"UPDATE cache_t SET v = 'n{i}' WHERE id = 2")
        assert value(other, "SELECT v FROM cache_t WHERE id = 2") == f"n{i}"
        assert value(other, "SELECT v FROM cache_t WHERE id = 2") == f"n{i}"
    assert counters(p)["hits"] > 0


# --- 25, 28, 29. explicit transactions


def test_commit_is_seen_and_rollback_changes_nothing(cached, pg):
    p, a = cached
    b = client(p)
    sql = "SELECT v FROM cache_t WHERE id = 3"
    assert_cached(p, b, sql)
    committed = "v3"
    for i, end in enumerate(("COMMIT", "END", "ROLLBACK", "ABORT", "COMMIT")):
        new = f"c{i}"
        a.simple_query("BEGIN")
        a.simple_query(f"UPDATE cache_t SET v = '{new}' WHERE id = 3")
        # 29: read-your-writes inside the transaction, never the entry.
        inside = a.simple_query(sql)
        assert wire.rows_of(inside) == [(new,)] and inside[-1] == (b"Z", b"T")
        # 28: another client still sees the committed value.
        assert value(b, sql) == committed
        stream_backlog(pg)
        done = a.simple_query(end)
        assert done[-1] == (b"Z", b"I")
        if end in ("COMMIT", "END"):
            committed = new
        assert value(b, sql) == committed
        assert value(a, sql) == committed
        assert_cached(p, b, sql)


def test_a_failed_transaction_commits_nothing(cached):
    p, a = cached
    b = client(p)
    sql = "SELECT v FROM cache_t WHERE id = 4"
    assert_cached(p, b, sql)
    a.simple_query("BEGIN")
    a.simple_query("UPDATE cache_t SET v = 'lost' WHERE id = 4")
    failed = a.simple_query("SELECT 1/0")
    assert sqlstate(failed) == "22012" and failed[-1] == (b"Z", b"E")
    assert sqlstate(a.simple_query(sql)) == "25P02"
    end = a.simple_query("COMMIT")
    assert [m for m in end if m[0] == b"C"] == [(b"C", b"ROLLBACK\x00")]
    assert value(b, sql) == "v4"
    assert value(a, sql) == "v4"


def test_transaction_in_one_query_and_savepoints(cached):
    p, a = cached
    b = client(p)
    sql = "SELECT v FROM cache_t WHERE id = 5"
    assert_cached(p, b, sql)
    a.simple_query("BEGIN; UPDATE cache_t SET v = 'one' WHERE id = 5; COMMIT")
    assert value(b, sql) == "one"
    a.simple_query("BEGIN")
    a.simple_query("SAVEPOINT s")
    a.simple_query("UPDATE cache_t SET v = 'sp' WHERE id = 5")
    a.simple_query("ROLLBACK TO SAVEPOINT s")
    a.simple_query("UPDATE cache_t SET v = 'after' WHERE id = 5")
    a.simple_query("RELEASE s")
    assert value(b, sql) == "one"
    a.simple_query("COMMIT")
    assert value(b, sql) == "after"




@pytest.mark.parametrize("ini", [CACHE_INI, PROXY_STREAM_INI], ids=["replication", "proxy"])
def test_commit_and_chain_is_seen_at_once(pooler, pg, table, ini):
    p = pooler(extra_ini=ini)
    a = client(p)
    b = serving_client(p)
    sql = "SELECT v FROM cache_t WHERE id = 6"
    assert_cached(p, b, sql)
    a.simple_query("BEGIN")
    a.simple_query("UPDATE cache_t SET v = 'chained' WHERE id = 6")
    stream_backlog(pg)
    done = a.simple_query("COMMIT AND CHAIN")
    assert done[-1] == (b"Z", b"T")
    assert value(b, sql) == "chained"


def test_commit_and_chain_is_seen_eventually(cached, pg):
    """The chained commit is seen within the lag, and at once when the
    chained transaction ends."""
    p, a = cached
    b = client(p)
    sql = "SELECT v FROM cache_t WHERE id = 6"
    assert_cached(p, b, sql)
    a.simple_query("BEGIN")
    a.simple_query("UPDATE cache_t SET v = 'chained' WHERE id = 6")
    assert a.simple_query("COMMIT AND CHAIN")[-1] == (b"Z", b"T")
    wait_rows(b, sql, [("chained",)])
    a.simple_query("UPDATE cache_t SET v = 'chained2' WHERE id = 6")
    stream_backlog(pg)
    a.simple_query("COMMIT")
    assert value(b, sql) == "chained2"


def test_repeatable_read_transaction_is_not_served(cached, pg):
    p, a = cached
    sql = "SELECT v FROM cache_t WHERE id = 7"
    assert_cached(p, a, sql)
    a.simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert value(a, sql) == "v7"
    pg.sql("update cache_t set v = 'later' where id = 7", db="appdb")
    b = client(p)
    wait_rows(b, sql, [("later",)])
    # The snapshot's value, not the cache's (fresher) one.
    for _ in range(3):
        assert value(a, sql) == "v7"
    a.simple_query("COMMIT")
    assert value(a, sql) == "later"


# --- 26. the fill-after-invalidate race

# Slow (a few tenths of a second) with only immutable functions: a cross
# join counted (generate_series() is refused: one overload is STABLE).
SLOW = ("/* cache_race */ SELECT v, n FROM cache_t, "
        "(SELECT count(*) AS n FROM cache_big a, cache_big b) g WHERE id = 1")
BIG_ROWS = 2500


@pytest.fixture
def big(pg):
    sql_all(pg, ["drop table if exists cache_big",
                 f"create table cache_big as select g as id from generate_series(1, {BIG_ROWS}) g",
                 "grant select on cache_big to app"])
    yield
    pg.sql("drop table if exists cache_big", db="appdb")


def slow_is_running(pg):
    r = pg.sql("select count(*) from pg_stat_activity where state = 'active' "
               "and query like '/* cache_race */%'", db="appdb")
    return r[0][0] > 0


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["direct", "usher"])
def test_a_result_computed_before_a_write_is_not_stored_after_it(big, cached, pg, writer):
    p, a = cached
    b = client(p)
    w = client(p)
    assert_cached(p, b, SLOW)
    for i in range(4):
        old = value(b, "SELECT v FROM cache_t WHERE id = 1")
        # a's read must be a miss that fills.
        p.admin("CACHE FLUSH appdb cache_t")
        running = Background(lambda: a.simple_query(SLOW, timeout=120))
        wait_until(lambda: slow_is_running(pg), what="the slow read to start")
        if writer == "direct":
            pg.sql(f"update cache_t set v = 'race{i}' where id = 1", db="appdb")
        else:
            assert sqlstate(w.simple_query(f"UPDATE cache_t SET v = 'race{i}' WHERE id = 1")) \
                is None
            # Acknowledged: every read from now on is fresh.
            assert wire.rows_of(b.simple_query(SLOW))[0][0] == f"race{i}"
        answer = running.join()
        # Its snapshot was taken before the write committed.
        assert wire.rows_of(answer)[0][0] == old
        if writer == "direct":
            wait_until(lambda: wire.rows_of(b.simple_query(SLOW))[0][0] == f"race{i}",
                       what="the direct write to be seen")
        for _ in range(2):
            assert wire.rows_of(b.simple_query(SLOW))[0][0] == f"race{i}"
            assert wire.rows_of(a.simple_query(SLOW))[0][0] == f"race{i}"
    assert counters(p)["refused_stale_fills"] >= 1


# --- 31. writes the parse tree does not show


def test_trigger_cascade_rule_partition_view_and_inheritance(pooler, pg, table):
    sql_all(pg, [
        "drop table if exists cache_log, cache_fp, cache_fc, cache_fn, cache_p, cache_parent "
        "cascade",
        "create table cache_log (id int)",
        "create function cache_log_it() returns trigger language plpgsql as "
        "$$ begin insert into cache_log values (new.id); return new; end $$",
        "create trigger cache_trg after insert on cache_t for each row execute function "
        "cache_log_it()",
        "create table cache_fp (id int primary key)",
        "create table cache_fc (id int, pid int references cache_fp on delete cascade)",
        "create table cache_fn (id int, pid int references cache_fp on delete set null)",
        "insert into cache_fp values (1), (2)",
        "insert into cache_fc values (1, 1), (2, 1), (3, 2)",
        "insert into cache_fn values (1, 1), (2, 2)",
        "create table cache_p (id int, v text) partition by range (id)",
        "create table cache_p1 partition of cache_p for values from (0) to (100)",
        "create table cache_p2 partition of cache_p for values from (100) to (200)",
        "insert into cache_p values (1, 'a'), (150, 'b')",
        "create table cache_parent (id int)",
        "create table cache_child () inherits (cache_parent)",
        "insert into cache_child values (1)",
        "create view cache_uv as select id, v from cache_t where id < 100",
        "create table cache_rule_log (id int)",
        "create rule cache_rule as on update to cache_fp do also "
        "insert into cache_rule_log values (new.id)",
        "grant all on cache_log, cache_fp, cache_fc, cache_fn, cache_p, cache_p1, cache_p2, "
        "cache_parent, cache_child, cache_uv, cache_rule_log to app",
    ])
    try:
        p = pooler(extra_ini=CACHE_INI)
        r = client(p)
        w = client(p)
        wait_live(p, conn=r)
        wait_serving(p, r)
        reads = {
            "log": "SELECT count(*) FROM cache_log",
            "fc": "SELECT count(*) FROM cache_fc",
            "fn": "SELECT count(*) FROM cache_fn WHERE pid IS NULL",
            "p": "SELECT count(*) FROM cache_p",
            "p1": "SELECT count(*) FROM cache_p1",
            "p2": "SELECT count(*) FROM cache_p2",
            "parent": "SELECT count(*) FROM cache_parent",
            "t1": "SELECT v FROM cache_t WHERE id = 1",
            "rule": "SELECT count(*) FROM cache_rule_log",
        }
        for sql in reads.values():
            assert_cached(p, r, sql)

        def check(write, expect):
            stream_backlog(pg)
            assert sqlstate(w.simple_query(write)) is None, write
            for name, v in expect.items():
                assert value(r, reads[name]) == v, (write, name)
                assert_cached(p, r, reads[name])

        check("INSERT INTO cache_t VALUES (50, 'trig')", {"log": "1"})  # trigger
        check("DELETE FROM cache_fp WHERE id = 1", {"fc": "1", "fn": "1"})  # cascade, set null
        check("INSERT INTO cache_p1 VALUES (2, 'c')", {"p": "3", "p1": "2"})  # partition
        check("INSERT INTO cache_p VALUES (3, 'd')", {"p1": "3", "p": "4"})  # through parent
        check("UPDATE cache_p SET id = 160 WHERE id = 1", {"p1": "2", "p2": "2"})  # moves
        check("INSERT INTO cache_child VALUES (2)", {"parent": "2"})  # inheritance
        check("UPDATE cache_uv SET v = 'via view' WHERE id = 1", {"t1": "via view"})  # view
        check("UPDATE cache_fp SET id = 2 WHERE id = 2", {"rule": "1"})  # rule
    finally:
        sql_all(pg, [
            "drop table if exists cache_log, cache_fc, cache_fn, cache_fp, cache_p, "
            "cache_parent, cache_rule_log cascade",
            "drop function if exists cache_log_it() cascade",
        ])




@pytest.mark.parametrize("ini", [CACHE_INI, PROXY_STREAM_INI], ids=["replication", "proxy"])
def test_a_function_that_writes_called_in_a_select(pooler, pg, table, ini):
    sql_all(pg, ["drop table if exists cache_log",
                 "create table cache_log (id int)",
                 "grant all on cache_log to app",
                 "create or replace function cache_bump() returns int language sql as "
                 "$$ insert into cache_log values (0) returning 0 $$",
                 "grant execute on function cache_bump() to app"])
    try:
        p = pooler(extra_ini=ini)
        r = client(p)
        w = client(p)
        wait_live(p, conn=r)
        wait_serving(p, r)
        read = "SELECT count(*) FROM cache_log"
        assert_cached(p, r, read)
        stream_backlog(pg)
        assert value(w, "SELECT cache_bump()") == "0"
        assert value(r, read) == "1"
    finally:
        sql_all(pg, ["drop function if exists cache_bump()", "drop table if exists cache_log"])


def test_a_function_that_writes_is_seen_eventually(cached, pg):
    p, r = cached
    sql_all(pg, ["drop table if exists cache_log",
                 "create table cache_log (id int)",
                 "grant all on cache_log to app",
                 "create or replace function cache_bump() returns int language sql as "
                 "$$ insert into cache_log values (0) returning 0 $$",
                 "grant execute on function cache_bump() to app"])
    try:
        wait_serving(p, r)
        read = "SELECT count(*) FROM cache_log"
        assert_cached(p, r, read)
        w = client(p)
        assert value(w, "SELECT cache_bump()") == "0"
        wait_rows(r, read, [("1",)])
    finally:
        sql_all(pg, ["drop function if exists cache_bump()", "drop table if exists cache_log"])


# --- 32. writes not through Usher


def test_direct_writes_are_seen(cached, pg):
    p, c = cached
    sql = "SELECT v FROM cache_t WHERE id = 8"
    for i, write in enumerate([
        "update cache_t set v = 'd0' where id = 8",
        "delete from cache_t where id = 8",
        "insert into cache_t values (8, 'd2')",
        "begin; update cache_t set v = 'd3' where id = 8; commit",
    ]):
        assert_cached(p, c, sql)
        pg.sql(write, db="appdb")
        expect = [] if "delete" in write else [(f"d{i}",)]
        wait_rows(c, sql, expect)
    # A direct ROLLBACK changes nothing: the entry still serves.
    assert_cached(p, c, sql)
    with direct(pg) as d:
        d.simple_query("BEGIN")
        d.simple_query("UPDATE cache_t SET v = 'never' WHERE id = 8")
        d.simple_query("ROLLBACK")
    assert value(c, sql) == "d3"


@pytest.fixture(scope="module")
def pg_2pc(pg):
    """The session server if it allows prepared transactions, else a
    server of our own that does (wal_level=logical as well)."""
    if int(pg.sql("show max_prepared_transactions")[0][0]) > 0:
        yield pg
        return
    with scratch_server("uit-pg2pc-", {"max_prepared_transactions": "5"}) as server:
        yield server


def test_commit_prepared_is_seen(pooler, pg_2pc):
    pg = pg_2pc
    sql_all(pg, ["drop table if exists cache_t",
                 "create table cache_t (id int primary key, v text)",
                 "insert into cache_t values (1, 'before')",
                 "grant all on cache_t to app"])
    try:
        target = f"host={pg.host} port={pg.port}"
        p = pooler(extra_ini=CACHE_INI, databases={"appdb": f"{target} dbname=appdb"})
        c = serving_client(p)
        sql = "SELECT v FROM cache_t WHERE id = 1"
        assert_cached(p, c, sql)
        with direct(pg, user="postgres") as d:
            d.simple_query("BEGIN")
            d.simple_query("UPDATE cache_t SET v = 'prepared' WHERE id = 1")
            assert sqlstate(d.simple_query("PREPARE TRANSACTION 'cache_gid'")) is None
        # Prepared is not committed: still the old value (and still cached).
        assert_cached(p, c, sql)
        assert value(c, sql) == "before"
        pg.sql("commit prepared 'cache_gid'", db="appdb")
        wait_rows(c, sql, [("prepared",)])
        # The same through Usher, with the commit through Usher too.
        assert_cached(p, c, sql)
        admin = client(p, user="postgres")
        admin.simple_query("BEGIN")
        admin.simple_query("UPDATE cache_t SET v = 'prepared2' WHERE id = 1")
        assert sqlstate(admin.simple_query("PREPARE TRANSACTION 'cache_gid2'")) is None
        assert value(c, sql) == "prepared"
        assert sqlstate(admin.simple_query("COMMIT PREPARED 'cache_gid2'")) is None
        assert value(c, sql) == "prepared2"
    finally:
        for gid in ("cache_gid", "cache_gid2"):
            if pg.sql("select count(*) from pg_prepared_xacts where gid = %s", (gid,))[0][0]:
                pg.sql(f"rollback prepared '{gid}'", db="appdb")
        pg.sql("drop table if exists cache_t", db="appdb")


# --- 33. DDL, TRUNCATE, COPY


@pytest.mark.parametrize("through", ["usher", "direct"])
def test_ddl_truncate_and_copy_are_seen(pooler, pg, table, through):
    pg.sql("alter table cache_t owner to app", db="appdb")
    pg.sql("create view cache_view as select id, v from cache_t", db="appdb")
    pg.sql("alter view cache_view owner to app", db="appdb")
    p = pooler(extra_ini=CACHE_INI)
    r = client(p)
    w = client(p)
    wait_live(p, conn=r)
    wait_serving(p, r)
    d = direct(pg)

    def run(sql, read, expect):
        """sql through Usher (seen at once) or directly (within the lag)."""
        assert_cached(p, r, read)
        if through == "usher":
            assert sqlstate(w.simple_query(sql)) is None, sql
            assert wire.rows_of(r.simple_query(read)) == expect, sql
        else:
            assert sqlstate(d.simple_query(sql)) is None, sql
            wait_rows(r, read, expect)

    try:
        one = "SELECT * FROM cache_t WHERE id = 1"
        run("ALTER TABLE cache_t ADD COLUMN w int DEFAULT 7", one, [("1", "v1", "7")])
        # ALTER TYPE: the same text, another RowDescription (text, not int4).
        with direct(pg) as d2:
            before = [m for m in d2.simple_query(one) if m[0] == b"T"]
        assert_cached(p, r, one)
        conn = w if through == "usher" else d
        assert sqlstate(conn.simple_query("ALTER TABLE cache_t ALTER COLUMN w TYPE text")) is None
        with direct(pg) as d2:
            after = [m for m in d2.simple_query(one) if m[0] == b"T"]
        assert after != before

        def shape():
            return [m for m in r.simple_query(one) if m[0] == b"T"]
        if through == "usher":
            assert shape() == after
        else:
            wait_until(lambda: shape() == after, what="the new RowDescription")
        assert_cached(p, r, one)
        assert shape() == after
        run("ALTER TABLE cache_t DROP COLUMN w", one, [("1", "v1")])
        run("CREATE OR REPLACE VIEW cache_view AS SELECT id, upper(v) AS v FROM cache_t",
            "SELECT v FROM cache_view WHERE id = 2", [("V2",)])
        run("TRUNCATE cache_t CASCADE", "SELECT count(*) FROM cache_t", [("0",)])
        run("DROP VIEW cache_view; DROP TABLE cache_t; "
            "CREATE TABLE cache_t (id int primary key, v text, extra text); "
            "INSERT INTO cache_t VALUES (1, 'reborn', 'x')",
            one, [("1", "reborn", "x")])
    finally:
        d.close()
        pg.sql("drop view if exists cache_view", db="appdb")




@pytest.mark.parametrize("through", [
    "usher",
    "usher in a transaction",
    "direct",
])
def test_copy_from_is_seen(pooler, pg, table, through):
    p = pooler(extra_ini=CACHE_INI)
    r = serving_client(p)
    read = "SELECT count(*) FROM cache_t"
    data = b"11\tcopied\n12\tcopied\n"
    for _ in range(2):
        assert_cached(p, r, read)
        before = int(value(r, read))
        if through == "direct":
            with direct(pg) as d:
                assert (b"C", b"COPY 2\x00") in copy_in(d, "COPY cache_t FROM STDIN", data)
            wait_rows(r, read, [(str(before + 2),)])
        else:
            w = client(p)
            stream_backlog(pg)
            if through == "usher":
                done = copy_in(w, "COPY cache_t FROM STDIN", data)
            else:
                w.simple_query("BEGIN")
                done = copy_in(w, "COPY cache_t FROM STDIN", data)
                assert w.simple_query("COMMIT")[-1] == (b"Z", b"I")
            assert (b"C", b"COPY 2\x00") in done, done
            assert value(r, read) == str(before + 2)
            assert value(w, read) == str(before + 2)
        data = data.replace(b"11", b"13").replace(b"12", b"14")
