"""The cache key (cache-study section 4, cases 16-21, 34, 35): the role,
search_path, every output setting, aliases, column order and constants
make different entries, and a client whose role or search_path Usher can no
longer know is not served. Answers are compared with the server's own,
message for message, under the same settings."""

import pytest

from cache_util import (
    CACHE_INI, assert_cached, client, direct, hit_delta, rows, same_answer, serving_client,
    sql_all, sqlstate, value, wait_live, wait_rows, wait_serving, wait_sqlstate,
)
from cache_util import closes_clients, table  # noqa: F401 - pytest fixtures, used by name
from harness import wire

pytestmark = pytest.mark.usher_only


@pytest.fixture
def secret(pg, table):
    """cache_secret: app may read it, app2 and cache_reader (a role app may
    SET ROLE to) may not; app2 may read its id column only."""
    sql_all(pg, [
        "drop table if exists cache_secret",
        "drop role if exists cache_reader",
        "create role cache_reader nologin",
        "grant cache_reader to app",
        "grant select, update on cache_t to cache_reader",
        "create table cache_secret (id int primary key, secret text)",
        "insert into cache_secret values (1, 's1'), (2, 's2')",
        "grant select on cache_secret to app",
        "grant select (id) on cache_secret to app2",
    ])
    yield "cache_secret"
    sql_all(pg, [
        "drop table if exists cache_secret",
        "drop owned by cache_reader",
        "drop role if exists cache_reader",
    ])


# --- 16. roles and grants


def test_another_role_never_gets_cached_rows_it_may_not_read(pooler, secret):
    p = pooler(extra_ini=CACHE_INI)
    a = client(p)
    b = client(p, user="app2")
    wait_live(p, conn=a)
    wait_serving(p, a)
    full = "SELECT id, secret FROM cache_secret ORDER BY id"
    assert_cached(p, a, full)
    for _ in range(3):
        got = b.simple_query(full)
        assert sqlstate(got) == "42501", wire.errors_of(got)
        assert wire.rows_of(got) == []
    # Column privileges: the id column only.
    ids = "SELECT id FROM cache_secret ORDER BY id"
    assert_cached(p, a, ids)
    assert rows(b, ids) == [("1",), ("2",)]
    assert sqlstate(b.simple_query("SELECT * FROM cache_secret")) == "42501"
    assert_cached(p, a, "SELECT * FROM cache_secret")
    assert sqlstate(b.simple_query("SELECT * FROM cache_secret")) == "42501"
    # And app2's own entries are its own: app sees every column.
    assert_cached(p, b, ids)
    assert rows(a, "SELECT * FROM cache_secret ORDER BY id") == [("1", "s1"), ("2", "s2")]
    a.close()
    b.close()


# --- 34. REVOKE


def test_revoke_made_directly_reaches_the_next_reads(pooler, pg, secret):
    p = pooler(extra_ini=CACHE_INI)
    a = serving_client(p)
    sql = "SELECT secret FROM cache_secret WHERE id = 1"
    assert_cached(p, a, sql)
    pg.sql("revoke select on cache_secret from app", db="appdb")
    wait_sqlstate(a, sql, "42501")
    for _ in range(3):
        assert sqlstate(a.simple_query(sql)) == "42501"
    pg.sql("grant select on cache_secret to app", db="appdb")
    wait_rows(a, sql, [("s1",)])
    a.close()


def test_revoke_through_usher_reaches_the_next_read_at_once(pooler, pg, table):
    sql_all(pg, ["drop table if exists cache_own",
                 "create table cache_own (id int, v text)",
                 "alter table cache_own owner to app",
                 "insert into cache_own values (1, 'own')"])
    try:
        p = pooler(extra_ini=CACHE_INI)
        owner = client(p)
        b = client(p, user="app2")
        wait_live(p, conn=owner)
        assert sqlstate(owner.simple_query("GRANT SELECT ON cache_own TO app2")) is None
        wait_serving(p, b)
        sql = "SELECT v FROM cache_own"
        assert_cached(p, b, sql)
        assert sqlstate(owner.simple_query("REVOKE SELECT ON cache_own FROM app2")) is None
        assert sqlstate(b.simple_query(sql)) == "42501"
        assert sqlstate(owner.simple_query("GRANT SELECT ON cache_own TO app2")) is None
        assert rows(b, sql) == [("own",)]
        owner.close()
        b.close()
    finally:
        pg.sql("drop table if exists cache_own", db="appdb")


# --- 35. SET ROLE, RESET ROLE, a rejected SET ROLE, SET SESSION AUTHORIZATION


