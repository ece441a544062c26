"""Prepared statements in transaction mode, driven by real Python drivers.

Every test runs a pool of 2 servers in transaction mode with at least 8
concurrent clients, and something that holds one server in an open
transaction to force backend switches: a "pinner" (on and off, for part of
the run) in the concurrent tests, a "seesaw" (two pinners taking turns, so
that every step runs on a known server) in the psycopg2 SQL-level tests,
whose 6 "noise" clients use the same statement names with their own texts.
The tests check the values that come back, that clients really did move
between the two servers (and that there never were more than two: a server
Usher closes and replaces shows up as a third backend pid), and that
PostgreSQL's log for the test holds no errors except those the test
provoked on purpose, checked by message, statement and count.

- psycopg 3, prepare_threshold=0 and prepared_max=3 over 9 distinct
  statements: psycopg DEALLOCATEs the statements it evicts, and sends
  DEALLOCATE ALL after a rollback, both through the extended protocol
  (Parse/Bind/Execute of an unnamed statement).
- asyncpg, default statement cache and statement_cache_size=2 (its
  evictions are protocol Close messages); explicit conn.prepare()
  statements used inside and outside transactions, through cursors, after
  rollbacks.
- psycopg2, SQL PREPARE / EXECUTE / DEALLOCATE [PREPARE] name|ALL /
  DISCARD ALL, autocommit on and off: per-client names, PostgreSQL's
  transaction semantics for PREPARE, 26000 / 42P05, quoting, case, comments.

A 42P05 never reaches PostgreSQL under the client's name: Usher sends a
statement that fails to parse and rewrites the error, so the log shows a
syntax error at "usher" instead (USHER_42P05_LOG). 26000 is PostgreSQL's
own, with the client's name.

All usher_only: PgBouncer 1.18 cannot do any of this in transaction mode.
"""

import asyncio
import decimal
import os
import random
import re
import threading
import time

import psycopg
import psycopg2
import pytest

from harness import clients, util

pytestmark = [pytest.mark.usher_only]

POOL_SIZE = 2
CLIENTS = 8
INI = {"query_wait_timeout": 30}
JOIN_TIMEOUT = 120


# --------------------------------------------------------------------------
# PostgreSQL's log, from a mark taken at the start of the test
# --------------------------------------------------------------------------

# log_line_prefix = '%m [%p] %q%u@%d '
_LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (?:(\S*)@(\S*) )?"
    r"([A-Z]+\d?):  ?(.*)$"
)
_ATTACHED = ("STATEMENT", "DETAIL", "HINT", "CONTEXT", "QUERY")
_PROBLEM_LEVELS = ("WARNING", "ERROR", "FATAL", "PANIC")


class PgLog:
    """Entries PostgreSQL logged after this object was made."""

    def __init__(self, pg):
        self.path = pg.log_path
        self.start = os.path.getsize(self.path)

    def text(self):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace")

    def entries(self):
        entries = []
        last_line_owner = None  # (entry, field) a continuation line belongs to
        for line in self.text().splitlines():
            m = _LOG_LINE.match(line)
            if not m:
                if last_line_owner is not None:
                    entry, field = last_line_owner
                    entry[field] += "\n" + line
                continue
            pid, user, db, level, msg = m.groups()
            if level in _ATTACHED:
                owner = next((e for e in reversed(entries) if e["pid"] == pid), None)
                if owner is not None:
                    owner[level.lower()] = msg
                    last_line_owner = (owner, level.lower())
                    continue
            entry = {"pid": pid, "user": user, "db": db, "level": level,
                     "message": msg, "statement": ""}
            entries.append(entry)
            last_line_owner = (entry, "message")
        return entries

    def problems(self):
        """WARNING/ERROR/FATAL/PANIC entries, and any entry that mentions a
        prepared statement."""
        out = []
        for e in self.entries():
            if e["level"] in _PROBLEM_LEVELS or "prepared statement" in (
                e["message"] + "\n" + e["statement"]
            ):
                out.append(e)
        return out


def _fmt(entry):
    s = f"{entry['level']}: {entry['message']}"
    if entry["statement"]:
        s += f"  [STATEMENT: {entry['statement']}]"
    return s


def assert_log_clean(log, expected=()):
    """Every problem entry in the log since the mark is expected.

    expected: (level, message regex, statement regex or None, count) where
    count is an int (exact) or a (min, max) pair. Regexes must match the
    whole text.
    """
    left = log.problems()
    report = []
    for level, msg_re, stmt_re, count in expected:
        hits = [
            e for e in left
            if e["level"] == level
            and re.fullmatch(f"(?:{msg_re})(?: at character \\d+)?", e["message"], re.S)
            and (stmt_re is None or re.fullmatch(stmt_re, e["statement"], re.S))
        ]
        lo, hi = (count, count) if isinstance(count, int) else count
        if not lo <= len(hits) <= hi:
            report.append(
                f"expected {count} x {level} {msg_re!r} (statement {stmt_re!r}), "
                f"found {len(hits)}: {[_fmt(e) for e in hits]}"
            )
        left = [e for e in left if not any(e is h for h in hits)]
    if left:
        report.append("unexpected entries:\n  " + "\n  ".join(_fmt(e) for e in left))
    assert not report, "PostgreSQL log since the start of the test:\n" + "\n".join(report)


