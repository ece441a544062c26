"""What the query cache refuses (cache-study section 4, cases 1-15): every
refusal is checked by its effect (a sequence advances, a lock is taken, a
fresh value appears at once) and by the counters (no hit while the cache
serves), and every answer is compared with the server's own."""

import time

import pytest

from cache_util import (
    CACHE_INI, assert_cached, assert_not_cached, client, counters, direct, hit_delta, hits, rows,
    same_answer, serving_client, sqlstate, stream_backlog, value, wait_live, wait_rows,
    wait_serving,
)
from cache_util import cached, closes_clients, table  # noqa: F401 - pytest fixtures, used by name
from harness import wire

pytestmark = pytest.mark.usher_only


def test_probe_and_plain_read_are_cached(cached, pg):
    p, c = cached
    answer = assert_cached(p, c, "SELECT id, v FROM cache_t WHERE id = 1")
    with direct(pg) as d:
        same_answer(answer, d.simple_query("SELECT id, v FROM cache_t WHERE id = 1"))


# --- 1. sequences


def test_sequence_functions_are_never_cached(cached, pg):
    p, c = cached
    pg.sql("drop sequence if exists cache_s", db="appdb")
    pg.sql("create sequence cache_s", db="appdb")
    pg.sql("grant all on cache_s to app", db="appdb")
    try:
        before = counters(p)
        assert [value(c, "SELECT nextval('cache_s')") for _ in range(3)] == ["1", "2", "3"]
        assert rows(c, "SELECT currval('cache_s'), lastval()") == [("3", "3")]
        assert value(c, "SELECT nextval('cache_s')") == "4"
        assert rows(c, "SELECT currval('cache_s'), lastval()") == [("4", "4")]
        assert value(c, "SELECT setval('cache_s', 5)") == "5"
        assert value(c, "SELECT nextval('cache_s')") == "6"
        assert value(c, "SELECT setval('cache_s', 5)") == "5"
        assert value(c, "SELECT nextval('cache_s')") == "6"
        after = counters(p)
        assert after["hits"] == before["hits"]
        assert after["uncacheable"] == before["uncacheable"] + 10
        assert pg.sql("select last_value from cache_s", db="appdb") == [(6,)]
    finally:
        pg.sql("drop sequence if exists cache_s", db="appdb")


# --- 2, 3, 4. volatile and stable functions, CURRENT_* and session values


@pytest.mark.parametrize("sql", [
    "SELECT random()",
    "SELECT clock_timestamp()",
    "SELECT timeofday()",
    "SELECT gen_random_uuid()",
    "SELECT now()",
    "SELECT statement_timestamp()",
    "SELECT transaction_timestamp()",
    "SELECT current_timestamp",
    "SELECT localtimestamp",
    "SELECT current_time",
])
def test_volatile_or_time_dependent_values_differ(cached, sql):
    p, c = cached
    answers = []
    for _ in range(3):
        answers.append(c.simple_query(sql))
        time.sleep(0.002)  # the clock moves on (microsecond resolution)
    first, second, third = (wire.rows_of(a) for a in answers)
    assert first != second and second != third, (first, second, third)
    assert_not_cached(p, c, sql)


@pytest.mark.parametrize("sql", [
    "SELECT CURRENT_DATE",
    "SELECT current_user",
    "SELECT session_user",
    "SELECT user",
    "SELECT current_role",
    "SELECT current_schema",
    "SELECT current_catalog",
    "SELECT pg_backend_pid()",
    "SELECT inet_client_addr()",
    "SELECT current_setting('TimeZone')",
    "SELECT date '2024-01-01' + 0 = 'today'::date",
    "SELECT 'now'::timestamptz",
    "SELECT id FROM cache_t WHERE now() > '2000-01-01' ORDER BY id",
    "SELECT id FROM cache_t WHERE id < extract(day from clock_timestamp()) ORDER BY id",
    "SELECT ctid, id FROM cache_t WHERE id = 1",
    "SELECT xmin IS NOT NULL FROM cache_t WHERE id = 1",
    "SELECT 'cache_t'::regclass::oid > 0",
])
def test_session_and_clock_dependent_reads_are_not_cached(cached, pg, sql):
    p, c = cached
    uncacheable = counters(p)["uncacheable"]
    assert_not_cached(p, c, sql)
    # The refusal is counted as such (a read, not a miss).
    assert counters(p)["uncacheable"] >= uncacheable + 3


