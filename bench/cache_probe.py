"""What --cache measures over the raw wire client rather than pgbench.

- the console of the cache-on Usher: SHOW CACHE as a dict, CACHE FLUSH,
  waiting until the database's invalidation stream is live;
- invalidation delay: a row cached through Usher, updated directly on
  PostgreSQL, read through Usher in a tight loop until the new value shows;
- memory per entry: the Usher process's RSS before and after filling N
  distinct entries, less the bytes of what is stored (the answer's
  RowDescription, DataRow and CommandComplete, and the key).

Standard library only (tests/integration/harness/wire.py).
"""

import re
import statistics
import struct
import threading
import time

import report
from fixtures import BENCH_DB, BENCH_PASSWORD, BENCH_USER, LOOPBACK, first_line, log, wire

CONSOLE_DB = "pgbouncer"
LIVE_STATES = ("live",)
# What a cached answer is made of (docs/cache.md): the bytes replayed on a hit.
STORED_TAGS = (b"T", b"D", b"C")
# Reported settings that are not in the key (session/cache_tap.cpp takes
# every tracked one but application_name; protocol/tracked_params.cpp never
# tracks the server's facts). Each one in the key has two 4-byte length
# prefixes, for its name and its value.
NOT_IN_KEY = ("application_name", "server_version", "server_encoding", "integer_datetimes",
              "is_superuser", "in_hot_standby")
KEY_FIXED = 1 + 4 + 1  # format version, database id, the NUL before the statement
SIZE_PREFIX = 4
PROBE_TABLE = "cache_probe"
FILL_THREADS = 4
# pgbench -S's statement as pgbench sends it, with the semicolon (a token
# of the key): a fill with this text serves pgbench's reads.
AID_QUERY = "SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"
# Words, numbers and single punctuation marks: the tokens of the queries
# here (not of SQL in general: `>=` would be two).
TOKEN = re.compile(r"\w+|[^\w\s]")


def columns_of(msgs):
    """Column names of the RowDescription among msgs ([] if none)."""
    for tag, body in msgs:
        if tag != b"T":
            continue
        (n,) = struct.unpack("!H", body[:2])
        names, pos = [], 2
        for _ in range(n):
            end = body.index(b"\0", pos)
            names.append(body[pos:end].decode())
            pos = end + 1 + 18  # table oid, attnum, type oid, typlen, typmod, format
        return names
    return []


def connect(port, db=BENCH_DB, timeout=10.0):
    """A logged-in bench-user wire.Conn; ServerError if the login fails."""
    conn = wire.Conn(LOOPBACK, port, timeout=timeout)
    errors = wire.errors_of(conn.startup(BENCH_USER, db, BENCH_PASSWORD))
    if errors:
        conn.close()
        raise wire.ServerError(errors[0])
    return conn


def query(conn, sql, timeout=None):
    """(rows, messages) of one simple Query; ServerError on an error."""
    msgs = conn.simple_query(sql, timeout)
    errors = wire.errors_of(msgs)
    if errors:
        raise wire.ServerError(errors[0])
    return wire.rows_of(msgs), msgs


def console(port, sql):
    """One console command on the Usher at port: its rows as dicts."""
    with connect(port, CONSOLE_DB) as conn:
        rows, msgs = query(conn, sql)
        conn.send(wire.terminate())
    cols = columns_of(msgs)
    return [dict(zip(cols, r)) for r in rows]


def cache_row(port, db=BENCH_DB):
    """SHOW CACHE's row for db (None if the database has no cache yet)."""
    for r in console(port, "SHOW CACHE"):
        if r.get("database") == db:
            return r
    return None


def counters(port):
    """hits, misses, fills, entries, bytes of the bench database, as ints."""
    r = cache_row(port) or {}
    return {k: int(r.get(k) or 0) for k in ("hits", "misses", "fills", "entries", "bytes")}


def flush(port):
    console(port, f"CACHE FLUSH {BENCH_DB}")


