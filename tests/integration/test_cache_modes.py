"""How the query cache is switched and watched: proxy invalidation and its
documented risk, the invalidation stream going down and coming back, a
server at wal_level=replica, a replication user without the privilege,
query_cache per database and per user, the console (SHOW CACHE columns,
CACHE FLUSH [db [table]]) and the per-query comments."""

import time

import psycopg
import pytest

from cache_util import (
    CACHE_INI, POLL, PROXY_INI, PROXY_STREAM_INI, SHOW_CACHE_COLUMNS, assert_cached,
    assert_not_cached, cache_rows, client, counters, direct, hit_delta, hits, rows, serving_client,
    sqlstate, state, stream_backlog, tables_fixture, value, wait_live, wait_rows, wait_serving,
    wait_until,
)
from cache_util import closes_clients  # noqa: F401 - pytest fixtures, used by name
from harness import wire
from harness.postgres import scratch_server

pytestmark = pytest.mark.usher_only


table = tables_fixture({"cache_t": "v", "cache_t2": "w"})


READ = "SELECT v FROM cache_t WHERE id = 1"


# --- query_cache_invalidation = proxy



def test_proxy_needs_nothing_from_the_server(pooler, table):
    p = pooler(extra_ini=PROXY_INI)
    c = client(p)
    wait_live(p, conn=c, timeout=10)
    assert state(p) == "proxy"
    assert_cached(p, c, READ)


def test_proxy_writes_through_usher_invalidate(pooler, pg, table):
    p = pooler(extra_ini=PROXY_STREAM_INI)
    r = client(p)
    w = client(p)
    wait_live(p, conn=r)
    assert state(p) == "proxy"
    wait_serving(p, r)
    assert_cached(p, r, READ)
    assert_cached(p, r, "SELECT count(*) FROM cache_t2")
    before = counters(p)
    w.simple_query("UPDATE cache_t SET v = 'proxy' WHERE id = 1")
    assert value(r, READ) == "proxy"
    after = counters(p)
    assert after["invalidations_proxy"] == before["invalidations_proxy"] + 1
    # Only cache_t's entries went: cache_t2's still serves.
    _, n = hit_delta(p, r, "SELECT count(*) FROM cache_t2", times=1)
    assert n == 1
    # In a transaction: at COMMIT, not before.
    assert_cached(p, r, READ)
    w.simple_query("BEGIN")
    w.simple_query("UPDATE cache_t SET v = 'tx' WHERE id = 1")
    assert value(r, READ) == "proxy"
    w.simple_query("COMMIT")
    assert value(r, READ) == "tx"
    # Something the tree cannot attribute (DDL): everything goes.
    assert_cached(p, r, "SELECT count(*) FROM cache_t2")
    w.simple_query("CREATE TEMP TABLE cache_scratch (x int)")
    _, n = hit_delta(p, r, "SELECT count(*) FROM cache_t2", times=1)
    assert n == 0


def test_proxy_sees_a_trigger_known_at_start(pooler, pg, table):
    pg.sql("create table cache_log (id int)", db="appdb")
    pg.sql("grant all on cache_log to app", db="appdb")
    pg.sql("create function cache_log_it() returns trigger language plpgsql as "
           "$$ begin insert into cache_log values (new.id); return new; end $$", db="appdb")
    pg.sql("create trigger cache_trg after insert on cache_t for each row execute function "
           "cache_log_it()", db="appdb")
    try:
        p = pooler(extra_ini=PROXY_STREAM_INI)
        r = serving_client(p)
        assert_cached(p, r, "SELECT count(*) FROM cache_log")
        r.simple_query("INSERT INTO cache_t VALUES (11, 'x')")
        assert value(r, "SELECT count(*) FROM cache_log") == "1"
    finally:
        pg.sql("drop table if exists cache_log", db="appdb")
        pg.sql("drop function if exists cache_log_it() cascade", db="appdb")