ABORTED = re.escape(
    "current transaction is aborted, commands ignored until end of transaction block")


def not_exist(name):
    """PostgreSQL's 26000 message for `name`, as a log-entry regex."""
    return re.escape(f'prepared statement "{name}" does not exist')


# Usher cannot have the server raise 42P05 for a client name the server
# never sees: it sends a statement that fails to parse (so the server aborts
# the transaction and skips to Sync as it would for the real error) and
# rewrites the error the client gets. This is what PostgreSQL logs for it.
USHER_42P05_LOG = ("ERROR", re.escape('syntax error at or near "usher"'),
                   re.escape("usher: prepared statement error") + ".*")


# --------------------------------------------------------------------------
# pinning servers
# --------------------------------------------------------------------------

# How long the concurrent tests run: every client does MIN_ROUNDS rounds,
# and goes on until the pinner has held a server and let it go MIN_CYCLES
# times (RUN_LIMIT seconds at most).
MIN_ROUNDS = 3
MIN_CYCLES = 4
RUN_LIMIT = 40
PIN_HOLD = 0.2
PIN_GAP = 0.1


class RunBudget:
    def __init__(self):
        self.cycles = 0
        self.deadline = time.monotonic() + RUN_LIMIT

    def more(self, rounds_done):
        """Whether a client that has done rounds_done rounds goes on."""
        if rounds_done < MIN_ROUNDS:
            return True
        return self.cycles < MIN_CYCLES and time.monotonic() < self.deadline


class Pinner(RunBudget):
    """A client that holds one of the pool's servers in an open transaction,
    on and off, until stopped: while it holds one, every other client must
    use the other one."""

    def __init__(self, p, hold=PIN_HOLD, gap=PIN_GAP):
        super().__init__()
        self.p = p
        self.hold = hold
        self.gap = gap
        self.stop_event = threading.Event()
        self.pids = []
        self.worker = None

    def _run(self):
        with self.p.connect(autocommit=False) as conn:
            while not self.stop_event.is_set():
                self.pids.append(conn.execute("select pg_backend_pid()").fetchone()[0])
                self.stop_event.wait(self.hold)
                conn.rollback()
                self.stop_event.wait(self.gap)
                self.cycles += 1
        return len(self.pids)

    def start(self):
        self.worker = clients.start(self._run, name="pinner")
        return self

    def stop(self):
        self.stop_event.set()
        holds = self.worker.join_result(30)
        assert holds >= 1, "the pinner never held a server"
        return holds


class Seesaw:
    """Two clients that hold the pool's two servers in turn, so that every
    other client's next transaction goes to the one server left free, and
    flip() makes that the other server. Only flip() while no other client is
    inside a transaction (it would wait for it)."""

    def __init__(self, p):
        self.conns = [p.connect(autocommit=False), p.connect(autocommit=False)]
        self.holder = None
        self.free_pid = None
        self.pids = [None, None]

    def _hold(self, i):
        self.pids[i] = self.conns[i].execute("select pg_backend_pid()").fetchone()[0]

    def start(self):
        self._hold(0)
        self._hold(1)  # a different server: 0 holds the other one
        assert self.pids[0] != self.pids[1]
        self.conns[0].commit()
        self.holder = 1
        self.free_pid = self.pids[0]
        return self

    def flip(self):
        other = 1 - self.holder
        self._hold(other)
        assert self.pids[other] == self.free_pid, "the seesaw lost track of the servers"
        self.conns[self.holder].commit()
        self.free_pid = self.pids[self.holder]
        self.holder = other

    def close(self):
        for c in self.conns:
            c.close()


def assert_moved(pids_per_client, what):
    """Clients really used both servers, and most of them used both."""
    all_pids = set().union(*pids_per_client)
    # more than POOL_SIZE: Usher closed servers and opened new ones
    assert len(all_pids) == POOL_SIZE, f"{what}: server backends used {sorted(all_pids)}"
    movers = sum(1 for s in pids_per_client if len(s) == POOL_SIZE)
    assert movers >= len(pids_per_client) // 2, (
        f"{what}: only {movers} of {len(pids_per_client)} clients used both servers"
    )


# --------------------------------------------------------------------------
# statements shared by the driver tests
# --------------------------------------------------------------------------

def statements(n, mark):
    """(sql, params maker, expected rows maker) for client n; `mark` is the
    driver's placeholder maker (i -> '%s' or '$i'). Drivers number their
    statements per connection (_pg3_<k>, __asyncpg_stmt_<k>__) and each
    client shuffles its own order, so one name means different texts on
    different clients; the last two texts also differ between clients."""
    a, b = mark(1), mark(2)
    return [
        (f"select {a}::int + {b}::int", lambda i: (n, i), lambda i: [(n + i,)]),
        (f"select {a}::text || '-x'", lambda i: (f"c{n}i{i}",), lambda i: [(f"c{n}i{i}-x",)]),
        (f"select {a}::int * 3 as x, {b}::text as y", lambda i: (i, str(n)),
         lambda i: [(i * 3, str(n))]),
        (f"select g, g * {a}::int from generate_series(1, 3) g", lambda i: (i,),
         lambda i: [(g, g * i) for g in (1, 2, 3)]),
        (f"select {a}::numeric / 4", lambda i: (i + n,),
         lambda i: [(decimal.Decimal(i + n) / 4,)]),
        (f"select array[{a}::int, {b}::int]", lambda i: (i, -n), lambda i: [([i, -n],)]),
        (f"select {a}::int + {n * 1000}", lambda i: (i,), lambda i: [(i + n * 1000,)]),
        (f"select {a}::bigint - 1 as c{n}", lambda i: (i,), lambda i: [(i - 1,)]),
    ]