def wait_live(port, timeout=30.0):
    """Until the bench database's stream is live (a query through Usher
    creates the cache domain and starts the stream); the last row, or
    RuntimeError with the last state seen."""
    deadline = time.monotonic() + timeout
    row = None
    with connect(port) as conn:
        while time.monotonic() < deadline:
            query(conn, "SELECT 1")
            row = cache_row(port)
            if row and row.get("state") in LIVE_STATES:
                return row
            time.sleep(0.1)
    raise RuntimeError(f"cache not live after {timeout:.0f}s: "
                       f"{(row or {}).get('state', 'no row in SHOW CACHE')}")


def stored_bytes(msgs):
    """Bytes of the messages a cache entry holds (tag, length and body)."""
    return sum(1 + 4 + len(body) for tag, body in msgs if tag in STORED_TAGS)


def key_bytes(conn, sql):
    """Estimated size of the cache key for sql on conn: the fixed part, the
    role, every setting reported at login (ParameterStatus) that the key
    holds, with its value, and the statement's tokens joined by one space."""
    settings = sum(2 * SIZE_PREFIX + len(name) + len(value)
                   for name, value in conn.params.items() if name not in NOT_IN_KEY)
    return KEY_FIXED + SIZE_PREFIX + len(BENCH_USER) + settings + len(" ".join(TOKEN.findall(sql)))


# ------------------------------------------------------------ invalidation
def wait_cacheable(port, sql, timeout=30.0):
    """Until a second read of sql through Usher is a hit; RuntimeError if
    it never is within timeout."""
    deadline = time.monotonic() + timeout
    with connect(port) as conn:
        while time.monotonic() < deadline:
            wait_live(port, timeout=max(1.0, deadline - time.monotonic()))
            query(conn, sql)
            hits = counters(port)["hits"]
            query(conn, sql)
            if counters(port)["hits"] > hits:
                return
            time.sleep(0.1)
    raise RuntimeError(f"{sql!r} is not served from the cache after {timeout:.0f}s: "
                       f"{cache_row(port)}")


def make_probe_table(pg):
    pg.bench_query(f"DROP TABLE IF EXISTS {PROBE_TABLE}")
    pg.bench_query(f"CREATE TABLE {PROBE_TABLE} (id int PRIMARY KEY, v int NOT NULL)")
    pg.bench_query(f"INSERT INTO {PROBE_TABLE} VALUES (1, 0)")


def invalidation_delay(pg, port, samples, cap_s, synchronous_commit):
    """Per sample: read the probe row through Usher twice (the second read
    is a hit), UPDATE it directly on PostgreSQL from a session with that
    synchronous_commit, then read through Usher with no pause until the new
    value comes back. The delay runs from the UPDATE's ReadyForQuery to the
    fresh answer's arrival (so it includes that read's round trip). The
    probe table must exist (make_probe_table). Returns a result dict."""
    res = {"synchronous_commit": synchronous_commit, "samples": samples, "cap_s": cap_s,
           "error": None, "delays_ms": [], "timeouts": 0, "stale_reads": [], "hit_read_ms": []}
    read_sql = f"SELECT v FROM {PROBE_TABLE} WHERE id = 1"
    # The CREATE TABLE reaches Usher through the stream as a catalog change;
    # until its catalog is loaded again, the new table is unknown and the
    # read uncacheable.
    wait_cacheable(port, read_sql)
    before = counters(port)
    first = int(pg.bench_query(f"SELECT v FROM {PROBE_TABLE} WHERE id = 1")[0][0]) + 1
    with connect(port) as usher, connect(pg.port) as direct:
        query(direct, f"SET synchronous_commit = {synchronous_commit}")
        for k in range(first, first + samples):
            query(usher, read_sql)
            t = time.perf_counter()
            query(usher, read_sql)
            res["hit_read_ms"].append((time.perf_counter() - t) * 1e3)
            query(direct, f"UPDATE {PROBE_TABLE} SET v = {k} WHERE id = 1")
            t0 = time.perf_counter()
            stale = 0
            while True:
                rows, _ = query(usher, read_sql)
                now = time.perf_counter()
                if rows == [(str(k),)]:
                    res["delays_ms"].append((now - t0) * 1e3)
                    break
                stale += 1
                if now - t0 > cap_s:
                    res["timeouts"] += 1
                    break
            res["stale_reads"].append(stale)
    after = counters(port)
    res["hits"] = after["hits"] - before["hits"]
    res["misses"] = after["misses"] - before["misses"]
    d = sorted(res["delays_ms"])
    pct = report.percentile
    res.update(p50_ms=pct(d, 50), p99_ms=pct(d, 99), max_ms=d[-1] if d else None,
               with_stale=sum(1 for s in res["stale_reads"] if s),
               hit_read_p50_ms=statistics.median(res["hit_read_ms"]))
    if res["timeouts"]:
        res["error"] = f"{res['timeouts']} of {samples} samples saw no fresh value in {cap_s} s"
    return res


