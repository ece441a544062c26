"""Hostile clients against statement isolation and bounded resources.

Unless a test says otherwise the pool has ONE server connection
(transaction mode, default_pool_size=1, max_prepared_statements=100), so
every client below shares that backend with every other. Each test plays one
attack from a raw protocol client ("B") and then checks that the other
clients ("A", or a steady `Victim` with its own named statement) still get
their own answers, and that the pooler still serves a fresh client.

The contract (docs/architecture.md, "Prepared statements in transaction
mode"): a client's statement names are its own, the shared `usher_<N>`
statements are unreachable by name, nothing a client sends may remove or run
another client's statement, what a client makes the pooler hold is bounded
(in bytes and in time), and a server is never held without a deadline.

Sections:
  1. DEALLOCATE ALL / DISCARD ALL that the SQL inspection does not see
  2. EXPLAIN EXECUTE and CREATE TABLE AS EXECUTE
  3. No SQL injection through startup-parameter replay
  4. Bounded memory for what a client sends
  5. Server errors between 256 KiB and 1 MiB
  6. The unnamed statement is per client
  7. No server held without a deadline
  8. A waiting client that disconnects is forgotten
  9. Long pipelines

Tests marked usher_only rely on behaviour PgBouncer 1.18 lacks (its docstring
says what PgBouncer does); the others were validated with POOLER=pgbouncer.
No test asserts a duration: waits are bounded, assertions are on values,
orderings, SQLSTATEs and memory growth.
"""

import socket
import struct
import threading
import time

import pytest

from expectations import check_message, check_sqlstate
from harness import clients, util, wire

MiB = 1 << 20

# Generous: Usher is an ASan build and the allocator keeps freed memory in
# quarantine; what is bounded is "not proportional to what the client sent".
RSS_GROWTH_LIMIT = 48 * MiB

UNNAMED_MISSING = "unnamed prepared statement does not exist"


# ================================================================ helpers
def missing(name):
    return f'prepared statement "{name}" does not exist'


@pytest.fixture
def p(pooler, kind):
    return make_pooler(pooler, kind)


def make_pooler(pooler, kind, **extra):
    """Pool of one server connection; named statements on for Usher
    (PgBouncer 1.18 does not know max_prepared_statements)."""
    ini = {"query_wait_timeout": 30}
    if kind == "usher":
        ini["max_prepared_statements"] = 100
    ini.update(extra)
    return pooler(pool_mode="transaction", default_pool_size=1, extra_ini=ini)


def login(p, params=None, timeout=20):
    conn, msgs, err = clients.raw_login(p, params=params, timeout=timeout)
    assert err is None, err
    return conn


def run(conn, *messages, timeout=None):
    """Sends the messages in one write; returns everything up to the
    ReadyForQuery of the last Sync/Query among them (bounded wait)."""
    conn.send(b"".join(messages))
    expected = sum(1 for m in messages if m[:1] in (b"S", b"Q"))
    out = []
    for _ in range(expected):
        out += conn.read_until({b"Z"}, timeout)
    return out


def value(msgs):
    assert not wire.errors_of(msgs), wire.errors_of(msgs)
    rows = wire.rows_of(msgs)
    assert len(rows) == 1, msgs
    return rows[0][0]


def sqlstate(msgs):
    errs = wire.errors_of(msgs)
    assert len(errs) == 1, msgs
    return errs[0]["C"], errs[0]["M"]


def command_tags(msgs):
    return [body.rstrip(b"\0").decode() for tag, body in msgs if tag == b"C"]


def no_errors(msgs):
    errs = wire.errors_of(msgs)
    assert not errs, errs
    return msgs


def table_exists(pg, name):
    return pg.sql("select count(*) from pg_class where relname = %s", (name,), db="appdb")[0][0] > 0