def test_set_role_and_reset_role_follow_the_effective_role(pooler, secret):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = serving_client(p)
    sql = "SELECT secret FROM cache_secret WHERE id = 2"
    assert_cached(p, c, sql)
    assert sqlstate(c.simple_query("SET ROLE cache_reader")) is None
    for _ in range(3):
        assert sqlstate(c.simple_query(sql)) == "42501"
        assert value(c, "SELECT current_user") == "cache_reader"
    assert sqlstate(c.simple_query("RESET ROLE")) is None
    for _ in range(3):
        assert rows(c, sql) == [("s2",)]
    # A rejected SET ROLE leaves the role as it was.
    rejected = c.simple_query("SET ROLE app2")
    assert sqlstate(rejected) == "42501"
    assert rows(c, sql) == [("s2",)]
    # Through set_config, as a read.
    assert value(c, "SELECT set_config('role', 'cache_reader', false)") == "cache_reader"
    assert sqlstate(c.simple_query(sql)) == "42501"
    c.simple_query("RESET ROLE")
    # Another client of the same user still hits.
    other = client(p)
    assert_cached(p, other, sql)
    c.close()
    other.close()


def test_set_role_in_a_transaction(pooler, secret):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    sql = "SELECT secret FROM cache_secret WHERE id = 1"
    assert_cached(p, c, sql)
    c.simple_query("BEGIN")
    c.simple_query("SET LOCAL ROLE cache_reader")
    assert sqlstate(c.simple_query(sql)) == "42501"
    c.simple_query("ROLLBACK")
    assert rows(c, sql) == [("s1",)]
    c.simple_query("BEGIN")
    c.simple_query("SET ROLE cache_reader")
    c.simple_query("COMMIT")
    assert sqlstate(c.simple_query(sql)) == "42501"
    c.close()



def assert_reader_refused_what_another_filled(p, c, other, sql):
    """c now runs as cache_reader: another client of the same user (really
    app) fills the entry for sql, and c is still refused (42501), never
    served the cached rows."""
    assert value(c, "SELECT current_user") == "cache_reader"
    assert_cached(p, other, sql)
    for _ in range(3):
        got = c.simple_query(sql)
        assert sqlstate(got) == "42501", wire.rows_of(got)
    c.close()
    other.close()


@pytest.mark.parametrize("multi", [
    "UPDATE cache_t SET v = v WHERE id = 1; SET ROLE cache_reader",
    "SET ROLE cache_reader; UPDATE cache_t SET v = v WHERE id = 1",
])
def test_set_role_hidden_behind_a_write(pooler, secret, multi):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p)
    other = client(p)
    wait_live(p, conn=c)
    sql = "SELECT secret FROM cache_secret WHERE id = 1"
    assert sqlstate(c.simple_query(multi)) is None
    assert_reader_refused_what_another_filled(p, c, other, sql)


def test_set_role_with_a_read_in_one_query(pooler, secret):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    sql = "SELECT secret FROM cache_secret WHERE id = 1"
    assert_cached(p, c, sql)
    assert sqlstate(c.simple_query("SELECT 1; SET ROLE cache_reader")) is None
    for _ in range(3):
        assert sqlstate(c.simple_query(sql)) == "42501"
    c.close()


def test_set_session_authorization(pooler, secret):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p, user="postgres")
    wait_live(p, conn=c)
    sql = "SELECT secret FROM cache_secret WHERE id = 1"
    assert_cached(p, c, sql)
    assert sqlstate(c.simple_query("SET SESSION AUTHORIZATION app2")) is None
    for _ in range(3):
        assert sqlstate(c.simple_query(sql)) == "42501"
    c.simple_query("RESET SESSION AUTHORIZATION")
    assert rows(c, sql) == [("s1",)]
    c.close()


# --- 17. search_path


@pytest.fixture
def tenants(pg):
    sql_all(pg, [
        "drop schema if exists cache_ta, cache_tb, cache_tc cascade",
        "drop table if exists public.cache_orders",
        "create schema cache_ta", "create schema cache_tb", "create schema cache_tc",
        "grant usage, create on schema cache_ta, cache_tb, cache_tc to app",
        "create table cache_ta.cache_orders (id int, item text)",
        "create table cache_tb.cache_orders (id int, item text)",
        "create table public.cache_orders (id int, item text)",
        "insert into cache_ta.cache_orders values (1, 'a-book')",
        "insert into cache_tb.cache_orders values (1, 'b-lamp')",
        "insert into public.cache_orders values (1, 'public-pen')",
        "grant all on cache_ta.cache_orders, cache_tb.cache_orders, public.cache_orders to app",
    ])
    yield
    sql_all(pg, ["drop schema if exists cache_ta, cache_tb, cache_tc cascade",
                 "drop table if exists public.cache_orders"])