# ------------------------------------------------------------------ memory
def fill(port, entries, threads=FILL_THREADS):
    """Reads of aid 1..entries (AID_QUERY) through Usher, each once, from
    `threads` connections, opened and used once before this returns:
    (start, wait) where start() runs the fill and wait() joins it and
    returns payload totals."""
    conns = [connect(port) for _ in range(threads)]
    for c in conns:
        query(c, "SELECT 1")
    totals = {"value": 0, "key": 0, "answers": 0, "errors": []}
    lock = threading.Lock()

    def work(i, conn):
        value = key = n = 0
        try:
            for aid in range(1 + i, entries + 1, threads):
                sql = AID_QUERY.format(aid=aid)
                _, msgs = query(conn, sql, timeout=30)
                value += stored_bytes(msgs)
                key += key_bytes(conn, sql)
                n += 1
        except Exception as e:
            with lock:
                totals["errors"].append(first_line(f"{type(e).__name__}: {e}"))
        with lock:
            totals["value"] += value
            totals["key"] += key
            totals["answers"] += n

    workers = [threading.Thread(target=work, args=(i, c), daemon=True)
               for i, c in enumerate(conns)]

    def start():
        for w in workers:
            w.start()

    def wait():
        for w in workers:
            w.join()
        for c in conns:
            c.close()
        return totals

    return start, wait


def prefill(port, entries):
    """Reads of aid 1..entries through Usher: after it, pgbench's reads of
    those accounts are hits. RuntimeError if a read failed."""
    start, wait = fill(port, entries)
    start()
    totals = wait()
    if totals["errors"]:
        raise RuntimeError(f"prefill: {totals['errors'][0]}")


def memory_per_entry(bench, target, entries):
    """A fresh Usher (target, cache on): RSS and SHOW CACHE before and after
    filling `entries` distinct entries; RSS growth per entry, less the value
    and key bytes, is the per-entry overhead."""
    res = {"target": target, "entries_wanted": entries, "error": None}
    bench.stop_pooler(target)
    why = bench.ensure_alive(target)
    if why:
        res["error"] = f"{target} did not start: {why}"
        return res
    p = bench.poolers[target]
    wait_live(p.port)
    start, wait = fill(p.port, entries)
    time.sleep(1.0)
    c0, rss0 = counters(p.port), report.proc_rss_bytes(p.pid)
    t0 = time.monotonic()
    start()
    totals = wait()
    res["fill_s"] = time.monotonic() - t0
    time.sleep(1.0)
    c1, rss1 = counters(p.port), report.proc_rss_bytes(p.pid)
    added = c1["entries"] - c0["entries"]
    res.update(rss_before=rss0, rss_after=rss1, entries=added, answers=totals["answers"],
               fills=c1["fills"] - c0["fills"], charged_bytes=c1["bytes"] - c0["bytes"])
    if totals["errors"]:
        res["error"] = f"{len(totals['errors'])} fill threads failed: {totals['errors'][0]}"
    if added <= 0 or not totals["answers"]:
        res["error"] = res["error"] or f"no entries added ({c0} -> {c1})"
        return res
    value = totals["value"] / totals["answers"]
    key = totals["key"] / totals["answers"]
    rss_per = (rss1 - rss0) / added
    charged_per = res["charged_bytes"] / added
    res.update(value_bytes=value, key_bytes=key, rss_per_entry=rss_per,
               overhead_rss=rss_per - value - key, charged_per_entry=charged_per,
               overhead_charged=charged_per - value - key)
    log(f"memory {target}: {added} entries in {res['fill_s']:.1f} s, RSS "
        f"{rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB, {rss_per:.0f} B/entry "
        f"(value {value:.0f}, key ~{key:.0f}), charged {charged_per:.0f} B/entry")
    return res