def test_proxy_does_not_see_direct_writes(pooler, pg, table):
    """The documented risk of proxy: a direct write is not seen until a
    CACHE FLUSH (or query_cache_ttl). If this starts passing or failing
    differently, docs/cache.md and docs/configuration.md must change."""
    p = pooler(extra_ini=PROXY_STREAM_INI)
    c = serving_client(p)
    assert_cached(p, c, READ)
    pg.sql("update cache_t set v = 'direct' where id = 1", db="appdb")
    # Well past any replication lag: still the old rows, from the cache.
    for _ in range(50):
        answers, n = hit_delta(p, c, READ, times=1)
        assert n == 1 and wire.rows_of(answers[0]) == [("v1",)]
        time.sleep(POLL)
    p.admin("CACHE FLUSH appdb cache_t")
    assert value(c, READ) == "direct"




def test_proxy_sees_a_trigger_created_through_usher(pooler, pg, table):
    pg.sql("alter table cache_t owner to app", db="appdb")
    pg.sql("create table cache_log (id int)", db="appdb")
    pg.sql("alter table cache_log owner to app", db="appdb")
    try:
        p = pooler(extra_ini=PROXY_STREAM_INI)
        r = serving_client(p)
        stream_backlog(pg)  # the stream lags: what Usher itself does is what counts
        for ddl in ("CREATE FUNCTION cache_log_it() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN INSERT INTO cache_log VALUES (new.id); RETURN new; END $$",
                    "CREATE TRIGGER cache_trg AFTER INSERT ON cache_t FOR EACH ROW "
                    "EXECUTE FUNCTION cache_log_it()"):
            assert sqlstate(r.simple_query(ddl)) is None
        assert_cached(p, r, "SELECT count(*) FROM cache_log")
        r.simple_query("INSERT INTO cache_t VALUES (11, 'x')")
        assert value(r, "SELECT count(*) FROM cache_log") == "1"
    finally:
        pg.sql("drop table if exists cache_log", db="appdb")
        pg.sql("drop function if exists cache_log_it() cascade", db="appdb")


# --- the invalidation stream goes down and comes back


def kill_walsenders(pg):
    return pg.sql("select pg_terminate_backend(pid) from pg_stat_activity "
                  "where backend_type = 'walsender' and datname = 'appdb'")