def path(schemas):
    return {"options": f"-c search_path={schemas}"}


def test_search_path_set_at_login_gives_each_tenant_its_rows(pooler, pg, tenants):
    p = pooler(extra_ini=CACHE_INI)
    a = client(p, params=path("cache_ta"))
    b = client(p, params=path("cache_tb"))
    pub = client(p)
    wait_live(p, conn=a)
    wait_serving(p, a)
    sql = "SELECT item FROM cache_orders ORDER BY id"
    assert_cached(p, a, sql)
    assert_cached(p, b, sql)
    assert_cached(p, pub, sql)
    for _ in range(3):
        assert rows(a, sql) == [("a-book",)]
        assert rows(b, sql) == [("b-lamp",)]
        assert rows(pub, sql) == [("public-pen",)]
    with direct(pg, params=path("cache_ta")) as d:
        same_answer(a.simple_query(sql), d.simple_query(sql))
    # A write to one tenant's table through Usher: that tenant's read is
    # fresh at once, the other's is untouched.
    a.simple_query("INSERT INTO cache_orders VALUES (2, 'a-pen')")
    assert rows(a, sql) == [("a-book",), ("a-pen",)]
    assert rows(b, sql) == [("b-lamp",)]
    for c in (a, b, pub):
        c.close()




def test_set_search_path_hidden_behind_a_write(pooler, tenants):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    a = client(p, params=path("cache_ta"))
    other = client(p, params=path("cache_ta"))
    wait_live(p, conn=a)
    sql = "SELECT item FROM cache_orders ORDER BY id"
    assert sqlstate(a.simple_query(
        "UPDATE cache_ta.cache_orders SET id = id WHERE false; SET search_path = cache_tb")) is None
    assert value(a, "SHOW search_path") == "cache_tb"
    # Another client logged in with a's old path fills its entry.
    assert_cached(p, other, sql)
    for _ in range(3):
        assert rows(a, sql) == [("b-lamp",)]
        assert rows(other, sql) == [("a-book",)]
    a.close()
    other.close()


@pytest.mark.parametrize("through", ["usher", "direct"])
def test_a_new_table_earlier_in_the_path_takes_over(pooler, pg, tenants, through):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p, params=path("cache_tc,public"))
    wait_live(p, conn=c)
    wait_serving(p, c)
    sql = "SELECT item FROM cache_orders ORDER BY id"
    assert_cached(p, c, sql)
    assert rows(c, sql) == [("public-pen",)]
    create = ("CREATE TABLE cache_tc.cache_orders AS SELECT 1 AS id, 'c-cup'::text AS item")
    if through == "usher":
        w = client(p)
        assert sqlstate(w.simple_query(create)) is None
        assert rows(c, sql) == [("c-cup",)]
    else:
        pg.sql(create, db="appdb")
        pg.sql("alter table cache_tc.cache_orders owner to app", db="appdb")
        wait_rows(c, sql, [("c-cup",)])
        w = client(p)
    # The entry now depends on the new table: a write to it is seen.
    wait_serving(p, c)
    assert_cached(p, c, sql)
    assert sqlstate(w.simple_query("INSERT INTO cache_tc.cache_orders VALUES (2, 'c-mug')")) \
        is None
    assert rows(c, sql) == [("c-cup",), ("c-mug",)]
    pg.sql("insert into cache_tc.cache_orders values (3, 'c-jar')", db="appdb")
    wait_rows(c, sql, [("c-cup",), ("c-mug",), ("c-jar",)])
    w.close()
    c.close()


# --- 18. output settings


@pytest.fixture
def typed(pg):
    sql_all(pg, [
        "drop table if exists cache_typed",
        "create table cache_typed (id int primary key, ts timestamptz, d date, i interval, "
        "f float8, b bytea, m text)",
        "insert into cache_typed values (1, '2024-06-01 12:34:56.789+00', '2024-06-01', "
        "'1 day 02:03:04', 0.1::float8 + 0.2::float8, '\\x00ff41', 'caf\u00e9')",
        "grant select on cache_typed to app",
    ])
    yield "cache_typed"
    pg.sql("drop table if exists cache_typed", db="appdb")