def test_session_values_follow_the_client(cached, pooler):
    p, c = cached
    assert value(c, "SELECT current_user") == "app"
    other = client(p, user="app2")
    assert value(other, "SELECT current_user") == "app2"
    assert value(c, "SELECT current_user") == "app"
    c.simple_query("SET app.tenant = 'a'")
    other.simple_query("SET app.tenant = 'b'")
    assert value(c, "SELECT current_setting('app.tenant')") == "a"
    assert value(other, "SELECT current_setting('app.tenant')") == "b"
    assert value(c, "SELECT current_setting('app.tenant')") == "a"
    other.close()


# --- 6. date_trunc: a stable overload (timestamptz) next to immutable ones


def test_date_trunc_overloads_give_correct_answers(pooler, pg, table):
    pg.sql("drop table if exists cache_ts", db="appdb")
    pg.sql("create table cache_ts (id int primary key, ts timestamp)", db="appdb")
    pg.sql("grant select on cache_ts to app", db="appdb")
    pg.sql("insert into cache_ts values (1, '2024-03-10 23:30:00'), (2, '2024-03-11 01:15:00')",
           db="appdb")
    try:
        p = pooler(extra_ini=CACHE_INI)
        utc = client(p, params={"TimeZone": "UTC"})
        tokyo = client(p, params={"TimeZone": "Asia/Tokyo"})
        wait_live(p, conn=utc)
        wait_serving(p, utc)
        tz_sql = "SELECT id, date_trunc('day', ts::timestamptz) FROM cache_ts ORDER BY id"
        plain_sql = "SELECT id, date_trunc('day', ts) FROM cache_ts ORDER BY id"
        with direct(pg, params={"TimeZone": "UTC"}) as d_utc, \
                direct(pg, params={"TimeZone": "Asia/Tokyo"}) as d_tokyo:
            for _ in range(3):
                for conn, d in ((utc, d_utc), (tokyo, d_tokyo)):
                    assert wire.rows_of(conn.simple_query(tz_sql)) == \
                        wire.rows_of(d.simple_query(tz_sql))
                    assert wire.rows_of(conn.simple_query(plain_sql)) == \
                        wire.rows_of(d.simple_query(plain_sql))
        # Under Tokyo time 2024-03-10 23:30 is 2024-03-10 in the session's
        # zone: the timestamptz answer is zone-dependent.
        assert wire.rows_of(tokyo.simple_query(tz_sql))[0][1] == "2024-03-10 00:00:00+09"
        assert wire.rows_of(utc.simple_query(tz_sql))[0][1] == "2024-03-10 00:00:00+00"
        # Which is cached: date_trunc has a STABLE overload (timestamptz), so
        # the name is refused whichever overload a call resolves to
        # (docs/cache.md: "only names whose every overload is IMMUTABLE").
        assert_not_cached(p, utc, tz_sql)
        assert_not_cached(p, utc, plain_sql)
        utc.close()
        tokyo.close()
    finally:
        pg.sql("drop table if exists cache_ts", db="appdb")


# --- 7. locking reads


@pytest.mark.parametrize("lock,held", [
    ("FOR UPDATE", "FOR KEY SHARE"),
    ("FOR NO KEY UPDATE", "FOR SHARE"),
    ("FOR SHARE", "FOR NO KEY UPDATE"),
    ("FOR KEY SHARE", "FOR UPDATE"),
])
def test_locking_reads_take_their_locks(cached, pg, lock, held):
    p, c = cached
    sql = f"SELECT id, v FROM cache_t WHERE id = 1 {lock} NOWAIT"
    assert_not_cached(p, c, sql)
    with direct(pg) as d:
        d.simple_query("BEGIN")
        assert rows(d, f"SELECT id FROM cache_t WHERE id = 1 {held}") == [("1",)]
        # A conflicting lock is held: the read must go to the server and fail.
        for _ in range(3):
            assert sqlstate(c.simple_query(sql)) == "55P03"
        d.simple_query("ROLLBACK")
    assert rows(c, sql) == [("1", "v1")]


# --- 8, 9. writes that look like reads


def test_data_modifying_cte_writes_and_invalidates(cached, pg):
    p, c = cached
    assert_cached(p, c, "SELECT count(*) FROM cache_t")
    sql = "WITH d AS (DELETE FROM cache_t WHERE id = 1 RETURNING id) SELECT id FROM d"
    assert rows(c, sql) == [("1",)]
    assert rows(c, sql) == []
    assert value(c, "SELECT count(*) FROM cache_t") == "9"
    upd = "WITH u AS (UPDATE cache_t SET v = v || '+' WHERE id = 2 RETURNING v) SELECT v FROM u"
    assert rows(c, upd) == [("v2+",)]
    assert rows(c, upd) == [("v2++",)]
    assert value(c, "SELECT v FROM cache_t WHERE id = 2") == "v2++"
    assert pg.sql("select count(*) from cache_t", db="appdb") == [(9,)]