class Rollback(Exception):
    pass


# --------------------------------------------------------------------------
# psycopg 3: protocol-level statements, DEALLOCATE through the extended protocol
# --------------------------------------------------------------------------

def _psycopg3_client(p, n, budget, sent, rollbacks):
    """Cycles through more statements than psycopg keeps prepared (3), so
    psycopg DEALLOCATEs (extended protocol, unnamed statement) all along.
    With rollbacks, psycopg also sends DEALLOCATE ALL after each one."""
    sts = statements(n, lambda i: "%s")
    rng = random.Random(n)
    pids = set()
    deallocs = []
    with p.connect(prepare_threshold=0) as conn:
        conn.prepared_max = 3
        orig = conn._exec_command

        def counting(command, *args, **kwargs):  # what psycopg sends to sync its cache
            if isinstance(command, bytes) and command.startswith(b"DEALLOCATE"):
                deallocs.append(command)
            return orig(command, *args, **kwargs)

        conn._exec_command = counting
        r = 0
        while budget.more(r):
            order = list(range(len(sts)))
            rng.shuffle(order)
            for k in order:
                sql, params, expect = sts[k]
                i = r * 10 + k
                if k % 3 == 0:
                    with conn.transaction():
                        pids.add(conn.execute("select pg_backend_pid()").fetchone()[0])
                        assert conn.execute(sql, params(i)).fetchall() == expect(i), (n, sql)
                        assert conn.execute(sql, params(i + 1)).fetchall() == expect(i + 1)
                elif rollbacks and k % 4 == 1:
                    with conn.transaction():
                        assert conn.execute(sql, params(i)).fetchall() == expect(i), (n, sql)
                        raise psycopg.Rollback()  # psycopg then sends DEALLOCATE ALL
                else:
                    assert conn.execute(sql, params(i)).fetchall() == expect(i), (n, sql)
                    pids.add(conn.execute("select pg_backend_pid()").fetchone()[0])
            r += 1
    sent[n] = deallocs
    return pids


def _run_psycopg3(p, rollbacks):
    pinner = Pinner(p).start()
    sent = {}
    workers = [clients.start(_psycopg3_client, p, n, pinner, sent, rollbacks, name=f"pg3-{n}")
               for n in range(CLIENTS)]
    try:
        pids = [w.join_result(JOIN_TIMEOUT) for w in workers]
    finally:
        pinner.stop()
    return pids, sent


@pytest.mark.parametrize("max_prepared", [200, 4])
def test_psycopg3_prepare_threshold_0_small_prepared_max(pooler, pg, max_prepared):
    """psycopg 3 prepares every statement and DEALLOCATEs the ones it evicts
    from its cache of 3; max_prepared_statements=4 makes Usher evict on the
    servers as well."""
    log = PgLog(pg)
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE,
               extra_ini=dict(INI, max_prepared_statements=max_prepared))
    pids, sent = _run_psycopg3(p, rollbacks=False)
    for n in range(CLIENTS):  # psycopg did evict and DEALLOCATE, so that path ran
        assert sum(c.startswith(b"DEALLOCATE _pg3_") for c in sent[n]) >= 10, (n, sent[n])
    assert_log_clean(log)
    assert_moved(pids, "psycopg 3")


def test_psycopg3_rollback_deallocate_all(pooler, pg):
    """After a rollback psycopg 3 sends DEALLOCATE ALL (extended protocol):
    that must clear only this client's statements, not the server's
    statements that other clients share."""
    log = PgLog(pg)
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE, extra_ini=INI)
    pids, sent = _run_psycopg3(p, rollbacks=True)
    for n in range(CLIENTS):
        assert b"DEALLOCATE ALL" in sent[n], (n, sent[n])
    assert_log_clean(log)
    assert_moved(pids, "psycopg 3")


# --------------------------------------------------------------------------
# asyncpg: statement cache (default and tiny), explicit prepare()
# --------------------------------------------------------------------------

def _asyncpg():
    return pytest.importorskip("asyncpg")


async def _apg_connect(p, **kw):
    asyncpg = _asyncpg()
    return await asyncpg.connect(host=p.host, port=p.port, user="app", password="apppass",
                                 database="appdb", timeout=10, **kw)


async def _apg_pinner(p, stop, budget, hold=PIN_HOLD, gap=PIN_GAP):
    conn = await _apg_connect(p)
    pids = []
    try:
        while not stop.is_set():
            tr = conn.transaction()
            await tr.start()
            pids.append(await conn.fetchval("select pg_backend_pid()"))
            try:
                await asyncio.wait_for(stop.wait(), hold)
            except asyncio.TimeoutError:
                pass
            await tr.rollback()
            try:
                await asyncio.wait_for(stop.wait(), gap)
            except asyncio.TimeoutError:
                pass
            budget.cycles += 1
    finally:
        await conn.close()
    return pids