SETTINGS_CASES = [
    ("TimeZone", {"TimeZone": "UTC"}, {"TimeZone": "Asia/Kolkata"}, "SELECT ts FROM cache_typed"),
    ("DateStyle", {"DateStyle": "ISO, MDY"}, {"DateStyle": "SQL, DMY"},
     "SELECT ts, d FROM cache_typed"),
    ("IntervalStyle", {"IntervalStyle": "postgres"}, {"IntervalStyle": "iso_8601"},
     "SELECT i FROM cache_typed"),
    ("client_encoding", {"client_encoding": "UTF8"}, {"client_encoding": "LATIN1"},
     "SELECT m FROM cache_typed"),
    ("extra_float_digits", {}, {"options": "-c extra_float_digits=0"},
     "SELECT f FROM cache_typed"),
    ("bytea_output", {}, {"options": "-c bytea_output=escape"}, "SELECT b FROM cache_typed"),
]


@pytest.mark.parametrize("name,one,two,sql", SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES])
def test_output_settings_are_in_the_key(pooler, pg, typed, name, one, two, sql):
    ini = dict(CACHE_INI)
    ini["track_extra_parameters"] = "IntervalStyle, extra_float_digits, bytea_output"
    p = pooler(extra_ini=ini)
    c1 = client(p, params=one)
    c2 = client(p, params=two)
    wait_live(p, conn=c1)
    wait_serving(p, c1)
    assert_cached(p, c1, sql)
    assert_cached(p, c2, sql)
    with direct(pg, params=one) as d1, direct(pg, params=two) as d2:
        server1 = d1.simple_query(sql)
        server2 = d2.simple_query(sql)
        assert server1 != server2
        for _ in range(2):
            same_answer(c1.simple_query(sql), server1)
            same_answer(c2.simple_query(sql), server2)
    if name == "client_encoding":
        raw = [body for tag, body in c2.simple_query(sql) if tag == b"D"]
        assert b"caf\xe9" in raw[0]
    c1.close()
    c2.close()


def test_set_timezone_mid_session_changes_the_key(pooler, pg, typed):
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p, params={"TimeZone": "UTC"})
    other = client(p, params={"TimeZone": "UTC"})
    wait_live(p, conn=c)
    wait_serving(p, c)
    sql = "SELECT ts FROM cache_typed"
    assert_cached(p, c, sql)
    assert rows(c, sql) == [("2024-06-01 12:34:56.789+00",)]
    c.simple_query("SET TimeZone = 'Asia/Tokyo'")
    for _ in range(2):
        assert rows(c, sql) == [("2024-06-01 21:34:56.789+09",)]
        assert rows(other, sql) == [("2024-06-01 12:34:56.789+00",)]
    c.simple_query("SET DateStyle = 'German'")
    assert rows(c, sql) == [("01.06.2024 21:34:56.789 JST",)]
    c.simple_query("RESET ALL")
    assert rows(c, sql) == [("2024-06-01 12:34:56.789+00",)]
    # A setting the server does not report: the session is not served
    # again, and its answers are the server's.
    c2 = client(p)
    c2.simple_query("SET extra_float_digits = 0")
    assert rows(c2, "SELECT f FROM cache_typed") == [("0.3",)]
    assert rows(other, "SELECT f FROM cache_typed") == [("0.30000000000000004",)]
    for conn in (c, c2, other):
        conn.close()