@pytest.mark.slow
def test_stream_lost_serves_nothing_then_comes_back_fresh(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = serving_client(p)
    assert_cached(p, c, READ)
    checked = False
    for attempt in range(5):
        gaps = counters(p)["flushes_gap"]
        assert kill_walsenders(pg), "no walsender to kill"
        wait_until(lambda: state(p) != "live", what="the cache to leave 'live'")
        down = state(p)
        assert down.startswith("down: ") or down == "starting", down
        # While down: every read goes to the server (fresh at once).
        before = counters(p)
        pg.sql(f"update cache_t set v = 'down{attempt}' where id = 1", db="appdb")
        answers = [value(c, READ) for _ in range(3)]
        after = counters(p)
        if after["flushes_gap"] != gaps or state(p) == "live":
            continue  # it came back meanwhile: try again
        assert answers == [f"down{attempt}"] * 3
        assert after["hits"] == before["hits"]
        assert after["entries"] == 0
        checked = True
        break
    assert checked, "the stream never stayed down long enough to check"
    wait_until(lambda: state(p) == "live", timeout=60, what="the stream to come back")
    assert counters(p)["flushes_gap"] > gaps
    wait_serving(p, c)
    assert_cached(p, c, READ)
    assert value(c, READ) == f"down{attempt}"
    pg.sql("update cache_t set v = 'back' where id = 1", db="appdb")
    wait_rows(c, READ, [("back",)])


@pytest.fixture(scope="module")
def pg_replica():
    """A server of our own at wal_level=replica: no logical decoding."""
    with scratch_server("uit-pgrep-", {"wal_level": "replica"}) as server:
        server.sql("create table cache_t (id int primary key, v text)", db="appdb")
        server.sql("insert into cache_t values (1, 'v1')", db="appdb")
        server.sql("grant all on cache_t to app", db="appdb")
        yield server


def assert_down_and_fresh(p, server, reason, writes):
    """A client's first read starts the stream, which says down for
    `reason`; then each direct write on `server` is read at once, twice."""
    c = client(p)
    c.simple_query(READ)
    why = wait_until(lambda: (state(p) or "").startswith("down") and state(p),
                     what="SHOW CACHE to say down")
    assert reason in why, why
    for i in range(writes):
        server.sql(f"update cache_t set v = 'down{i}' where id = 1", db="appdb")
        assert value(c, READ) == f"down{i}"
        assert value(c, READ) == f"down{i}"


def test_wal_level_replica_caches_nothing_and_says_why(pooler, pg_replica):
    target = f"host={pg_replica.host} port={pg_replica.port}"
    p = pooler(extra_ini=CACHE_INI, databases={"appdb": f"{target} dbname=appdb"})
    assert_down_and_fresh(p, pg_replica, "wal_level", writes=5)
    r = counters(p)
    assert r["hits"] == 0 and r["entries"] == 0 and r["fills"] == 0
    assert state(p).startswith("down: ")
    assert "wal_level" in p.log_text()


def test_replication_user_without_the_privilege_caches_nothing(pooler, pg, table):
    p = pooler(extra_ini={"query_cache": "on", "query_cache_replication_user": "app"})
    assert_down_and_fresh(p, pg, "replication", writes=3)
    assert counters(p)["hits"] == 0


# --- query_cache per database and per user


BENCH_READ = "SELECT bid FROM pgbench_branches ORDER BY bid"


def test_query_cache_off_for_one_database(pooler, table):
    p = pooler(extra_ini=CACHE_INI, start=False)
    dbs = p.default_databases()
    dbs["appdb"] += " query_cache=off"
    p = pooler(extra_ini=CACHE_INI, databases=dbs)
    a = client(p)
    b = client(p, db="benchdb")
    wait_live(p, db="benchdb", conn=b)
    wait_serving(p, b, db="benchdb")
    assert_cached(p, b, BENCH_READ, db="benchdb")
    for _ in range(3):
        assert rows(a, READ) == [("v1",)]
    assert counters(p)["hits"] == 0


def test_query_cache_on_for_one_database_only(pooler, table):
    p = pooler(start=False)
    dbs = p.default_databases()
    dbs["appdb"] += " query_cache=on"
    ini = dict(CACHE_INI, query_cache="off")
    p = pooler(extra_ini=ini, databases=dbs)
    a = client(p)
    b = client(p, db="benchdb")
    wait_live(p, conn=a)
    wait_serving(p, a)
    assert_cached(p, a, READ)
    for _ in range(3):
        b.simple_query(BENCH_READ)
    assert counters(p, db="benchdb")["hits"] == 0


def test_query_cache_per_user(pooler, table):
    p = pooler(extra_ini=CACHE_INI, users={"app2": "query_cache=off"})
    a = client(p)
    b = client(p, user="app2")
    wait_live(p, conn=a)
    wait_serving(p, a)
    assert_cached(p, a, READ)
    before = hits(p)
    for _ in range(3):
        assert rows(b, READ) == [("v1",)]
    assert hits(p) == before
    # The user's entry wins over the database's and the global key.
    p2 = pooler(extra_ini=dict(CACHE_INI, query_cache="off"), users={"app": "query_cache=on"})
    a2 = client(p2)
    b2 = client(p2, user="app2")
    wait_live(p2, conn=a2)
    wait_serving(p2, a2)
    assert_cached(p2, a2, READ)
    before = hits(p2)
    for _ in range(3):
        b2.simple_query(READ)
    assert hits(p2) == before


# --- the console


def test_show_cache_columns(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    res = p.admin("SHOW CACHE")
    assert res.columns == SHOW_CACHE_COLUMNS
    r = cache_rows(p)
    assert r["state"] == "live"
    assert r["applied_lsn"].count("/") == 1
    assert int(r["entries"]) >= 0 and int(r["bytes"]) >= 0


def test_cache_off_shows_no_rows(pooler, table):
    p = pooler()
    c = client(p)
    c.simple_query(READ)
    res = p.admin("SHOW CACHE")
    assert res.columns == SHOW_CACHE_COLUMNS
    assert res.rows == []
    assert p.admin("CACHE FLUSH").rows == []


def test_cache_flush_all_one_database_one_table(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    a = client(p)
    b = client(p, db="benchdb")
    wait_live(p, conn=a)
    wait_live(p, db="benchdb", conn=b)
    wait_serving(p, a)
    wait_serving(p, b, db="benchdb")
    t2 = "SELECT v FROM cache_t2 WHERE id = 1"

    def fill():
        assert_cached(p, a, READ)
        assert_cached(p, a, t2)
        assert_cached(p, b, BENCH_READ, db="benchdb")

    def served(conn, sql, db="appdb"):
        return hit_delta(p, conn, sql, times=1, db=db)[1] == 1

    fill()
    p.admin("CACHE FLUSH")
    assert counters(p)["entries"] == 0 and counters(p, "benchdb")["entries"] == 0
    assert counters(p)["flushes_console"] == 1
    assert not served(a, READ) and not served(b, BENCH_READ, "benchdb")
    fill()
    p.admin("CACHE FLUSH appdb")
    assert counters(p)["entries"] == 0 and counters(p, "benchdb")["entries"] > 0
    assert not served(a, READ) and served(b, BENCH_READ, "benchdb")
    fill()
    p.admin("CACHE FLUSH appdb cache_t")
    assert not served(a, READ)
    assert served(a, t2)
    fill()
    p.admin("CACHE FLUSH appdb public.cache_t2")
    assert served(a, READ)
    assert not served(a, t2)
    assert served(b, BENCH_READ, "benchdb")
    # A table nothing depends on, or of another schema: nothing goes.
    fill()
    p.admin("CACHE FLUSH appdb other.cache_t")
    assert served(a, READ)
    assert value(a, READ) == "v1"


@pytest.mark.parametrize("command", [
    "CACHE FLUSH nosuchdb",
    "CACHE FLUSH appdb cache_t extra",
    "CACHE",
    "CACHE CLEAR",
])
def test_cache_flush_errors(pooler, table, command):
    p = pooler(extra_ini=CACHE_INI)
    with pytest.raises(psycopg.Error):
        p.admin(command)


def test_cache_flush_needs_an_admin(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    with pytest.raises(psycopg.Error):
        p.admin("CACHE FLUSH", user="stats")
    assert p.admin("SHOW CACHE", user="stats").columns == SHOW_CACHE_COLUMNS


# --- per-query comments, and query_cache_ttl


def test_no_cache_comment(pooler, table):
    p = pooler(extra_ini=CACHE_INI)
    c = serving_client(p)
    refused = "/* usher:no-cache */ " + READ
    uncacheable = counters(p)["uncacheable"]
    assert_not_cached(p, c, refused)
    assert counters(p)["uncacheable"] >= uncacheable + 3
    # Even with the same statement cached, the comment is obeyed.
    assert_cached(p, c, READ)
    assert_not_cached(p, c, refused)
    assert_not_cached(p, c, "SELECT v FROM cache_t /* usher:no-cache */ WHERE id = 1")


def wait_expired(p, conn, sql, timeout=15):
    """Polls sql until a run is not a hit (the entry expired); bounded."""
    return wait_until(lambda: hit_delta(p, conn, sql, times=1)[1] == 0, timeout,
                      what=f"{sql!r} to expire")


def test_ttl_comment_expires(pooler, pg, table):
    p = pooler(extra_ini=CACHE_INI)
    c = serving_client(p)
    sql = "/* usher:cache ttl=1s */ SELECT v FROM cache_t WHERE id = 2"
    assert_cached(p, c, sql)
    wait_expired(p, c, sql)
    assert value(c, sql) == "v2"
    # Without the comment the entry stays (checked well past a second).
    plain = "SELECT v FROM cache_t WHERE id = 3"
    assert_cached(p, c, plain)
    time.sleep(1.5)
    assert [hit_delta(p, c, plain, times=1)[1] for _ in range(3)] == [1, 1, 1]


def test_query_cache_ttl_expires(pooler, table):
    p = pooler(extra_ini=dict(CACHE_INI, query_cache_ttl="1s"))
    c = serving_client(p)
    assert_cached(p, c, READ)
    wait_expired(p, c, READ)
    # A comment's TTL wins over the setting.
    long = "/* usher:cache ttl=1h */ SELECT v FROM cache_t WHERE id = 4"
    assert_cached(p, c, long)
    assert hit_delta(p, c, long, times=3)[1] == 3


def test_direct_connection_sees_what_usher_serves(pooler, pg, table):
    """Sanity: a hit and the server agree, byte for byte."""
    p = pooler(extra_ini=CACHE_INI)
    c = client(p)
    wait_live(p, conn=c)
    answer = assert_cached(p, c, READ)
    with direct(pg) as d:
        assert answer == d.simple_query(READ)