def _apg_run(p, client, n_clients=CLIENTS):
    """client(n, budget) for n clients, with a pinner, in one event loop."""
    async def run():
        budget = RunBudget()
        stop = asyncio.Event()
        pinner = asyncio.ensure_future(_apg_pinner(p, stop, budget))
        try:
            return await asyncio.wait_for(
                asyncio.gather(*(client(n, budget) for n in range(n_clients))), JOIN_TIMEOUT)
        finally:
            stop.set()
            held = await asyncio.wait_for(pinner, 30)
            assert held, "the pinner never held a server"
    return asyncio.run(run())


def _rows(records):
    return [tuple(r) for r in records]


@pytest.mark.parametrize("cache_size", [None, 2], ids=["default-cache", "cache-2"])
def test_asyncpg_statement_cache(pooler, pg, cache_size):
    log = PgLog(pg)
    pg.sql("drop type if exists uit_mood; create type uit_mood as enum ('sad', 'ok', 'happy')",
           db="appdb", user="app")
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE, extra_ini=INI)
    moods = ["sad", "ok", "happy"]
    kw = {} if cache_size is None else {"statement_cache_size": cache_size}

    async def client(n, budget):
        sts = statements(n, lambda i: f"${i}")
        rng = random.Random(100 + n)
        pids = set()
        conn = await _apg_connect(p, **kw)
        try:
            # a type asyncpg must introspect (its introspection query is a
            # prepared statement too)
            assert await conn.fetchval("select $1::uit_mood", moods[n % 3]) == moods[n % 3]
            r = 0
            while budget.more(r):
                order = list(range(len(sts)))
                rng.shuffle(order)
                for k in order:
                    sql, params, expect = sts[k]
                    i = r * 10 + k
                    if k % 3 == 0:
                        async with conn.transaction():
                            pids.add(await conn.fetchval("select pg_backend_pid()"))
                            assert _rows(await conn.fetch(sql, *params(i))) == expect(i), (n, sql)
                            assert _rows(await conn.fetch(sql, *params(i + 1))) == expect(i + 1)
                    elif k % 4 == 1 and r % 2 == 0:
                        try:
                            async with conn.transaction():
                                assert _rows(await conn.fetch(sql, *params(i))) == expect(i)
                                raise Rollback()
                        except Rollback:
                            pass
                    else:
                        assert _rows(await conn.fetch(sql, *params(i))) == expect(i), (n, sql)
                        pids.add(await conn.fetchval("select pg_backend_pid()"))
                mood = moods[(n + r) % 3]
                assert await conn.fetchval("select $1::uit_mood::text", mood) == mood
                r += 1
            if cache_size is not None:
                # the tiny cache evicted (and Closed) statements all along
                assert len(conn._stmt_cache) <= cache_size
        finally:
            await conn.close()
        return pids

    pids = _apg_run(p, client)
    assert_log_clean(log)
    assert_moved(pids, f"asyncpg cache={cache_size}")