def test_standard_conforming_strings_off_at_login(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    on = client(p)
    off = client(p, params={"options": "-c standard_conforming_strings=off"})
    wait_live(p, conn=on)
    wait_serving(p, on)
    sql = "SELECT length('a\\nb'), 'a\\\\b'"
    with direct(pg) as d_on, \
            direct(pg, params={"options": "-c standard_conforming_strings=off"}) as d_off:
        expect_on = d_on.simple_query(sql)
        expect_off = d_off.simple_query(sql)
        assert wire.rows_of(expect_on) != wire.rows_of(expect_off)
        for _ in range(3):
            same_answer(on.simple_query(sql), expect_on)
            same_answer(off.simple_query(sql), expect_off)
    on.close()
    off.close()


# --- 19-21. constants, types, aliases and column order (simple protocol)


KEY_VARIANTS = [
    "SELECT id, v FROM cache_t WHERE id = 1",
    "SELECT id, v FROM cache_t WHERE id = 2",
    "SELECT id, v FROM cache_t WHERE id = 01",
    "SELECT v, id FROM cache_t WHERE id = 1",
    "SELECT id AS x, v FROM cache_t WHERE id = 1",
    "SELECT id AS y, v FROM cache_t WHERE id = 1",
    "SELECT id AS \"Y\", v FROM cache_t WHERE id = 1",
    "SELECT id, v AS \"v \" FROM cache_t WHERE id = 1",
    "SELECT id, v FROM cache_t WHERE v = 'v1'",
    "SELECT id, v FROM cache_t WHERE v = 'V1'",
    "SELECT id, v FROM cache_t WHERE v = 'v1 '",
    "SELECT id::text, v FROM cache_t WHERE id = 1",
    "SELECT id::int8, v FROM cache_t WHERE id = 1",
    "SELECT id::numeric(10, 2), v FROM cache_t WHERE id = 1",
    "SELECT id::numeric(10, 3), v FROM cache_t WHERE id = 1",
    "SELECT 1.0 AS n",
    "SELECT 1 AS n",
    "SELECT '1' AS n",
    "SELECT E'a\\tb' AS n",
    "SELECT 'a\tb' AS n",
    "SELECT $$a b$$ AS n",
    "SELECT $$a  b$$ AS n",
    "SELECT count(*) FROM cache_t",
    "SELECT count(*) FROM cache_t WHERE id > 5",
    "SELECT id FROM cache_t ORDER BY id LIMIT 3",
    "SELECT id FROM cache_t ORDER BY id DESC LIMIT 3",
    "SELECT id FROM cache_t ORDER BY id LIMIT 3 OFFSET 1",
    "TABLE cache_t",
    "VALUES (1, 'a'), (2, 'b')",
    "VALUES (1, 'a')",
    "SELECT 1 UNION SELECT 2 ORDER BY 1",
    "SELECT 1 UNION ALL SELECT 1",
    "SELECT 1 UNION SELECT 1",
]


def test_every_constant_alias_and_column_order_is_its_own_entry(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = serving_client(p)
    with direct(pg) as d:
        expected = {sql: d.simple_query(sql) for sql in KEY_VARIANTS}
    for sql in KEY_VARIANTS:
        assert_cached(p, c, sql)
    # Every variant is cached now; each hit is its own server answer.
    for _ in range(2):
        for sql in KEY_VARIANTS:
            answers, n = hit_delta(p, c, sql, times=1)
            assert n == 1, sql
            same_answer(answers[0], expected[sql])
    c.close()


@pytest.mark.parametrize("hidden", [
    # de43e5f: a plain SELECT after a write in a transaction is not parsed.
    ["BEGIN", "UPDATE cache_t SET v = v WHERE id = 1",
     "SELECT 'a\\' , ' ; SET ROLE cache_reader ; SELECT 1 --'", "COMMIT"],
    # Before it: a write is taken on its first word (replication mode).
    ["UPDATE cache_t SET v = 'a\\' , ' ; SET ROLE cache_reader ; SELECT 1 --' WHERE id = 1"],
])
def test_set_role_hidden_when_strings_are_not_standard(pooler, secret, hidden):
    """With standard_conforming_strings off, 'a\\' , ' is one string to the
    server, so each text above hides a SET ROLE between two statements,
    though a lexer reading backslashes literally sees one statement."""
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p)
    other = client(p)
    wait_live(p, conn=c)
    sql = "SELECT secret FROM cache_secret WHERE id = 1"
    assert sqlstate(c.simple_query("SET standard_conforming_strings = off")) is None
    for q in hidden:
        got = c.simple_query(q)
        assert sqlstate(got) is None, (q, wire.errors_of(got))
    # Back to the other client's settings: the same key.
    assert sqlstate(c.simple_query("SET standard_conforming_strings = on")) is None
    assert_reader_refused_what_another_filled(p, c, other, sql)


@pytest.mark.parametrize("encoding", ["SJIS", "BIG5", "GBK"])
def test_no_hits_in_an_encoding_whose_characters_may_end_in_a_backslash(pooler, table, encoding):
    """In these encodings a character's second byte may be 0x5C: Usher reads
    the bytes, the server reads them converted, and where a string ends
    could differ (a SET ROLE hidden in one). Such a client is served by the
    server only; back in UTF8 it is served from the cache again."""
    p = pooler(pool_mode="session", extra_ini=CACHE_INI)
    c = client(p)
    other = client(p)
    wait_live(p, conn=c)
    sql = "SELECT v FROM cache_t WHERE id = 1"
    assert sqlstate(c.simple_query(f"SET client_encoding = '{encoding}'")) is None
    wait_serving(p, other)
    answers, served = hit_delta(p, c, sql, times=3)
    assert served == 0
    assert all(sqlstate(a) is None for a in answers)
    wait_serving(p, other)
    assert sqlstate(c.simple_query("SET client_encoding = 'UTF8'")) is None
    assert_cached(p, c, sql)
    c.close()
    other.close()