def test_select_into_and_create_table_as_are_writes(cached, pg):
    p, c = cached
    try:
        assert_cached(p, c, "SELECT count(*) FROM cache_t")
        first = c.simple_query("SELECT * INTO cache_t2 FROM cache_t WHERE id <= 3")
        assert sqlstate(first) is None
        assert sqlstate(c.simple_query("SELECT * INTO cache_t2 FROM cache_t")) == "42P07"
        assert value(c, "SELECT count(*) FROM cache_t2") == "3"
        assert sqlstate(c.simple_query("CREATE TABLE cache_t3 AS SELECT * FROM cache_t")) is None
        assert sqlstate(c.simple_query("CREATE TABLE cache_t3 AS SELECT * FROM cache_t")) == \
            "42P07"
        assert value(c, "SELECT count(*) FROM cache_t3") == "10"
        assert pg.sql("select count(*) from cache_t2", db="appdb") == [(3,)]
    finally:
        pg.sql("drop table if exists cache_t2, cache_t3", db="appdb")


# --- 10. TABLESAMPLE


def test_tablesample_without_repeatable_is_not_cached(cached, pg):
    p, c = cached
    pg.sql("insert into cache_t select g, 'w' || g from generate_series(11, 2000) g", db="appdb")
    wait_serving(p, c)
    sql = "SELECT count(*) FROM cache_t TABLESAMPLE BERNOULLI (50)"
    answers = assert_not_cached(p, c, sql, times=5)
    counts = {wire.rows_of(a)[0][0] for a in answers}
    assert len(counts) > 1, counts
    repeatable = "SELECT count(*) FROM cache_t TABLESAMPLE BERNOULLI (50) REPEATABLE (7)"
    answer = assert_cached(p, c, repeatable)
    with direct(pg) as d:
        same_answer(answer, d.simple_query(repeatable))


# --- 11. side effects


def test_functions_with_side_effects_run_every_time(pooler, pg, table):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = serving_client(p)
    before = hits(p)
    assert value(c, "SELECT pg_sleep(0)") == ""
    assert value(c, "SELECT pg_sleep(0)") == ""
    with direct(pg) as d:
        # Advisory locks: taken and released on the server each time.
        assert value(c, "SELECT pg_advisory_lock(4242)") == ""
        assert value(d, "SELECT pg_try_advisory_lock(4242)") == "f"
        assert value(c, "SELECT pg_advisory_unlock(4242)") == "t"
        assert value(d, "SELECT pg_try_advisory_lock(4242)") == "t"
        assert value(d, "SELECT pg_advisory_unlock(4242)") == "t"
        assert value(c, "SELECT pg_advisory_lock(4242)") == ""
        assert value(d, "SELECT pg_try_advisory_lock(4242)") == "f"
        assert value(c, "SELECT pg_advisory_unlock(4242)") == "t"
        unlock_again = c.simple_query("SELECT pg_advisory_unlock(4242)")
        assert wire.rows_of(unlock_again) == [("f",)]
        # NOTIFY: each call reaches the listener.
        d.simple_query("LISTEN cache_chan")
        for i in range(3):
            c.simple_query(f"SELECT pg_notify('cache_chan', 'x{i}')")
        c.simple_query("SELECT pg_notify('cache_chan', 'x2')")
        got = d.simple_query("SELECT 1")
        notes = [body for tag, body in got if tag == b"A"]
        while len(notes) < 4:
            tag, body = d.read_message(timeout=5)
            if tag == b"A":
                notes.append(body)
        payloads = [n[4:].split(b"\0")[1] for n in notes]
        assert payloads == [b"x0", b"x1", b"x2", b"x2"]
    # set_config, large objects, transaction ids.
    assert value(c, "SELECT set_config('cache.x', 'one', false)") == "one"
    assert value(c, "SELECT current_setting('cache.x')") == "one"
    assert value(c, "SELECT set_config('cache.x', 'two', false)") == "two"
    assert value(c, "SELECT current_setting('cache.x')") == "two"
    oids = {value(c, "SELECT lo_create(0)") for _ in range(3)}
    assert len(oids) == 3
    for oid in oids:
        c.simple_query(f"SELECT lo_unlink({oid})")
    xids = [int(value(c, "SELECT txid_current()")) for _ in range(3)]
    assert xids[0] < xids[1] < xids[2]
    assert hits(p) == before
    c.close()


