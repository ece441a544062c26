"""Soak of the query cache (issue 14's "0 stale reads"): clients through
Usher read random rows while writers bump row versions through Usher and
directly, for a bounded time; every read is checked against the history of
acknowledged versions.

- A write through Usher acknowledged before a read started: the read sees
  its version or a later one (the freshness promise for writes through
  Usher).
- A direct write acknowledged more than DIRECT_BOUND before a read started:
  the same (writes not through Usher are seen within the replication lag;
  the bound is generous and only says which reads to check).
- No read sees a version no writer had produced by the time it ended.
"""

import bisect
import random
import threading
import time

import pytest

from cache_util import (
    CACHE_INI, client, counters, direct, serving_client, sqlstate,
)
from cache_util import closes_clients  # noqa: F401 - pytest fixtures, used by name
from harness import wire

pytestmark = [pytest.mark.usher_only, pytest.mark.slow]

ROWS = 50
USHER_READERS = 6
USHER_WRITERS = 2
DIRECT_WRITERS = 2
DURATION = 12.0  # seconds of load
MAX_OPERATIONS = 1_000_000  # a second bound, whatever the speed
DIRECT_BOUND = 2.0  # seconds: a direct write older than this must be seen
# Pauses between a writer's writes. After each write through Usher no hit is
# served for the database until the stream has passed the write's commit,
# which here (synchronous_commit = off, so the WAL reaches the stream at the
# WAL writer's pace) takes up to a few hundred milliseconds: writers through
# Usher go slowly enough for the cache to serve between their writes.
PAUSE = {"usher": 0.3, "direct": 0.01}


@pytest.fixture
def soak_table(pg):
    pg.sql("drop table if exists cache_soak", db="appdb")
    pg.sql("create table cache_soak (id int primary key, version int not null)", db="appdb")
    pg.sql(f"insert into cache_soak select g, 0 from generate_series(1, {ROWS}) g", db="appdb")
    pg.sql("grant all on cache_soak to app", db="appdb")
    yield "cache_soak"
    pg.sql("drop table if exists cache_soak", db="appdb")


class History:
    """Acknowledged versions per row and source, and the reads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writes = {"usher": {}, "direct": {}}  # source -> id -> [(ack, version)]
        self.started = {}  # id -> [(start, version)] of writes, for the upper bound
        self.reads = []  # (id, start, end, version)
        self.errors = []
        self.operations = 0

    def count(self):
        with self.lock:
            self.operations += 1
            return self.operations


def writer(conn, source, hist, stop, seed):
    rnd = random.Random(seed)
    while not stop.is_set() and hist.count() < MAX_OPERATIONS:
        k = rnd.randint(1, ROWS)
        start = time.monotonic()
        msgs = conn.simple_query(
            f"UPDATE cache_soak SET version = version + 1 WHERE id = {k} RETURNING version")
        ack = time.monotonic()
        if sqlstate(msgs) is not None:
            hist.errors.append((source, wire.errors_of(msgs)))
            return
        version = int(wire.rows_of(msgs)[0][0])
        with hist.lock:
            hist.writes[source].setdefault(k, []).append((ack, version))
            hist.started.setdefault(k, []).append((start, version))
        time.sleep(PAUSE[source])


def reader(conn, hist, stop, seed):
    rnd = random.Random(seed)
    while not stop.is_set() and hist.count() < MAX_OPERATIONS:
        k = rnd.randint(1, ROWS)
        start = time.monotonic()
        msgs = conn.simple_query(f"SELECT version FROM cache_soak WHERE id = {k}")
        end = time.monotonic()
        if sqlstate(msgs) is not None:
            hist.errors.append(("reader", wire.errors_of(msgs)))
            return
        version = int(wire.rows_of(msgs)[0][0])
        with hist.lock:
            hist.reads.append((k, start, end, version))


def floor_version(entries, before):
    """The highest version among entries acknowledged before `before`."""
    acks = [a for a, _ in entries]
    i = bisect.bisect_left(acks, before)
    return max((v for _, v in entries[:i]), default=0)


def check(hist):
    """(stale reads through Usher writes, stale past the direct bound,
    reads from the future, reads checked)."""
    for per_id in hist.writes.values():
        for entries in per_id.values():
            entries.sort()
    for entries in hist.started.values():
        entries.sort()
    stale_usher, stale_direct, future = [], [], []
    for k, start, end, version in hist.reads:
        must = floor_version(hist.writes["usher"].get(k, []), start)
        if version < must:
            stale_usher.append((k, start, version, must))
        must = floor_version(hist.writes["direct"].get(k, []), start - DIRECT_BOUND)
        if version < must:
            stale_direct.append((k, start, version, must))
        # Versions of writes begun before the read ended bound it above.
        begun = hist.started.get(k, [])
        limit = max((v for s, v in begun if s < end), default=0)
        if version > limit:
            future.append((k, start, version, limit))
    return stale_usher, stale_direct, future


def test_soak_no_stale_reads(pooler, pg, soak_table, capsys):
    p = pooler(extra_ini=CACHE_INI, default_pool_size=10)
    first = serving_client(p)
    hist = History()
    stop = threading.Event()
    usher_clients = [client(p) for _ in range(USHER_READERS + USHER_WRITERS)]
    direct_clients = [direct(pg) for _ in range(DIRECT_WRITERS)]
    try:
        before = counters(p)
        threads = []
        for i, c in enumerate(usher_clients):
            if i < USHER_READERS:
                threads.append(threading.Thread(target=reader, args=(c, hist, stop, i)))
            else:
                threads.append(threading.Thread(target=writer,
                                                args=(c, "usher", hist, stop, 100 + i)))
        for i, c in enumerate(direct_clients):
            threads.append(threading.Thread(target=writer,
                                            args=(c, "direct", hist, stop, 200 + i)))
        for t in threads:
            t.start()
        stop.wait(DURATION)
        stop.set()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), "a soak thread did not finish"
        after = counters(p)
    finally:
        for c in direct_clients:
            c.close()
    assert hist.errors == []
    stale_usher, stale_direct, future = check(hist)
    usher_writes = sum(len(v) for v in hist.writes["usher"].values())
    direct_writes = sum(len(v) for v in hist.writes["direct"].values())
    hits = after["hits"] - before["hits"]
    summary = (f"soak: {len(hist.reads)} reads, {usher_writes} writes through Usher, "
               f"{direct_writes} direct writes, {hits} hits, "
               f"{after['misses'] - before['misses']} misses, "
               f"{after['refused_stale_fills'] - before['refused_stale_fills']} refused stale "
               f"fills; stale reads: {len(stale_usher)} after Usher writes, "
               f"{len(stale_direct)} past the {DIRECT_BOUND}s direct bound; "
               f"{len(future)} from the future")
    with capsys.disabled():
        print("\n" + summary)
    assert stale_usher == [], (summary, stale_usher[:10])
    assert stale_direct == [], (summary, stale_direct[:10])
    assert future == [], (summary, future[:10])
    # The load exercised the cache and the writers.
    assert len(hist.reads) > 1000 and usher_writes > 50 and direct_writes > 50, summary
    assert hits > 0, summary
    # Every row's final version is the count of its writes, as the server has it.
    final = dict(pg.sql("select id, version from cache_soak", db="appdb"))
    for k in range(1, ROWS + 1):
        n = len(hist.writes["usher"].get(k, [])) + len(hist.writes["direct"].get(k, []))
        assert final[k] == n, (k, final[k], n)
