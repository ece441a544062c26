"""The cache's console view per statement (docs/cache.md, "The console"):
SHOW CACHE_QUERIES counts every read under its shape (constants replaced)
as a hit, a miss or a refusal with its named reason, and why an answer was
not stored; CACHE EXPLAIN says what the cache makes of one statement
without running it. Both are bounded whatever clients send."""

import psycopg
import pytest

from cache_util import (
    CACHE_INI, assert_cached, client, rows, serving_client, value, wait_serving,
)
from cache_util import cached, closes_clients, table  # noqa: F401 - pytest fixtures, used by name
from harness import wire
from harness.pooler import STATS_USER

pytestmark = pytest.mark.usher_only

MAX_STATEMENTS = 1000  # cache::QueryStats::kMaxStatements


def queries(p, db="appdb"):
    """SHOW CACHE_QUERIES rows of `db`, by normalized text."""
    out = {}
    for r in p.admin("SHOW CACHE_QUERIES"):
        if r["database"] == db:
            out[r["query"]] = r
    return out


def shape(p, text, db="appdb"):
    r = queries(p, db).get(text)
    assert r is not None, (text, sorted(queries(p, db)))
    assert r["calls"] == r["hits"] + r["misses"] + r["refused"], r
    return r


def explain(p, db, sql, user="admin"):
    r = p.admin(f"CACHE EXPLAIN {db} {sql}", user=user).dicts()
    assert len(r) == 1, r
    return r[0]


def test_reads_differing_only_in_constants_share_a_shape(cached):
    p, c = cached
    for i in (1, 2):
        for _ in range(2):
            assert rows(c, f"select v from CACHE_T where id = {i}") == [(f"v{i}",)]
    r = shape(p, "SELECT v FROM cache_t WHERE id = $1")
    assert r["calls"] == 4 and r["refused"] == 0, r
    assert r["hits"] >= 1 and r["stored"] >= 1, r
    assert len(r["fingerprint"]) == 16
    # Served from the cache once stored: the counts follow.
    assert_cached(p, c, "SELECT v FROM cache_t WHERE id = 3")
    after = shape(p, "SELECT v FROM cache_t WHERE id = $1")
    assert after["hits"] > r["hits"] and after["hit_ratio"] > 0


def test_every_refusal_is_counted_with_its_reason(cached):
    p, c = cached
    # Decided by the statement itself.
    for _ in range(3):
        rows(c, "SELECT now() AS refused_clock")
    r = shape(p, "SELECT now ( ) AS refused_clock")
    assert (r["calls"], r["refused"], r["hits"]) == (3, 3, 0), r
    assert r["reasons"] == "function not immutable: 3", r
    # Inside a transaction.
    rows(c, "BEGIN")
    rows(c, "SELECT v AS in_tx FROM cache_t WHERE id = 1")
    rows(c, "COMMIT")
    assert shape(p, "SELECT v AS in_tx FROM cache_t WHERE id = $1")["reasons"] == \
        "in a transaction: 1"
    # Two Queries in one write: the first is looked up, the second is not.
    wait_serving(p, c)
    c.send(wire.query("SELECT 1 AS pipe_a") + wire.query("SELECT 1 AS pipe_b"))
    c.read_until({b"Z"})
    c.read_until({b"Z"})
    a = shape(p, "SELECT $1 AS pipe_a")
    b = shape(p, "SELECT $1 AS pipe_b")
    assert (a["misses"], a["refused"]) == (1, 0), a
    assert b["reasons"] == "not alone in its batch: 1", b
    # An Execute with a row limit (a cursor's fetch size).
    c.send(wire.parse("", "SELECT v AS limited FROM cache_t WHERE id = $1")
           + wire.bind("", ["1"]) + wire.execute("", 1) + wire.sync())
    assert wire.tags_of(c.read_until({b"Z"})) == "12DsZ"
    assert shape(p, "SELECT v AS limited FROM cache_t WHERE id = $1")["reasons"] == \
        "Execute with a row limit: 1"
    # After SET ROLE the client's settings are not known for sure.
    rows(c, "SET ROLE app")
    rows(c, "SELECT 1 AS after_role")
    assert shape(p, "SELECT $1 AS after_role")["reasons"] == "session settings unknown: 1"


def test_why_an_answer_was_not_stored(pooler, table):
    p = pooler(extra_ini=dict(CACHE_INI, query_cache_max_entry="64kB"))
    c = serving_client(p)
    for _ in range(2):
        assert len(value(c, "SELECT repeat('x', 100000) AS big")) == 100000
    r = shape(p, "SELECT repeat ( $1 , $2 ) AS big")
    assert (r["misses"], r["stored"], r["hits"]) == (2, 0, 0), r
    assert r["reasons"] == "answer over query_cache_max_entry: 2", r