# --- 12. comments


def test_a_comment_does_not_change_eligibility_or_the_key(cached, pg):
    p, c = cached
    plain = "SELECT id, v FROM cache_t WHERE id = 3"
    first = assert_cached(p, c, plain)
    for commented in (
        "/* now() */ SELECT id, v FROM cache_t WHERE id = 3",
        "SELECT id, v /* random() */ FROM cache_t WHERE id = 3",
        "-- SELECT now()\nSELECT id, v FROM cache_t WHERE id = 3",
        "SELECT  id,\n\tv FROM cache_t WHERE id = 3 -- nextval('s')",
    ):
        answers, n = hit_delta(p, c, commented, times=1)
        assert n == 1, commented
        assert answers[0] == first
    # A constant in a comment-like string is a constant, not a comment.
    answers, n = hit_delta(p, c, "SELECT id, v FROM cache_t WHERE v = '/* now() */'", times=1)
    assert n == 0 and wire.rows_of(answers[0]) == []


# --- 13. relations that are refused


def test_catalog_and_information_schema_are_not_cached(cached, pg):
    p, c = cached
    try:
        for sql in ("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'cache_new'",
                    "SELECT count(*) FROM pg_class WHERE relname = 'cache_new'",
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_name = 'cache_new'"):
            assert_not_cached(p, c, sql)
            assert value(c, sql) == "0"
        pg.sql("create table cache_new (x int)", db="appdb")
        # Not cached: the new row is there at once, with no wait.
        assert value(c, "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'cache_new'") \
            == "1"
        assert value(c, "SELECT count(*) FROM pg_class WHERE relname = 'cache_new'") == "1"
    finally:
        pg.sql("drop table if exists cache_new", db="appdb")




@pytest.mark.parametrize("mode", [
    "replication",
    "proxy",
])
def test_a_temp_table_shadows_the_cached_table(pooler, pg, table, mode):
    ini = dict(CACHE_INI)
    if mode == "proxy":
        ini["query_cache_invalidation"] = "proxy"
    p = pooler(pool_mode="session", extra_ini=ini)
    a = serving_client(p)
    sql = "SELECT id, v FROM cache_t WHERE id = 1"
    assert_cached(p, a, sql)
    b = client(p)
    assert rows(b, sql) == [("1", "v1")]
    stream_backlog(pg)  # the stream lags: what Usher itself does is what counts
    assert sqlstate(b.simple_query("CREATE TEMP TABLE cache_t (id int, v text)")) is None
    assert sqlstate(b.simple_query("INSERT INTO cache_t VALUES (1, 'temp')")) is None
    for _ in range(5):
        assert rows(b, sql) == [("1", "temp")]
        assert rows(b, "SELECT count(*) FROM cache_t") == [("1",)]
        assert rows(a, sql) == [("1", "v1")]
    # Schema-qualified, b still reads public's table.
    assert rows(b, "SELECT id, v FROM public.cache_t WHERE id = 1") == [("1", "v1")]
    b.close()
    a.close()


def test_a_temp_table_made_directly_shadows_nothing_it_should_not(pooler, pg, table):
    """A temp table of the same name in another session (made directly)
    makes the unqualified name uncacheable for everyone, but answers stay
    those of public's table."""
    p = pooler(extra_ini=CACHE_INI)
    c = serving_client(p)
    sql = "SELECT id, v FROM cache_t WHERE id = 2"
    assert_cached(p, c, sql)
    with direct(pg) as d:
        d.simple_query("CREATE TEMP TABLE cache_t (id int, v text)")
        d.simple_query("INSERT INTO cache_t VALUES (2, 'temp')")
        assert rows(d, sql) == [("2", "temp")]
        for _ in range(3):
            assert rows(c, sql) == [("2", "v2")]


def test_unlogged_tables_are_not_cached(cached, pg):
    p, c = cached
    pg.sql("drop table if exists cache_u", db="appdb")
    pg.sql("create unlogged table cache_u (id int primary key, v text)", db="appdb")
    pg.sql("grant all on cache_u to app", db="appdb")
    pg.sql("insert into cache_u values (1, 'a')", db="appdb")
    try:
        sql = "SELECT v FROM cache_u WHERE id = 1"
        assert_not_cached(p, c, sql)
        for i in range(5):
            # Unlogged writes never reach the WAL, so never the stream:
            # only not caching keeps these fresh, with no wait.
            pg.sql(f"update cache_u set v = 'direct{i}' where id = 1", db="appdb")
            assert value(c, sql) == f"direct{i}"
        # A join with a cacheable table is refused as a whole.
        join = "SELECT t.v, u.v FROM cache_t t JOIN cache_u u USING (id)"
        assert_not_cached(p, c, join)
        pg.sql("update cache_u set v = 'last' where id = 1", db="appdb")
        assert rows(c, join) == [("v1", "last")]
    finally:
        pg.sql("drop table if exists cache_u", db="appdb")


def test_a_view_is_cached_and_fresh_after_a_direct_write(cached, pg):
    p, c = cached
    pg.sql("create view cache_v as select id, upper(v) as uv from cache_t", db="appdb")
    pg.sql("grant select on cache_v to app", db="appdb")
    wait_serving(p, c)
    sql = "SELECT uv FROM cache_v WHERE id = 4"
    assert_cached(p, c, sql)
    pg.sql("update cache_t set v = 'direct' where id = 4", db="appdb")
    wait_rows(c, sql, [("DIRECT",)])
    # Through Usher: at once.
    c.simple_query("UPDATE cache_t SET v = 'usher' WHERE id = 4")
    assert rows(c, sql) == [("USHER",)]
    # A view over a view.
    pg.sql("create view cache_vv as select uv from cache_v where id < 5", db="appdb")
    pg.sql("grant select on cache_vv to app", db="appdb")
    wait_serving(p, c)
    assert_cached(p, c, "SELECT count(*) FROM cache_vv")
    pg.sql("delete from cache_t where id = 1", db="appdb")
    wait_rows(c, "SELECT count(*) FROM cache_vv", [("3",)])


def test_materialized_view_is_not_cached(cached, pg):
    p, c = cached
    pg.sql("create materialized view cache_mv as select count(*) as n from cache_t", db="appdb")
    pg.sql("grant select on cache_mv to app", db="appdb")
    try:
        wait_serving(p, c)
        assert_not_cached(p, c, "SELECT n FROM cache_mv")
        pg.sql("insert into cache_t values (11, 'x')", db="appdb")
        assert value(c, "SELECT n FROM cache_mv") == "10"
        pg.sql("refresh materialized view cache_mv", db="appdb")
        assert value(c, "SELECT n FROM cache_mv") == "11"
    finally:
        pg.sql("drop materialized view if exists cache_mv", db="appdb")


def test_row_level_security_table_is_not_cached(pooler, pg):
    pg.sql("drop table if exists cache_rls", db="appdb")
    pg.sql("create table cache_rls (id int, owner text, v text)", db="appdb")
    pg.sql("insert into cache_rls values (1, 'app', 'mine'), (2, 'app2', 'yours')", db="appdb")
    pg.sql("grant select on cache_rls to app, app2", db="appdb")
    pg.sql("alter table cache_rls enable row level security", db="appdb")
    pg.sql("create policy cache_own on cache_rls using (owner = current_user)", db="appdb")
    try:
        p = pooler(extra_ini=CACHE_INI)
        a = client(p)
        b = client(p, user="app2")
        wait_live(p, conn=a)
        wait_serving(p, a)
        sql = "SELECT v FROM cache_rls ORDER BY id"
        assert_not_cached(p, a, sql)
        for _ in range(3):
            assert rows(a, sql) == [("mine",)]
            assert rows(b, sql) == [("yours",)]
        # The same role, another tenant through a custom setting.
        pg.sql("create policy cache_tenant on cache_rls as restrictive "
               "using (coalesce(current_setting('app.tenant', true), '') <> 'blocked')",
               db="appdb")
        wait_serving(p, a)
        a.simple_query("SET app.tenant = 'blocked'")
        assert rows(a, sql) == []
        a.close()
        b.close()
    finally:
        pg.sql("drop table if exists cache_rls", db="appdb")


# --- 15. several statements


def test_multi_statement_is_not_cached_and_invalidates(cached, pg):
    p, c = cached
    read = "SELECT v FROM cache_t WHERE id = 5"
    assert_cached(p, c, read)
    multi = c.simple_query("UPDATE cache_t SET v = 'multi' WHERE id = 5; " + read)
    assert wire.rows_of(multi) == [("multi",)]
    assert value(c, read) == "multi"
    other = client(p)
    assert value(other, read) == "multi"
    answers = assert_not_cached(p, c, "SELECT 1; SELECT 2")
    assert wire.tags_of(answers[0]) == "TDCTDCZ"
    assert wire.rows_of(answers[-1]) == [("1",), ("2",)]
    # Read first, write second: the cached read is not what was written.
    c.simple_query(read + "; UPDATE cache_t SET v = 'second' WHERE id = 5")
    assert value(other, read) == "second"
    other.close()