def drop_table(pg, name):
    pg.sql(f"drop table if exists {name}", db="appdb")


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class RssSampler:
    """Samples the pooler's VmRSS every 20 ms while the block runs;
    growth() is the peak minus the value at entry."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        try:
            self.peak = max(self.peak, rss(self.pid))
        except (OSError, AssertionError):
            pass

    def _run(self):
        while not self._stop.wait(0.02):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def growth(self):
        return self.peak - self.base

    def check(self, limit=RSS_GROWTH_LIMIT, what=""):
        assert self.growth() < limit, (
            f"pooler RSS grew by {self.growth() / MiB:.1f} MiB {what} "
            f"({self.base / MiB:.1f} -> {self.peak / MiB:.1f} MiB)")


class Victim:
    """A well-behaved client on the shared server. On Usher it also holds a
    named statement (PgBouncer 1.18 cannot keep one across transactions);
    check() runs a simple query and, on Usher, its statement, and asserts
    that each answer is its own."""

    STATEMENT = "victim_stmt"

    def __init__(self, p, kind):
        self.conn = login(p)
        self.named = kind == "usher"
        self.n = 0
        if self.named:
            msgs = run(self.conn, wire.parse(self.STATEMENT, "select $1::int * 3 as victim"),
                       wire.sync())
            assert wire.tags_of(msgs) == "1Z", msgs
        self.check()

    def check(self, timeout=30):
        self.n += 1
        i = 1000 + self.n
        assert value(run(self.conn, wire.query(f"select {i}::int * 2"), timeout=timeout)) == str(2 * i)
        if self.named:
            msgs = run(self.conn, wire.bind(self.STATEMENT, [i]), wire.execute(), wire.sync(),
                       timeout=timeout)
            assert value(msgs) == str(3 * i)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Sender:
    """Sends payload in chunks from a thread, so that the test can read at
    the same time (or choose not to). Bounded by the socket timeout."""

    def __init__(self, conn, payload, chunk=64 * 1024, timeout=60):
        self.sent = 0
        conn.sock.settimeout(timeout)

        def send_all():
            view = memoryview(payload)
            for off in range(0, len(view), chunk):
                conn.sock.sendall(view[off:off + chunk])
                self.sent = off + len(view[off:off + chunk])
            return self.sent

        self.worker = clients.start(send_all, name="sender")

    def wait_while_progressing(self, stall=2.0, limit=20.0):
        """Returns when everything is sent, when nothing more was taken for
        `stall` seconds (the pooler stopped reading: backpressure), or after
        `limit` seconds."""
        deadline = time.monotonic() + limit
        last, last_change = self.sent, time.monotonic()
        while self.worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
            if self.sent != last:
                last, last_change = self.sent, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return

    def result(self, timeout=30):
        return self.worker.join_result(timeout)


def admin_pool(p, db="appdb", user="app"):
    rows = [r for r in p.admin("show pools") if r["database"] == db and r["user"] == user]
    assert len(rows) == 1, rows
    return rows[0]


# ======================= 1. DEALLOCATE ALL / DISCARD ALL the inspection misses
def _a_with_statement(p):
    a = login(p)
    assert wire.tags_of(run(a, wire.parse("s1", "select $1::int * 2"), wire.sync())) == "1Z"
    assert value(run(a, wire.bind("s1", [21]), wire.execute(), wire.sync())) == "42"
    return a


def _b_with_statement(p):
    b = login(p)
    assert wire.tags_of(run(b, wire.parse("b_own", "select 'b-own'"), wire.sync())) == "1Z"
    assert value(run(b, wire.bind("b_own"), wire.execute(), wire.sync())) == "b-own"
    return b


def _assert_a_unharmed(p, a):
    """A's statement still answers (no 26000 from a statement dropped behind
    its back), a new client preparing the same text works, the pooler serves."""
    for i in (1, 2, 50):
        msgs = run(a, wire.bind("s1", [i]), wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "2DCZ", msgs
        assert value(msgs) == str(2 * i)
    with login(p) as c:
        msgs = run(c, wire.parse("c_s", "select $1::int * 2"), wire.bind("c_s", [7]),
                   wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "12DCZ", msgs
        assert value(msgs) == "14"
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
@pytest.mark.parametrize("statement", ["d", ""], ids=["named", "unnamed"])
def test_deallocate_all_through_extended_protocol(p, statement):
    """B runs DEALLOCATE ALL as Parse/Bind/Execute/Sync (named or unnamed
    statement), which the SQL inspection of simple queries never sees. On a
    shared server that would drop every client's usher_<N>. It must act on
    B's statements only: B gets 1 2 C('DEALLOCATE ALL') Z, its statements are
    gone as in PostgreSQL (26000), A's still answer.

    PgBouncer 1.18 passes the statement to the server, which drops A's
    statement too (and it has no named statements across transactions)."""
    with _a_with_statement(p) as a, _b_with_statement(p) as b:
        msgs = run(b, wire.parse(statement, "DEALLOCATE ALL"), wire.bind(statement),
                   wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "12CZ", msgs
        assert command_tags(msgs) == ["DEALLOCATE ALL"]
        _assert_a_unharmed(p, a)
        assert sqlstate(run(b, wire.bind("b_own"), wire.execute(), wire.sync())) == (
            "26000", missing("b_own"))
        if statement:
            assert sqlstate(run(b, wire.bind(statement), wire.execute(), wire.sync())) == (
                "26000", missing(statement))
        # B can prepare again, and A is still fine.
        msgs = run(b, wire.parse("b_own", "select 'b-again'"), wire.bind("b_own"),
                   wire.execute(), wire.sync())
        assert value(msgs) == "b-again"
        _assert_a_unharmed(p, a)


@pytest.mark.usher_only
def test_discard_all_through_extended_protocol(p):
    """B sends an unnamed Parse of DISCARD ALL (outside a transaction
    block): it gets 1 2 C('DISCARD ALL') Z, and A's statement still answers.

    PgBouncer 1.18 runs it on the server, which drops A's statement."""
    with _a_with_statement(p) as a, _b_with_statement(p) as b:
        msgs = run(b, wire.parse("", "DISCARD ALL"), wire.bind(""), wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "12CZ", msgs
        assert command_tags(msgs) == ["DISCARD ALL"]
        _assert_a_unharmed(p, a)
        assert value(run(b, wire.query("select 'b-alive'"))) == "b-alive"


@pytest.mark.usher_only
def test_deallocate_all_at_the_end_of_a_query_over_1mib(p):
    """Simple queries over 1 MiB are not inspected for PREPARE & co; B hides
    DEALLOCATE ALL at the end of one ("select length('<1.5 MB>'); deallocate
    all"). B gets its row and the DEALLOCATE ALL tag; A's statement still
    answers.

    PgBouncer 1.18 runs both on the server (A's statement is dropped)."""
    big = "x" * (3 * MiB // 2)
    with _a_with_statement(p) as a, _b_with_statement(p) as b:
        msgs = run(b, wire.query(f"select length('{big}'); deallocate all"), timeout=30)
        no_errors(msgs)
        assert wire.rows_of(msgs) == [(str(len(big)),)]
        assert command_tags(msgs) == ["SELECT 1", "DEALLOCATE ALL"]
        _assert_a_unharmed(p, a)


@pytest.mark.usher_only
def test_deallocate_all_hidden_by_standard_conforming_strings_off(p):
    """With standard_conforming_strings off, in  select 'x\\''; deallocate
    all; --'  the backslash escapes the quote, so the server sees a SELECT
    and a DEALLOCATE ALL, while a lexer that assumes standard strings sees one
    SELECT with a literal and a comment. Whatever B gets (its row and the
    DEALLOCATE ALL tag, or a 0A000 refusal of the combination), A's statement
    still answers.

    PgBouncer 1.18 forwards it; the server drops A's statement."""
    with _a_with_statement(p) as a, _b_with_statement(p) as b:
        no_errors(run(b, wire.query("set standard_conforming_strings = off")))
        msgs = run(b, wire.query(r"select 'x\''; deallocate all; --'"))
        errs = wire.errors_of(msgs)
        if errs:
            assert [e["C"] for e in errs] == ["0A000"], errs
            assert wire.rows_of(msgs) == []
        else:
            assert wire.rows_of(msgs) == [("x'",)]
            assert command_tags(msgs) == ["SELECT 1", "DEALLOCATE ALL"]
        _assert_a_unharmed(p, a)
        no_errors(run(b, wire.query("set standard_conforming_strings = on")))
        assert value(run(b, wire.query("select 'b-alive'"))) == "b-alive"


@pytest.mark.usher_only
def test_deallocate_all_inside_a_do_block(p):
    """B runs  do $$ begin execute 'deallocate all'; end $$ : no parser in
    the pooler can see that, so the server really drops A's usher_<N>. A's
    next Bind/Execute/Sync of s1, outside a transaction block, must still
    return the right value without an error (the pooler prepares the
    statement again when the server says it is missing).

    PgBouncer 1.18: A's statement is gone (26000)."""
    with _a_with_statement(p) as a, _b_with_statement(p) as b:
        msgs = run(b, wire.query("do $$ begin execute 'deallocate all'; end $$"))
        no_errors(msgs)
        assert command_tags(msgs) == ["DO"]
        msgs = run(a, wire.bind("s1", [5]), wire.execute(), wire.sync())
        no_errors(msgs)
        assert wire.tags_of(msgs) == "2DCZ", msgs
        assert value(msgs) == "10"
        _assert_a_unharmed(p, a)


# ======================= 2. EXPLAIN EXECUTE and CREATE TABLE AS EXECUTE
def test_explain_and_ctas_execute_of_own_statement(p, pg, kind):
    """EXPLAIN [ANALYZE] EXECUTE and CREATE TABLE ... AS EXECUTE work on a
    statement the client prepared with SQL PREPARE: the name is the client's
    and must be mapped like a plain EXECUTE.

    PgBouncer 1.18 passes here only because the pool has one server (the
    PREPARE stays where it ran)."""
    drop_table(pg, "iso_ctas")
    with Victim(p, kind) as victim, login(p) as b:
        msgs = run(b, wire.query("prepare q(int) as select $1 + 1"))
        assert command_tags(no_errors(msgs)) == ["PREPARE"]
        msgs = no_errors(run(b, wire.query("explain execute q(1)")))
        plan = [r[0] for r in wire.rows_of(msgs)]
        assert plan and plan[0].startswith("Result"), plan
        msgs = no_errors(run(b, wire.query("explain (analyze, costs off) execute q(1)")))
        plan = [r[0] for r in wire.rows_of(msgs)]
        assert plan and plan[0].startswith("Result") and "actual time" in plan[0], plan
        msgs = no_errors(run(b, wire.query("create table iso_ctas as execute q(41)")))
        assert command_tags(msgs) == ["SELECT 1"]
        assert value(run(b, wire.query("select * from iso_ctas"))) == "42"
        no_errors(run(b, wire.query("drop table iso_ctas")))
        victim.check()
    clients.assert_pooler_serves(p)


THIEF_QUERIES = {
    "explain": "explain execute {}",
    "explain_analyze": "explain analyze execute {}",
    "explain_options": "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE {}",
    "ctas": "create table iso_steal as execute {}",
    "ctas_if_not_exists": "CREATE TABLE IF NOT EXISTS iso_steal AS EXECUTE {}",
    "ctas_temp": "create temp table iso_steal as execute {}",
}


@pytest.mark.usher_only
@pytest.mark.parametrize("form", sorted(THIEF_QUERIES))
def test_explain_and_ctas_cannot_reach_another_clients_statement(p, pg, kind, form):
    """B reads A's server-side name from pg_prepared_statements and names
    it in EXPLAIN ANALYZE EXECUTE / CREATE TABLE AS EXECUTE (which would run
    A's statement and copy its result into B's table). B gets 26000 for the
    name it wrote, no row of A's, no table; A's statement is untouched.

    PgBouncer 1.18 has no usher_<N> names (and no shared statements)."""
    drop_table(pg, "iso_steal")
    with Victim(p, kind) as victim, login(p) as a, login(p) as b:
        msgs = run(a, wire.parse("a_secret", "select 'secret-a'::text as v"), wire.bind("a_secret"),
                   wire.execute(), wire.sync())
        assert value(msgs) == "secret-a"
        rows = wire.rows_of(no_errors(run(b, wire.query(
            "select name from pg_prepared_statements "
            "where name like 'usher%' and statement like '%secret-a%'"))))
        assert len(rows) == 1, rows
        (name,) = rows[0]
        msgs = run(b, wire.query(THIEF_QUERIES[form].format(name)))
        assert wire.rows_of(msgs) == [], msgs
        assert b"secret-a" not in b"".join(body for _, body in msgs)
        assert sqlstate(msgs) == ("26000", missing(name))
        assert not table_exists(pg, "iso_steal")
        # The server's statement is untouched and still A's.
        assert value(run(a, wire.bind("a_secret"), wire.execute(), wire.sync())) == "secret-a"
        rows = wire.rows_of(run(b, wire.query(
            f"select count(*) from pg_prepared_statements where name = '{name}'")))
        assert rows == [("1",)]
        victim.check()
    drop_table(pg, "iso_steal")
    clients.assert_pooler_serves(p)


# ======================= 3. No SQL injection through parameter replay
EVIL_APPNAME = "x\\'; create table pwned(); --"  # backslash, quote, then SQL


@pytest.mark.parametrize("first_client", ["disconnects", "stays_idle"])
def test_application_name_replay_is_not_injectable(p, pg, kind, first_client):
    """A sets standard_conforming_strings = off on the shared server (and
    leaves, or stays idle between transactions). B logs in with
    application_name  x\\'; create table pwned(); --  . When the pooler sets
    B's application_name on that server, quoting that ignores backslash
    escapes would end the literal early and run B's SQL. B must read back
    exactly what it sent, and table pwned must not exist. A that stays keeps
    its own standard_conforming_strings (and, on Usher, its empty
    application_name).

    PgBouncer 1.18 passes (it quotes with E'' and doubled backslashes), but
    shows B's application_name to A (see test_startup's
    test_unset_application_name_does_not_leak), so that check is Usher's."""
    drop_table(pg, "pwned")
    a = login(p)
    try:
        no_errors(run(a, wire.query("set standard_conforming_strings = off")))
        assert value(run(a, wire.query("show standard_conforming_strings"))) == "off"
        if first_client == "disconnects":
            a.close()
        with login(p, params={"application_name": EVIL_APPNAME}) as b:
            shown = value(run(b, wire.query("show application_name")))
            assert not table_exists(pg, "pwned"), (
                f"B's application_name ran as SQL: table pwned exists, B reads {shown!r}")
            assert shown == EVIL_APPNAME
            assert value(run(b, wire.query("select current_setting('application_name')"))) == EVIL_APPNAME
            if first_client == "stays_idle":
                assert value(run(a, wire.query("show standard_conforming_strings"))) == "off"
                if kind == "usher":
                    assert value(run(a, wire.query("show application_name"))) == ""
                assert value(run(b, wire.query("show application_name"))) == EVIL_APPNAME
    finally:
        a.close()
        drop_table(pg, "pwned")
    assert not table_exists(pg, "pwned")
    clients.assert_pooler_serves(p)


def test_timezone_replay_is_not_injectable(p, pg):
    """The same with a TimeZone startup parameter  UTC\\'; create table
    pwned_tz(); --  . It is not a valid time zone, so B may be refused (at
    login or at its first query) or told so; what must never happen is the
    table. A, idle on the shared server with standard_conforming_strings off,
    keeps its own TimeZone.

    PgBouncer 1.18 passes (B gets 22023 for the invalid value)."""
    evil = "UTC\\'; create table pwned_tz(); --"
    drop_table(pg, "pwned_tz")
    with login(p, params={"TimeZone": "Europe/Paris"}) as a:
        no_errors(run(a, wire.query("set standard_conforming_strings = off")))
        b, msgs, err = clients.raw_login(p, params={"TimeZone": evil}, timeout=20)
        with b:
            if err is None:
                try:
                    msgs = run(b, wire.query("show timezone"), timeout=20)
                    rows = wire.rows_of(msgs)
                    assert rows in ([], [(evil,)]), rows
                except wire.Closed:
                    pass
        assert not table_exists(pg, "pwned_tz"), "B's TimeZone ran as SQL"
        assert value(run(a, wire.query("show timezone"))) == "Europe/Paris"
        assert value(run(a, wire.query("show standard_conforming_strings"))) == "off"
    drop_table(pg, "pwned_tz")
    clients.assert_pooler_serves(p)


# ======================= 4. Bounded memory for what a client sends
def test_bind_declaring_almost_1gib_is_not_buffered(p, kind):
    """B prepares a statement and sends a Bind whose header declares a
    length just under 1 GiB (0x3fff0000), then 200 MiB of its body in 1 MiB
    chunks, and closes. The pooler must stream (or refuse) it, not collect
    it: its RSS grows by less than 48 MiB. The victim is then served
    (the server that got half a message must not come back to the pool).
    PostgreSQL may allocate for the message itself: not checked.

    PgBouncer 1.18 passes (it streams large packets)."""
    total = 0x3FFF0000
    with Victim(p, kind) as victim:
        b = login(p)
        assert wire.tags_of(run(b, wire.parse("big", "select length($1::text)"), wire.sync())) == "1Z"
        # Bind: portal "", statement "big", no formats, one text parameter
        # that fills the declared length.
        head = b"\0big\0" + struct.pack("!hh", 0, 1)
        param_len = total - 4 - len(head) - 4 - 2
        header = b"B" + struct.pack("!I", total) + head + struct.pack("!i", param_len)
        chunk = b"y" * MiB
        sent = 0
        with RssSampler(p.pid) as sampler:
            b.sock.settimeout(10)
            deadline = time.monotonic() + 60
            try:
                b.sock.sendall(header)
                for _ in range(200):
                    if time.monotonic() > deadline:
                        break
                    b.sock.sendall(chunk)
                    sent += 1
            except (socket.timeout, OSError):
                pass  # the pooler stopped reading or refused: fine
            time.sleep(0.3)
            b.close()
            time.sleep(0.3)
        sampler.check(what=f"after {sent} MiB of one Bind message")
        victim.check()
    clients.assert_pooler_serves(p)


def test_made_up_answers_are_bounded(p, kind):
    """B sends Query('select pg_sleep(1)') and then, without reading,
    300,000 Close('S', 'nope') and a Sync. A pooler that answers Close
    itself must queue those answers behind the query's and not without bound
    (it can stop reading B meanwhile). B then reads every CloseComplete and
    the final ReadyForQuery, in order after the query's answer; RSS grows by
    less than 48 MiB; the victim is fine.

    PgBouncer 1.18 passes (the server answers each Close)."""
    n = 300_000
    per_chunk = 10_000
    with Victim(p, kind) as victim, login(p) as b:
        with RssSampler(p.pid) as sampler:
            b.send(wire.query("select pg_sleep(1)"))
            payload = wire.close("S", "nope") * n + wire.sync()
            s = Sender(b, payload, chunk=len(wire.close("S", "nope")) * per_chunk)
            # Do not read while the pooler takes what it will.
            s.wait_while_progressing()
            counts, kept = b.read_stream({b"Z"}, 2, timeout=120)
            assert s.result() == len(payload)
        assert counts.get(b"E", 0) == 0, [wire.parse_fields(body) for t, body in kept if t == b"E"]
        assert counts.get(b"3", 0) == n, counts
        # The query's answer first, then every CloseComplete, then the Sync's.
        assert wire.tags_of(kept) == "TDCZ" + "3" * n + "Z", counts
        assert command_tags(kept) == ["SELECT 1"]
        # Nothing was left over after the final ReadyForQuery.
        assert value(run(b, wire.query("select 'b-after'"))) == "b-after"
        sampler.check(what=f"while {n} Close answers were pending")
        victim.check()
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_named_parse_over_1mib_is_refused(p, kind):
    """A named Parse of a 5 MiB query text gets ErrorResponse 54000
    (program_limit_exceeded): statements are shared between servers and
    kept at most 1 MiB each. After Sync the connection is usable, the name
    was not registered, and RSS grew by less than 48 MiB.

    PgBouncer 1.18 forwards it and the server prepares it (ParseComplete)."""
    text = "select length('" + "x" * (5 * MiB) + "')"
    with Victim(p, kind) as victim, login(p) as b:
        with RssSampler(p.pid) as sampler:
            msgs = run(b, wire.parse("huge", text), wire.sync(), timeout=60)
        assert wire.tags_of(msgs) == "EZ", wire.tags_of(msgs)
        err = wire.errors_of(msgs)[0]
        assert err["C"] == "54000", err
        assert msgs[-1][1] == b"I"
        assert value(run(b, wire.query("select 'b-after'"))) == "b-after"
        assert sqlstate(run(b, wire.bind("huge"), wire.execute(), wire.sync())) == (
            "26000", missing("huge"))
        sampler.check(what="for one 5 MiB Parse")
        victim.check()
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_statement_text_per_client_is_bounded(p, kind):
    """B prepares distinct named statements of ~100 KB of text each (at
    most 400 of them, 40 MB). Before that, a Parse is refused with 54000
    (a per-client budget of 16 MiB of statement text); after that B's
    existing statements still answer, B's session is usable, the victim is
    fine.

    PgBouncer 1.18 forwards every Parse; the server keeps them all."""
    filler = "x" * 100_000
    with Victim(p, kind) as victim, login(p) as b:
        refused = None
        for i in range(400):
            msgs = run(b, wire.parse(f"big{i}", f"select {i} as n, length('{filler}') as l"),
                       wire.sync())
            errs = wire.errors_of(msgs)
            if errs:
                refused = (i, errs[0])
                break
            assert wire.tags_of(msgs) == "1Z", msgs
        assert refused is not None, "400 statements of 100 KB (40 MB) all accepted"
        i, err = refused
        assert err["C"] == "54000", err
        # Not absurdly early: 16 MiB holds ~167 of them.
        assert i >= 80, f"refused already at statement {i}"
        for j in (0, i // 2, i - 1):
            msgs = run(b, wire.bind(f"big{j}"), wire.execute(), wire.sync())
            assert wire.rows_of(no_errors(msgs)) == [(str(j), "100000")]
        assert sqlstate(run(b, wire.bind(f"big{i}"), wire.execute(), wire.sync())) == (
            "26000", missing(f"big{i}"))
        assert value(run(b, wire.query("select 'b-after'"))) == "b-after"
        victim.check()
    clients.assert_pooler_serves(p)


# ======================= 5. Server errors between 256 KiB and 1 MiB
@pytest.mark.parametrize("size", [300_000, 900_000])
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_large_server_error_does_not_hang(p, kind, size, protocol):
    """'invalid input syntax for type integer: "aaa..."' quotes the whole
    value: an ErrorResponse of 300 KB or 900 KB. The client gets it (22P02)
    within a bounded wait and its next query on the same connection works.

    PgBouncer 1.18 passes."""
    with Victim(p, kind) as victim, login(p) as b:
        try:
            if protocol == "simple":
                msgs = run(b, wire.query(f"select repeat('a', {size})::int"), timeout=15)
            else:
                msgs = run(b, wire.parse("", "select repeat('a', $1::int)::int"),
                           wire.bind("", [size]), wire.execute(), wire.sync(), timeout=15)
        except TimeoutError:
            pytest.fail(f"no answer within 15 s to a query failing with a {size}-byte error: "
                        "session hung")
        code, message = sqlstate(msgs)
        assert code == "22P02"
        assert message.count("a") >= size
        assert msgs[-1] == (b"Z", b"I")
        assert value(run(b, wire.query("select 'next'"), timeout=30)) == "next"
        victim.check()
    clients.assert_pooler_serves(p)


# ======================= 6. The unnamed statement is per client
@pytest.mark.usher_only
def test_unnamed_statement_of_another_client_is_unreachable(p):
    """A parses an unnamed statement and stays connected; B, which never
    parsed one, sends Bind('')/Execute/Sync on the shared server: it gets
    26000 'unnamed prepared statement does not exist', never A's row. A's
    Bind('') still returns its row.

    PgBouncer 1.18: B runs A's statement and reads 'secret-a'."""
    with login(p) as a, login(p) as b:
        assert wire.tags_of(run(a, wire.parse("", "select 'secret-a'"), wire.sync())) == "1Z"
        msgs = run(b, wire.bind(""), wire.execute(), wire.sync())
        assert wire.rows_of(msgs) == [], "B read A's unnamed statement"
        assert sqlstate(msgs) == ("26000", UNNAMED_MISSING)
        assert value(run(a, wire.bind(""), wire.execute(), wire.sync())) == "secret-a"
        assert value(run(b, wire.query("select 'b-alive'"))) == "b-alive"
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_describe_of_another_clients_unnamed_statement(p):
    """Describe('S', '') from B, which never parsed an unnamed statement,
    must not describe A's (parameter types, columns): 26000 as in PostgreSQL.

    PgBouncer 1.18 describes A's statement."""
    with login(p) as a, login(p) as b:
        run(a, wire.parse("", "select $1::int as secret_column"), wire.sync())
        msgs = run(b, wire.describe("S", ""), wire.sync())
        assert b"secret_column" not in b"".join(body for _, body in msgs)
        assert sqlstate(msgs) == ("26000", UNNAMED_MISSING)
        assert value(run(a, wire.bind("", [4]), wire.execute(), wire.sync())) == "4"
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_simple_query_drops_only_the_clients_own_unnamed_statement(p):
    """A and B each parse an unnamed statement; A then runs a simple query,
    which in PostgreSQL drops the session's unnamed statement. A's Bind('')
    gets 26000 (no replay of a statement PostgreSQL would have dropped);
    B's Bind('') still returns B's row.

    PgBouncer 1.18: B's Bind('') gets 26000 (A's query dropped the server's
    unnamed statement, which was B's)."""
    with login(p) as a, login(p) as b:
        run(a, wire.parse("", "select 'a-row'"), wire.sync())
        run(b, wire.parse("", "select 'b-row'"), wire.sync())
        assert value(run(a, wire.query("select 'a-simple'"))) == "a-simple"
        msgs = run(a, wire.bind(""), wire.execute(), wire.sync())
        assert wire.rows_of(msgs) == [], msgs
        assert sqlstate(msgs) == ("26000", UNNAMED_MISSING)
        assert value(run(b, wire.bind(""), wire.execute(), wire.sync())) == "b-row"
    clients.assert_pooler_serves(p)


# ======================= 7. No server held without a deadline
@pytest.mark.usher_only
def test_unsynced_extended_exchange_hits_idle_transaction_timeout(pooler, kind):
    """idle_transaction_timeout=2. B sends Parse/Bind/Execute of 'select 1'
    without Sync (the only server is now B's until a Sync) and goes silent.
    B is disconnected with the idle-transaction error (25P03) within a
    bounded wait, and A, waiting for the server, then gets its answer.

    PgBouncer 1.18 fails this: the server never said "in transaction"
    (no ReadyForQuery yet), so idle_transaction_timeout does not apply; B
    holds the only server for as long as it stays silent and A waits."""
    p = make_pooler(pooler, kind, idle_transaction_timeout=2)
    with Victim(p, kind) as victim, login(p) as a, login(p) as b:
        b.send(wire.parse("", "select 1") + wire.bind("") + wire.execute())
        time.sleep(0.5)
        a.send(wire.query("select 'a-served'"))
        try:
            msgs = b.read_until({b"E"}, timeout=20)
        except (TimeoutError, wire.Closed) as e:
            pytest.fail(f"B, silent mid-exchange, was not disconnected with an error: {e!r}")
        err = wire.errors_of(msgs)[0]
        check_sqlstate(kind, "idle_transaction_timeout", err["C"])
        check_message("idle_transaction_timeout", err["M"])
        assert b.expect_closed(10)
        assert value(a.read_until({b"Z"}, timeout=20)) == "a-served"
        victim.check()
    clients.assert_pooler_serves(p)


def _active_sleepers(pg, marker):
    return pg.sql(
        "select count(*) from pg_stat_activity where state = 'active' "
        "and pid <> pg_backend_pid() and query like %s", (f"%{marker}%",))[0][0]


def _terminate_sleepers(pg, marker):
    pg.sql("select pg_terminate_backend(pid) from pg_stat_activity "
           "where pid <> pg_backend_pid() and query like %s", (f"%{marker}%",))


@pytest.mark.usher_only
def test_query_timeout_cancels_the_query_on_the_server(pooler, pg, kind):
    """query_timeout=1 and B runs pg_sleep(60). B gets 57014 'query
    timeout', and within a bounded wait the backend no longer runs it
    (pg_stat_activity, read on PostgreSQL directly): the pooler cancelled the
    query instead of only closing sockets.

    PgBouncer 1.18 closes the server connection without a CancelRequest; the
    backend sleeps on until pg_sleep ends."""
    marker = "pg_sleep(60.0001)"
    p = make_pooler(pooler, kind, query_timeout=1)
    try:
        with Victim(p, kind) as victim, login(p) as b:
            b.send(wire.query(f"select {marker}"))
            try:
                msgs = b.read_until({b"E"}, timeout=20)
            except (TimeoutError, wire.Closed) as e:
                pytest.fail(f"no query timeout error for B: {e!r}")
            err = wire.errors_of(msgs)[0]
            check_sqlstate(kind, "query_timeout", err["C"])
            check_message("query_timeout", err["M"])
            try:
                util.wait_until(lambda: _active_sleepers(pg, marker) == 0, 15,
                                what="the timed-out query to stop on the server")
            except TimeoutError:
                pytest.fail("the query still runs on PostgreSQL 15 s after its query_timeout")
            victim.check()
        clients.assert_pooler_serves(p)
    finally:
        _terminate_sleepers(pg, marker)


def test_query_timeout_with_an_unread_large_result(pooler, pg, kind):
    """query_timeout=2. B starts a ~200 MB result and never reads it (the
    server blocks on a full socket). B is disconnected, the server comes
    back to the pool (or is replaced): A gets served, and PostgreSQL has at
    most one backend for the pool's user afterwards.

    PgBouncer 1.18 passes."""
    p = make_pooler(pooler, kind, query_timeout=2)
    with Victim(p, kind) as victim, login(p) as a, login(p) as b:
        b.send(wire.query("select repeat('x', 1000) from generate_series(1, 200000)"))
        time.sleep(0.5)
        a.send(wire.query("select 'a-served'"))
        try:
            assert value(a.read_until({b"Z"}, timeout=30)) == "a-served"
        except TimeoutError:
            pytest.fail("A was not served: B's unread result holds the only server")
        util.wait_until(lambda: len(pg.backend_pids(db="appdb", user="app")) <= 1, 15,
                        what="at most one backend for the pool")
        # B was disconnected: what it can still read is finite and ends in EOF.
        assert b.expect_closed(20), "B still connected after its query timed out"
        victim.check()
    clients.assert_pooler_serves(p)


# ======================= 8. A waiting client that disconnects is forgotten
def _iso_wait_table(pg):
    drop_table(pg, "iso_wait")
    pg.sql("create table iso_wait (v int)", db="appdb")
    pg.sql("grant all on iso_wait to app", db="appdb")


def _hold_and_queue_insert(p, a):
    """A opens a transaction on the only server; B queues an INSERT behind
    it and closes its socket while waiting."""
    assert run(a, wire.query("begin; select 1"))[-1] == (b"Z", b"T")
    b = login(p)
    b.send(wire.query("insert into iso_wait values (1)"))
    util.wait_until(lambda: admin_pool(p)["cl_waiting"] == 1, 10, what="B waiting")
    b.close()


def _assert_insert_never_ran(pg, victim):
    # A later query on the pool is served after anything queued before it.
    assert value(run(victim.conn, wire.query("select 'after'"))) == "after"
    time.sleep(0.5)
    assert pg.sql("select count(*) from iso_wait", db="appdb")[0][0] == 0, (
        "the INSERT of a client that had left was run")


def test_waiting_client_that_disconnects_is_never_run(p, pg, kind):
    """A holds the only server in an open transaction; B sends an INSERT
    (it waits for a server) and closes its socket. After A commits, B's
    INSERT is never sent to the server.

    PgBouncer 1.18 passes."""
    _iso_wait_table(pg)
    with Victim(p, kind) as victim:
        with login(p) as a:
            _hold_and_queue_insert(p, a)
            time.sleep(0.5)  # let the pooler see the close, if it watches
            assert run(a, wire.query("commit"))[-1] == (b"Z", b"I")
        _assert_insert_never_ran(pg, victim)
        victim.check()
    drop_table(pg, "iso_wait")
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_waiting_client_that_disconnects_leaves_the_queue(p, pg, kind):
    """The same, checked while A still holds the server: SHOW POOLS'
    cl_waiting drops back to 0 within a bounded wait (the pooler watches
    waiting clients' sockets), and the INSERT is never run after A commits.

    PgBouncer 1.18 keeps counting the client in cl_waiting until a server
    frees (it does not watch a waiting client's socket); it does not run the
    INSERT."""
    _iso_wait_table(pg)
    with Victim(p, kind) as victim:
        with login(p) as a:
            _hold_and_queue_insert(p, a)
            waiting_after_close = None
            try:
                util.wait_until(lambda: admin_pool(p)["cl_waiting"] == 0, 10,
                                what="cl_waiting back to 0")
            except TimeoutError:
                waiting_after_close = admin_pool(p)["cl_waiting"]
            assert run(a, wire.query("commit"))[-1] == (b"Z", b"I")
        _assert_insert_never_ran(pg, victim)
        assert waiting_after_close is None, (
            f"cl_waiting still {waiting_after_close} 10 s after the waiting client left")
        victim.check()
    drop_table(pg, "iso_wait")
    clients.assert_pooler_serves(p)


# ======================= 9. Long pipelines
def test_pipeline_of_20000_binds_and_one_sync(p, kind):
    """A legitimate pipeline: 20,000 Bind/Execute pairs of one named
    statement and a single Sync, sent in chunks while a reader takes the
    answers (neither side may deadlock). Whatever bound the pooler puts on
    pipeline depth, the client gets exactly 20,000 BindComplete, DataRow and
    CommandComplete with the right values, then ReadyForQuery.

    PgBouncer 1.18 passes."""
    n = 20_000
    with Victim(p, kind) as victim, login(p) as b:
        run(b, wire.parse("pipe", "select $1::int * 2"), wire.sync())
        payload = b"".join(wire.bind("pipe", [i]) + wire.execute() for i in range(n)) + wire.sync()
        s = Sender(b, payload)
        counts, kept = b.read_stream({b"Z"}, 1, timeout=120, keep={b"D", b"E"})
        assert s.result() == len(payload)
        errs = [wire.parse_fields(body) for t, body in kept if t == b"E"]
        assert errs == []
        assert counts == {b"2": n, b"D": n, b"C": n, b"Z": 1}, counts
        values = [int(r[0]) for r in wire.rows_of(kept)]
        assert values == [2 * i for i in range(n)]
        assert value(run(b, wire.bind("pipe", [5]), wire.execute(), wire.sync())) == "10"
        victim.check()
    clients.assert_pooler_serves(p)


# ---------------------------------------------------------------------------
# Regressions from an attacker's review of the isolation work: each one
# reached another client's statement, or made Usher spend memory or time,
# before it was fixed. All usher_only (they exercise Usher's statement
# translation). The victim holds `v` = usher_N; the attacker learns N from
# pg_prepared_statements, as any client of the pool can.


def _server_name_of(conn, fragment):
    rows = wire.rows_of(run(conn, wire.query(
        f"select name from pg_prepared_statements where statement like '%{fragment}%'")))
    assert rows, "the victim's statement is not on the server"
    return rows[0][0]


def _named_victim(p):
    v = login(p)
    assert wire.tags_of(run(v, wire.parse("v", "select $1::int * 3 as v"), wire.sync())) == "1Z"
    assert value(run(v, wire.bind("v", [5]), wire.execute(), wire.sync())) == "15"
    return v


def _raw_parse(name, sql, count):
    """A Parse declaring `count` int4 parameter types (the count is unsigned
    on the wire: up to 65,535)."""
    body = name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!H", count)
    return wire.message(b"P", body + struct.pack("!I", 23) * count)


@pytest.mark.usher_only
def test_skipped_replay_of_an_unnamed_statement_does_not_hand_over_anothers(pooler, kind):
    """B's Bind("") made Usher replay B's unnamed Parse, but an error before
    it made the server skip the replay; Usher still took the server's unnamed
    statement (A's) for B's, and B's next Bind("") ran A's."""
    p = make_pooler(pooler, kind)
    a, b = login(p), login(p)
    run(b, wire.parse("", "select 'b-own'::text"), wire.sync())
    run(a, wire.parse("", "select 'secret-of-a'::text"), wire.bind(""), wire.execute(),
        wire.sync())
    run(b, wire.bind("nope"), wire.bind(""), wire.sync())
    assert value(run(b, wire.bind(""), wire.execute(), wire.sync())) == "b-own"
    # The same within one batch: a Parse skipped after an error, then a Sync.
    run(a, wire.parse("", "select 'secret-of-a'::text"), wire.bind(""), wire.execute(),
        wire.sync())
    msgs = run(b, wire.bind("nope"), wire.parse("", "select 'b-new'::text"), wire.sync(),
               wire.bind(""), wire.execute(), wire.sync())
    assert ("secret-of-a",) not in wire.rows_of(msgs)


@pytest.mark.usher_only
def test_standard_conforming_strings_flip_cannot_smuggle_statements(pooler, kind):
    """A PREPARE whose text is one statement under one setting of
    standard_conforming_strings and three under the other: read with the
    wrong setting (Usher's default, or the setting before a flip in the same
    batch), the smuggled DEALLOCATE and PREPARE replaced the victim's
    statement. Usher now refuses a query that reads differently by it."""
    p = make_pooler(pooler, kind)
    v = _named_victim(p)
    a = login(p)
    k = _server_name_of(a, "* 3 as v")
    run(a, wire.query("set standard_conforming_strings = off"))
    # With it on, one string literal; with it off, 'q\'' ends and two
    # statements follow.
    evil = (f"PREPARE a1 AS SELECT 'q\\''; DEALLOCATE {k}; "
            f"PREPARE {k}(int) AS SELECT $1 * 1000 + 666 AS v; --'")
    assert sqlstate(run(a, wire.query(evil)))[0] == "0A000"
    run(a, wire.query("set standard_conforming_strings = on"), wire.query("execute a1"))
    assert value(run(v, wire.bind("v", [7]), wire.execute(), wire.sync())) == "21"


@pytest.mark.usher_only
def test_execute_after_pipelined_rollback_cannot_reach_another_statement(pooler, kind):
    """In a failed transaction Usher passed EXECUTE on as written (the server
    refuses it anyway); a ROLLBACK pipelined just before made it run."""
    p = make_pooler(pooler, kind)
    _named_victim(p)
    a = login(p)
    k = _server_name_of(a, "* 3 as v")
    run(a, wire.query("begin"))
    run(a, wire.query("select 1/0"))
    msgs = run(a, wire.query("rollback"), wire.query(f"execute {k}(4)"))
    assert ("12",) not in wire.rows_of(msgs)
    assert sqlstate(msgs)[0] == "26000"


@pytest.mark.usher_only
def test_query_ignored_while_skipping_to_sync_does_not_pin_the_server(pooler, kind):
    """PostgreSQL ignores a Query sent after an extended-protocol error until
    the Sync; Usher counted its ReadyForQuery as due forever and kept the
    server. The next client must get the server (and A be let go)."""
    p = make_pooler(pooler, kind, idle_transaction_timeout=1, query_wait_timeout=10)
    a = login(p)
    a.send(wire.bind("nope") + wire.query("select 1"))
    a.read_until({b"E"})
    a.send(wire.sync())
    a.read_until({b"Z"})
    c = login(p)
    assert value(run(c, wire.query("select 'c'"), timeout=8)) == "c"


@pytest.mark.usher_only
def test_sjis_trail_byte_cannot_hide_an_execute(pooler, kind):
    """0x95 0x5C is one character in SJIS; read as bytes, the 0x5C escaped
    the quote and hid an EXECUTE of the victim's statement."""
    p = make_pooler(pooler, kind)
    _named_victim(p)
    a = login(p, params={"client_encoding": "SJIS"})
    k = _server_name_of(a, "* 3 as v")
    raw = b"SELECT E'\x95\x5c' AS x; EXECUTE " + k.encode() + b"(4); --'"
    msgs = run(a, wire.message(b"Q", raw + b"\0"))
    assert ("12",) not in wire.rows_of(msgs)
    assert sqlstate(msgs)[0] == "0A000"


@pytest.mark.usher_only
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_deep_expression_cannot_pass_unclassified(pooler, kind, protocol):
    """An EXECUTE whose arguments nest deeper than the JSON reader's default
    limit failed to classify and was passed on as written."""
    p = make_pooler(pooler, kind)
    _named_victim(p)
    a = login(p)
    k = _server_name_of(a, "* 3 as v")
    deep = "1"
    for _ in range(40):
        deep = f"1+({deep})"
    sql = f"EXECUTE {k}({deep})"
    if protocol == "simple":
        msgs = run(a, wire.query(sql))
    else:
        msgs = run(a, wire.parse("x", sql), wire.bind("x"), wire.execute(), wire.sync())
    assert not any(row[0] == "123" for row in wire.rows_of(msgs))
    assert wire.errors_of(msgs)


@pytest.mark.usher_only
def test_parse_with_more_than_32767_types_is_not_passed_as_written(pooler, kind):
    """Usher read the parameter count as signed, called the Parse malformed
    and passed it on: the server created a statement under the client's own
    name (or one of Usher's)."""
    p = make_pooler(pooler, kind)
    _named_victim(p)
    a = login(p)
    k = _server_name_of(a, "* 3 as v")
    for name in ("x", "usher_999"):
        msgs = run(a, _raw_parse(name, f"EXECUTE {k}(4)", 40000), wire.sync(), timeout=30)
        assert wire.errors_of(msgs)
    names = {row[0] for row in wire.rows_of(run(a, wire.query(
        "select name from pg_prepared_statements")))}
    assert names <= {k} | {n for n in names if n.startswith("usher_") and n != "usher_999"}
    c = login(p)
    msgs = run(c, wire.bind("x"), wire.execute(), wire.sync())
    assert sqlstate(msgs)[0] == "26000"


@pytest.mark.usher_only
def test_error_quoting_a_name_many_times_is_not_blown_up(pooler, kind):
    """An error that quotes Usher's name for the statement many times (the
    client's own parameter value, say) was rewritten to quote the client's
    50 kB name each time: a 9 kB request became a 50 MB error."""
    p = make_pooler(pooler, kind)
    a = login(p)
    name = "N" * 50_000
    assert wire.tags_of(run(a, wire.parse(name, "select $1::int as marker"), wire.sync())) == "1Z"
    k = _server_name_of(a, "as marker")
    with RssSampler(p.pid) as s:
        msgs = run(a, wire.bind(name, [f'"{k}" ' * 1000]), wire.execute(), wire.sync(),
                   timeout=60)
    errs = [body for tag, body in msgs if tag == b"E"]
    assert errs and len(errs[0]) < 64 * 1024
    s.check(what="for one oversized error")


@pytest.mark.usher_only
def test_large_candidate_query_is_not_parsed_whole(pooler, kind):
    """A 1 MB query that only looks like one of ours (a keyword after a ';')
    went through PostgreSQL's parser whole: about 1 GB of parse tree in
    Usher. It is now split by PostgreSQL's scanner and its big statement is
    left alone; the server answers it."""
    p = make_pooler(pooler, kind)
    a = login(p)
    q = "SELECT " + "1," * 300000 + "1; -- execute"
    with RssSampler(p.pid) as s:
        msgs = run(a, wire.query(q), timeout=120)
    assert wire.tags_of(msgs).endswith("Z")
    s.check(what="for one 600 kB query")


@pytest.mark.usher_only
def test_registry_keeps_no_text_of_statements_nobody_holds(pooler, kind):
    """The shared registry kept each freed statement's full text until a
    sweep; with many live names the sweep came late: 1,200 short-lived
    256 kB statements grew Usher by 400 MB."""
    p = make_pooler(pooler, kind)
    a = login(p)
    for chunk in range(20):
        msgs = run(a, *[wire.parse(f"s{chunk}_{i}", f"select {chunk * 1000 + i} as small")
                        for i in range(100)], wire.sync(), timeout=60)
        assert "E" not in wire.tags_of(msgs)
    pad = "y" * (256 * 1024)
    with RssSampler(p.pid) as s:
        for i in range(600):
            msgs = run(a, wire.parse("big", f"select '{i}{pad}' as big"), wire.close("S", "big"),
                       wire.sync(), timeout=60)
            assert wire.tags_of(msgs) == "13Z"
    s.check(limit=96 * MiB, what="for 600 statements of 256 kB parsed and closed")