def test_shapes_are_bounded_whatever_a_client_sends(cached):
    p, c = cached
    # More shapes than the table holds, each a new text to the parser.
    for i in range(MAX_STATEMENTS + 100):
        rows(c, f"SELECT {i} AS shape_{i}")
    listed = queries(p)
    assert len(listed) <= MAX_STATEMENTS
    # The cache still serves, and a shape made now is listed.
    assert_cached(p, c, "SELECT v FROM cache_t WHERE id = 5")
    assert "SELECT v FROM cache_t WHERE id = $1" in queries(p)
    # A text far longer than what is shown is cut (whole characters).
    long_alias = "é" * 4000
    rows(c, f'SELECT 1 AS "{long_alias}"')
    longest = max(len(q.encode()) for q in queries(p))
    assert longest <= 1024


def test_explain_says_what_the_cache_makes_of_a_statement(cached):
    p, c = cached
    sql = "SELECT v FROM cache_t WHERE id = 7"
    r = explain(p, "appdb", sql)
    assert (r["cacheable"], r["reason"], r["kind"]) == ("yes", "", "read"), r
    assert r["tables"] == "public.cache_t" and r["ttl"] == "until invalidated", r
    assert r["database_state"] == "live", r
    assert r["query"] == "SELECT v FROM cache_t WHERE id = $1" and r["calls"] == 0, r
    # Explaining counts nothing; the shape's counts are those of SHOW CACHE_QUERIES.
    rows(c, sql)
    rows(c, sql)
    again = explain(p, "appdb", sql)
    listed = shape(p, "SELECT v FROM cache_t WHERE id = $1")
    assert again["fingerprint"] == listed["fingerprint"], (again, listed)
    assert again["calls"] == listed["calls"] == 2, (again, listed)
    assert explain(p, "appdb", "/* usher:cache ttl=30s */ " + sql)["ttl"] == "30000ms"

    r = explain(p, "appdb", "SELECT now()")
    assert (r["cacheable"], r["reason"]) == ("no", "function not immutable"), r
    r = explain(p, "appdb", "SELECT * FROM pg_class")
    assert (r["cacheable"], r["reason"]) == ("no", "catalog relation"), r
    r = explain(p, "appdb", "SELECT 1; SELECT 2")
    assert r["reason"] == "multiple statements", r
    r = explain(p, "appdb", "SELEC 1")
    assert (r["cacheable"], r["reason"]) == ("no", "parse error"), r
    # A write is explained, never run; so is a statement with a quote in it.
    r = explain(p, "appdb", "UPDATE cache_t SET v = 'explained' WHERE id = 1;")
    assert (r["cacheable"], r["kind"], r["reason"]) == ("no", "write", "not a read"), r
    assert value(c, "SELECT v FROM cache_t WHERE id = 1") == "v1"
    # A stats user may ask, as for SHOW.
    assert explain(p, "appdb", sql, user=STATS_USER)["cacheable"] == "yes"


def test_explain_bad_requests_are_errors_and_harm_no_one(cached):
    p, c = cached
    for bad, message in [
        ("CACHE EXPLAIN appdb", "invalid command"),
        ("CACHE EXPLAIN", "invalid command"),
        ("CACHE EXPLAIN nosuchdb SELECT 1", "no such database"),
        ("CACHE EXPLAIN pgbouncer SELECT 1", "no such database"),
    ]:
        with pytest.raises(psycopg.Error) as exc:
            p.admin(bad)
        assert message in str(exc.value), (bad, exc.value)
        assert exc.value.sqlstate == "08P01", (bad, exc.value.sqlstate)
    # A statement too long to parse, and one too deep: refused, not run,
    # and the console and the clients go on.
    r = explain(p, "appdb", "SELECT " + "+".join(["1"] * 20000))
    assert (r["cacheable"], r["reason"]) == ("no", "parse error"), r
    r = explain(p, "appdb", "SELECT " + "+".join(["1"] * 5000))
    assert (r["cacheable"], r["reason"]) == ("no", "parse error"), r
    assert_cached(p, c, "SELECT v FROM cache_t WHERE id = 2")
    other = client(p)
    assert value(other, "SELECT v FROM cache_t WHERE id = 2") == "v2"


def test_explain_where_the_cache_is_off_says_so(pooler, table):
    p = pooler()
    with pytest.raises(psycopg.Error) as exc:
        p.admin("CACHE EXPLAIN appdb SELECT 1")
    assert "no cache for database appdb" in str(exc.value)
    assert p.admin("SHOW CACHE_QUERIES").dicts() == []