def test_asyncpg_explicit_prepare_in_and_out_of_transactions(pooler, pg):
    log = PgLog(pg)
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE, extra_ini=INI)

    async def client(n, budget):
        pids = set()
        # half the clients without a statement cache: prepare() still names
        # its statements
        conn = await _apg_connect(p, **({"statement_cache_size": 0} if n % 2 else {}))
        try:
            s_add = await conn.prepare("select $1::int + $2::int as total")
            s_rows = await conn.prepare(
                f"select g * {n + 1} as v from generate_series(1, $1::int) g")
            assert [a.name for a in s_add.get_attributes()] == ["total"]
            assert [t.name for t in s_add.get_parameters()] == ["int4", "int4"]
            assert [a.name for a in s_rows.get_attributes()] == ["v"]
            s_rb = None
            i = 0
            while budget.more(i // 4):
                assert await s_add.fetchval(n, i) == n + i
                async with conn.transaction():
                    pids.add(await conn.fetchval("select pg_backend_pid()"))
                    s_in = await conn.prepare(f"select $1::text || '-{n}-{i % 3}'")
                    assert await s_in.fetchval("a") == f"a-{n}-{i % 3}"
                    assert await s_add.fetchval(i, i) == 2 * i
                    assert _rows(await s_rows.fetch(3)) == [((n + 1) * g,) for g in (1, 2, 3)]
                    # a named portal over a prepared statement
                    got = [r["v"] async for r in s_rows.cursor(7, prefetch=2)]
                    assert got == [(n + 1) * g for g in range(1, 8)]
                # prepared inside the transaction, used after it
                assert await s_in.fetchval("b") == f"b-{n}-{i % 3}"
                assert await s_in.fetchrow("c") == (f"c-{n}-{i % 3}",)
                # prepared inside a transaction that rolls back: still prepared
                try:
                    async with conn.transaction():
                        s_rb = await conn.prepare(f"select $1::int * {n + 2}")
                        assert await s_rb.fetchval(i) == i * (n + 2)
                        raise Rollback()
                except Rollback:
                    pass
                assert await s_rb.fetchval(i + 1) == (i + 1) * (n + 2)
                async with conn.transaction():
                    assert await s_rb.fetchval(i + 2) == (i + 2) * (n + 2)
                    pids.add(await conn.fetchval("select pg_backend_pid()"))
                # executemany on a prepared statement's text
                await conn.executemany("select $1::int", [(i,), (i + 1,)])
                assert _rows(await s_rows.fetch(2)) == [(n + 1,), (2 * (n + 1),)]
                i += 1
        finally:
            await conn.close()
        return pids

    pids = _apg_run(p, client)
    assert_log_clean(log)
    assert_moved(pids, "asyncpg prepare()")


# --------------------------------------------------------------------------
# psycopg2: SQL PREPARE / EXECUTE / DEALLOCATE
# --------------------------------------------------------------------------

def _q(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description is not None else cur.statusmessage


def _pid(conn):
    return _q(conn, "select pg_backend_pid()")[0][0]


def _sql_error(conn, sql):
    """The psycopg2 error `sql` raises (the caller checks it)."""
    with pytest.raises(psycopg2.Error) as info:
        _q(conn, sql)
    return info.value


def _psycopg2_sql_client(p, n, budget):
    """PREPARE/EXECUTE/DEALLOCATE with names every client uses for its own text."""
    pids = set()
    provoked = 0
    conn = p.connect_psycopg2()
    try:
        conn.autocommit = True
        assert _q(conn, f"prepare own(int) as select $1 * {n + 1}") == "PREPARE"
        assert _q(conn, "prepare shared(int, int) as select $1 + $2") == "PREPARE"
        assert _q(conn, f'PREPARE "Own"(text) AS SELECT $1 || \'/{n}\'') == "PREPARE"
        own_factor = n + 1
        r = 0
        while budget.more(r // 5):
            conn.autocommit = r % 2 == 0
            for i in range(4):
                assert _q(conn, "execute own(%s)", (i,)) == [(i * own_factor,)], (n, r)
                assert _q(conn, "EXECUTE shared(%s, %s)", (n, i)) == [(n + i,)]
                assert _q(conn, 'execute "Own"(%s)', (f"r{r}",)) == [(f"r{r}/{n}",)]
                pids.add(_pid(conn))
                if not conn.autocommit and i == 1:
                    conn.commit()
            if not conn.autocommit:
                if r % 4 == 1:
                    conn.rollback()
                else:
                    conn.commit()
            conn.autocommit = True
            if r % 3 == 2:
                # the name now means another text
                assert _q(conn, "deallocate own") == "DEALLOCATE"
                own_factor = (n + 1) * 10 + r
                assert _q(conn, f"prepare own(int) as select $1 * {own_factor}") == "PREPARE"
            if r % 5 == 4:
                assert _q(conn, "deallocate all") == "DEALLOCATE ALL"
                err = _sql_error(conn, "execute shared(1, 1)")
                provoked += 1
                assert err.pgcode == "26000" and err.diag.message_primary == (
                    'prepared statement "shared" does not exist')
                assert _q(conn, f"prepare own(int) as select $1 * {own_factor}") == "PREPARE"
                assert _q(conn, "prepare shared(int, int) as select $1 + $2") == "PREPARE"
                assert _q(conn, f'PREPARE "Own"(text) AS SELECT $1 || \'/{n}\'') == "PREPARE"
            r += 1
    finally:
        conn.close()
    return pids, provoked


def test_psycopg2_sql_prepare_many_clients(pooler, pg):
    log = PgLog(pg)
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE,
               extra_ini=dict(INI, max_prepared_statements=5))
    pinner = Pinner(p).start()
    workers = [clients.start(_psycopg2_sql_client, p, n, pinner, name=f"pg2-{n}")
               for n in range(CLIENTS)]
    try:
        results = [w.join_result(JOIN_TIMEOUT) for w in workers]
    finally:
        pinner.stop()
    provoked = sum(k for _, k in results)
    assert provoked >= CLIENTS * MIN_ROUNDS
    assert_log_clean(log, [
        # each 'execute shared' right after a DEALLOCATE ALL
        ("ERROR", not_exist("shared"), re.escape("execute shared(1, 1)"), provoked),
    ])
    assert_moved([pids for pids, _ in results], "psycopg2 SQL PREPARE")


class _Noise:
    """Clients that use the same statement names (with their own texts) as
    the test's clients, all through a test, checking every answer."""

    def __init__(self, p, count):
        self.stop_event = threading.Event()
        self.rounds = [0] * count
        self.workers = [clients.start(self._run, p, n, name=f"noise-{n}")
                        for n in range(count)]

    def _run(self, p, n):
        conn = p.connect_psycopg2()
        conn.autocommit = True
        try:
            _q(conn, f"prepare s1(int) as select $1 * {n + 7}")
            _q(conn, f"prepare \"MiXed\" as select 'noise{n}'")
            while not self.stop_event.is_set():
                k = self.rounds[n]
                assert _q(conn, "execute s1(%s)", (k,)) == [(k * (n + 7),)]
                assert _q(conn, 'execute "MiXed"') == [(f"noise{n}",)]
                self.rounds[n] = k + 1
                time.sleep(0.005)
        finally:
            conn.close()
        return self.rounds[n]

    def stop(self):
        # every noise client ran at least a few rounds (unless one failed)
        util.wait_until(lambda: all(k >= 3 for k in self.rounds)
                        or any(not w.is_alive() for w in self.workers), 30,
                        what="noise clients running")
        self.stop_event.set()
        done = [w.join_result(30) for w in self.workers]
        assert all(k >= 3 for k in done), done


class SqlScene:
    """Two psycopg2 clients a and b (autocommit on), a seesaw that decides
    which server they get, and 6 noise clients using the same names: 10
    clients on a pool of 2."""

    def __init__(self, p):
        self.a = p.connect_psycopg2()
        self.b = p.connect_psycopg2()
        self.a.autocommit = self.b.autocommit = True
        self.seesaw = Seesaw(p).start()
        self.noise = _Noise(p, 6)

    def close(self):
        try:
            self.noise.stop()
        finally:
            self.seesaw.close()
            self.a.close()
            self.b.close()


@pytest.fixture
def scene(pooler, pg):
    log = PgLog(pg)
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE, extra_ini=INI)
    sc = SqlScene(p)
    sc.log = log
    try:
        yield sc
    finally:
        sc.close()


def _is_26000(err, name):
    assert err.pgcode == "26000", (err.pgcode, str(err))
    assert err.diag.message_primary == f'prepared statement "{name}" does not exist'
    return True


def test_psycopg2_same_name_per_client_26000_42P05(scene):
    a, b, seesaw = scene.a, scene.b, scene.seesaw
    x = seesaw.free_pid
    assert _pid(a) == x and _pid(b) == x

    # Same name, other text, on two clients.
    assert _q(a, "prepare s1(int) as select $1 * 10") == "PREPARE"
    assert _q(b, "prepare s1(int) as select $1 * 100") == "PREPARE"
    assert _q(a, "execute s1(1)") == [(10,)]
    assert _q(b, "execute s1(1)") == [(100,)]
    seesaw.flip()
    y = seesaw.free_pid
    assert y != x and _pid(a) == y
    assert _q(a, "execute s1(2)") == [(20,)]
    assert _q(b, "execute s1(2)") == [(200,)]
    # inside a transaction (autocommit off) too
    a.autocommit = False
    assert _q(a, "execute s1(3)") == [(30,)]
    assert _pid(a) == y
    a.commit()
    a.autocommit = True
    seesaw.flip()
    assert _pid(b) == x
    assert _q(b, "execute s1(3)") == [(300,)]

    # 26000 for a name the client never prepared; the session lives on.
    assert _is_26000(_sql_error(a, "execute nosuch(1)"), "nosuch")
    assert _q(a, "execute s1(4)") == [(40,)]
    # ... in a transaction, which it aborts
    a.autocommit = False
    assert _is_26000(_sql_error(a, "execute nosuch"), "nosuch")
    assert _sql_error(a, "execute s1(4)").pgcode == "25P02"
    a.rollback()
    a.autocommit = True

    # 42P05 for a name the client has (that only Usher knows); the session
    # lives on and s1 keeps its text.
    err = _sql_error(a, "prepare s1(int) as select $1 * 99")
    assert err.pgcode == "42P05"
    assert err.diag.message_primary == 'prepared statement "s1" already exists'
    assert _q(a, "execute s1(5)") == [(50,)]
    # inside a transaction: aborts it, as PostgreSQL does
    a.autocommit = False
    assert _q(a, "execute s1(6)") == [(60,)]
    err = _sql_error(a, "prepare s1 as select 1")
    assert err.pgcode == "42P05"
    assert err.diag.message_primary == 'prepared statement "s1" already exists'
    assert _sql_error(a, "select 1").pgcode == "25P02"
    a.rollback()
    a.autocommit = True
    seesaw.flip()
    assert _q(a, "execute s1(7)") == [(70,)]
    assert _q(b, "execute s1(7)") == [(700,)]

    assert_log_clean(scene.log, [
        ("ERROR", not_exist("nosuch"), r"execute nosuch(\(1\))?", 2),
        USHER_42P05_LOG + (2,),
        ("ERROR", ABORTED, None, (2, 3)),
    ])


def test_psycopg2_deallocate(scene):
    a, b, seesaw = scene.a, scene.b, scene.seesaw
    assert _q(a, "prepare s1(int) as select $1 * 10") == "PREPARE"
    assert _q(b, "prepare s1(int) as select $1 * 100") == "PREPARE"
    seesaw.flip()

    # DEALLOCATE of a's s1 leaves b's.
    assert _q(a, "deallocate s1") == "DEALLOCATE"
    assert _is_26000(_sql_error(a, "execute s1(1)"), "s1")
    assert _q(b, "execute s1(8)") == [(800,)]
    # DEALLOCATE of a name a does not have: 26000, from PostgreSQL
    assert _is_26000(_sql_error(a, "deallocate s1"), "s1")
    # a can take the name again, with another text
    assert _q(a, "prepare s1(int) as select $1 * 11") == "PREPARE"
    assert _q(a, "execute s1(2)") == [(22,)]
    seesaw.flip()
    assert _q(a, "execute s1(3)") == [(33,)]
    assert _q(b, "execute s1(3)") == [(300,)]

    # DEALLOCATE ALL clears a's statements only.
    assert _q(a, "prepare s2 as select 'a2'") == "PREPARE"
    assert _q(b, "prepare s2 as select 'b2'") == "PREPARE"
    seesaw.flip()
    assert _q(a, "deallocate all") == "DEALLOCATE ALL"
    for name in ("s1", "s2"):
        assert _is_26000(_sql_error(a, f"execute {name}"), name)
    assert _q(b, "execute s1(9)") == [(900,)]
    assert _q(b, "execute s2") == [("b2",)]
    seesaw.flip()
    assert _q(b, "execute s2") == [("b2",)]
    # DEALLOCATE PREPARE name, and DEALLOCATE PREPARE ALL inside a transaction
    assert _q(b, "deallocate prepare s2") == "DEALLOCATE"
    assert _is_26000(_sql_error(b, "execute s2"), "s2")
    assert _q(b, "prepare s2 as select 'b2 again'") == "PREPARE"
    b.autocommit = False
    assert _q(b, "execute s2") == [("b2 again",)]
    assert _q(b, "deallocate prepare all") == "DEALLOCATE ALL"
    b.commit()
    b.autocommit = True
    assert _is_26000(_sql_error(b, "execute s2"), "s2")
    assert _is_26000(_sql_error(b, "execute s1(1)"), "s1")
    # the names are free again on both
    assert _q(a, "prepare s1 as select 'a1'") == "PREPARE"
    assert _q(b, "prepare s1 as select 'b1'") == "PREPARE"
    assert _q(a, "execute s1") == [("a1",)]
    assert _q(b, "execute s1") == [("b1",)]

    assert_log_clean(scene.log, [
        ("ERROR", not_exist("s1"), r"execute s1(\(1\))?|deallocate s1", 4),
        ("ERROR", not_exist("s2"), re.escape("execute s2"), 3),
    ])


def test_psycopg2_prepare_and_transactions(scene):
    a, seesaw = scene.a, scene.seesaw
    # Prepared inside a transaction that rolls back: still prepared.
    a.autocommit = False
    assert _pid(a) == seesaw.free_pid
    assert _q(a, "prepare t1(int) as select $1 + 7") == "PREPARE"
    assert _q(a, "execute t1(1)") == [(8,)]
    a.rollback()
    # ... and when the transaction failed after the PREPARE
    assert _q(a, "prepare t2 as select 'two'") == "PREPARE"
    assert _sql_error(a, "select 1/0").pgcode == "22012"
    a.rollback()
    a.autocommit = True
    assert _q(a, "execute t1(2)") == [(9,)]
    assert _q(a, "execute t2") == [("two",)]
    seesaw.flip()  # the other server has never seen them
    assert _q(a, "execute t1(3)") == [(10,)]
    assert _q(a, "execute t2") == [("two",)]

    # PREPARE in an aborted transaction fails (25P02) and prepares nothing
    a.autocommit = False
    assert _sql_error(a, "select 1/0").pgcode == "22012"
    assert _sql_error(a, "prepare t3 as select 3").pgcode == "25P02"
    # EXECUTE there fails with 25P02 as well, and leaves t1 usable
    assert _sql_error(a, "execute t1(0)").pgcode == "25P02"
    a.rollback()
    a.autocommit = True
    assert _is_26000(_sql_error(a, "execute t3"), "t3")
    seesaw.flip()
    assert _q(a, "execute t1(4)") == [(11,)]
    # EXECUTE in an aborted transaction on a server that lacks the statement
    a.autocommit = False
    assert _sql_error(a, "select 1/0").pgcode == "22012"
    assert _sql_error(a, "execute t2").pgcode == "25P02"
    a.rollback()
    a.autocommit = True
    assert _q(a, "execute t2") == [("two",)]

    # PREPARE whose statement PostgreSQL rejects: nothing is prepared.
    err = _sql_error(a, "prepare bad as select * from uit_no_such_table")
    assert err.pgcode == "42P01"
    assert _is_26000(_sql_error(a, "execute bad"), "bad")
    a.autocommit = False
    err = _sql_error(a, "prepare bad as select * from uit_no_such_table")
    assert err.pgcode == "42P01"
    a.rollback()
    a.autocommit = True
    assert _is_26000(_sql_error(a, "execute bad"), "bad")
    assert _q(a, "prepare bad as select 'fine'") == "PREPARE"
    assert _q(a, "execute bad") == [("fine",)]

    # EXECUTE's own error (wrong parameter count) leaves the statement
    err = _sql_error(a, "execute t1(1, 2)")
    assert err.pgcode == "42601"
    assert err.diag.message_primary.startswith(
        "wrong number of parameters for prepared statement")
    assert _q(a, "execute t1(5)") == [(12,)]

    assert_log_clean(scene.log, [
        ("ERROR", re.escape("division by zero"), None, 3),
        ("ERROR", ABORTED, None, (3, 6)),
        ("ERROR", not_exist("t3"), re.escape("execute t3"), 1),
        ("ERROR", not_exist("bad"), re.escape("execute bad"), 2),
        ("ERROR", re.escape('relation "uit_no_such_table" does not exist'), None, 2),
        ("ERROR", r"wrong number of parameters for prepared statement \"(t1|usher_\d+)\"",
         None, 1),
    ])


def test_psycopg2_names_quoting_case_comments(scene):
    a, seesaw = scene.a, scene.seesaw
    assert _q(a, 'PREPARE "MiXed"(int) AS SELECT $1 + 1000') == "PREPARE"
    assert _q(a, 'execute "MiXed"(1)') == [(1001,)]
    # unquoted names fold to lower case: another name
    assert _is_26000(_sql_error(a, "execute mixed(1)"), "mixed")
    assert _is_26000(_sql_error(a, "EXECUTE MiXed(1)"), "mixed")
    assert _q(a, "prepare s1(int) as select $1 - 1") == "PREPARE"
    assert _q(a, "/* c */ execute s1(1)") == [(0,)]
    assert _q(a, "EXECUTE S1(2)") == [(1,)]
    assert _q(a, '  -- a comment\n\tExEcUtE "s1" ( 3 ) -- trailing\n') == [(2,)]
    assert _q(a, "execute /* between */ s1 /* and */ (4);") == [(3,)]
    assert _q(a, "/* outer /* nested */ still */ execute s1(5)") == [(4,)]
    assert _q(a, 'prepare "quo""ted" as select \'q\'') == "PREPARE"
    assert _q(a, 'execute "quo""ted"') == [("q",)]
    assert _q(a, "/* x */ PREPARE\n  s3 (text)\n AS select upper($1)") == "PREPARE"
    assert _q(a, 'prepare "sp ace" as select \'sp\'') == "PREPARE"
    seesaw.flip()
    assert _q(a, "execute s3('abc')") == [("ABC",)]
    assert _q(a, 'execute "MiXed"(2)') == [(1002,)]
    assert _q(a, 'execute "sp ace"') == [("sp",)]
    assert _q(a, 'DEALLOCATE PREPARE "MiXed"') == "DEALLOCATE"
    assert _is_26000(_sql_error(a, 'execute "MiXed"(1)'), "MiXed")
    assert _q(a, "Deallocate Prepare S3") == "DEALLOCATE"
    assert _is_26000(_sql_error(a, "execute s3('x')"), "s3")
    assert _q(a, 'deallocate "quo""ted"') == "DEALLOCATE"
    assert _is_26000(_sql_error(a, 'execute "quo""ted"'), 'quo"ted')
    assert _q(a, "execute s1(10)") == [(9,)]

    execute_stmt = r"(?i)\s*(/\*.*\*/\s*)?execute.*"
    assert_log_clean(scene.log, [
        ("ERROR", not_exist("mixed"), execute_stmt, 2),
        ("ERROR", not_exist("MiXed"), execute_stmt, 1),
        ("ERROR", not_exist("s3"), execute_stmt, 1),
        ("ERROR", not_exist('quo"ted'), execute_stmt, 1),
    ])


def test_psycopg2_statement_named_prepare(scene):
    """PREPARE is an unreserved keyword: a statement can be called prepare,
    and DEALLOCATE prepare deallocates it (PostgreSQL 15 checked)."""
    a, seesaw = scene.a, scene.seesaw
    assert _q(a, "prepare prepare as select 'kw'") == "PREPARE"
    assert _q(a, "execute prepare") == [("kw",)]
    assert _q(a, "deallocate prepare prepare") == "DEALLOCATE"
    assert _is_26000(_sql_error(a, "execute prepare"), "prepare")
    assert _q(a, "prepare prepare as select 'kw2'") == "PREPARE"
    seesaw.flip()
    assert _q(a, "execute prepare") == [("kw2",)]
    assert _q(a, "deallocate prepare") == "DEALLOCATE"
    assert _is_26000(_sql_error(a, "execute prepare"), "prepare")
    assert_log_clean(scene.log, [
        ("ERROR", not_exist("prepare"), re.escape("execute prepare"), 2),
    ])


def test_psycopg2_discard_all(scene):
    a, b, seesaw = scene.a, scene.b, scene.seesaw
    # DISCARD ALL forgets a's statements, not b's, even on the server it ran on.
    assert _q(a, "prepare s1(int) as select $1 * 10") == "PREPARE"
    assert _q(b, "prepare s1(int) as select $1 * 1000") == "PREPARE"
    assert _q(b, "prepare s2 as select 'b2'") == "PREPARE"
    assert _pid(b) == seesaw.free_pid
    assert _q(a, "discard all") == "DISCARD ALL"
    assert _is_26000(_sql_error(a, "execute s1(1)"), "s1")
    assert _q(b, "execute s1(2)") == [(2000,)]
    assert _q(b, "execute s2") == [("b2",)]
    seesaw.flip()
    assert _q(b, "execute s1(3)") == [(3000,)]
    # DISCARD ALL in a transaction block fails and forgets nothing
    assert _q(a, "prepare s1(int) as select $1 * 12") == "PREPARE"
    a.autocommit = False
    assert _q(a, "execute s1(1)") == [(12,)]
    assert _sql_error(a, "discard all").pgcode == "25001"
    a.rollback()
    a.autocommit = True
    assert _q(a, "execute s1(2)") == [(24,)]
    seesaw.flip()
    assert _q(a, "execute s1(3)") == [(36,)]
    assert _q(b, "execute s1(3)") == [(3000,)]

    assert_log_clean(scene.log, [
        ("ERROR", not_exist("s1"), re.escape("execute s1(1)"), 1),
        ("ERROR", re.escape("DISCARD ALL cannot run inside a transaction block"), None, 1),
    ])
