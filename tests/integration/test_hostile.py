"""Hostile bytes on raw sockets. The pooler answers ErrorResponse 08P01 (or
just closes), stays up, and a concurrent well-behaved client sees nothing."""

import contextlib
import random
import socket
import struct
import threading
import time

import pytest

from expectations import PROTOCOL_VIOLATION
from harness import clients, util, wire

V3 = wire.protocol_version(3, 0)


class SteadyClient:
    """A normal client querying in a loop while the test misbehaves."""

    def __init__(self, pooler, user="app"):
        self.pooler = pooler
        self.user = user
        self.stop = threading.Event()
        self.ok = 0
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + 60
        try:
            with self.pooler.connect(user=self.user) as conn:
                i = 0
                while not self.stop.is_set() and time.monotonic() < deadline:
                    i += 1
                    row = conn.execute("select %s::int * 2", (i,)).fetchone()
                    if row != (i * 2,):
                        self.errors.append(f"wrong answer {row} for {i}")
                    self.ok += 1
                    time.sleep(0.005)
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))

    def __enter__(self):
        self.thread.start()
        util.wait_until(lambda: self.ok > 0 or self.errors, 10, what="steady client start")
        return self

    def __exit__(self, *exc):
        before = self.ok
        time.sleep(0.1)
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.errors == []
        assert self.ok > before, "steady client stalled"


def _check_refused(conn, timeout=5, allow_auth=False, allow_n=False):
    """Read what the pooler says; it must be at most an ErrorResponse with
    SQLSTATE 08P01 followed by close (a bare close is fine too).

    allow_auth: a startup packet whose tail is malformed may still yield a
    user name; PgBouncer then proceeds to authentication (AuthenticationRequest),
    which is harmless. allow_n: an SSLRequest/GSSENCRequest code with a wrong
    length may be answered 'N' (PostgreSQL does that too)."""
    errors = []
    try:
        if allow_n:
            first = conn.read_bytes(1, timeout)
            if first == b"N":
                return errors
            conn.buf = first + conn.buf  # not 'N': parse it as a message
        for _ in range(10):
            tag, body = conn.read_message(timeout)
            if tag == b"R" and allow_auth:
                return errors
            if tag == b"E":
                errors.append(wire.parse_fields(body))
            elif tag == b"N":
                continue
            else:
                pytest.fail(f"unexpected message {tag!r} after hostile input")
    except wire.Closed:
        pass
    except ValueError:
        pytest.fail("pooler sent a malformed frame")
    except TimeoutError:
        pytest.fail(f"pooler neither answered nor closed within {timeout}s")
    for e in errors:
        assert e["C"] == PROTOCOL_VIOLATION, e
        assert e["S"] in ("FATAL", "ERROR"), e
    return errors


STARTUP_GARBAGE = {
    "length_below_4": struct.pack("!I", 3) + b"xxxx",
    "length_zero": struct.pack("!I", 0) + b"\0\0\0\0",
    "length_over_1gb": struct.pack("!II", (1 << 30) + 16, V3) + b"user\0app\0",
    "length_int_max": struct.pack("!II", 0x7FFFFFFF, V3),
    "length_negative": struct.pack("!iI", -8, V3),
    "random_bytes": bytes(random.Random(42).getrandbits(8) for _ in range(300)),
    "http_request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "tls_client_hello": bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\0" * 40,
    "unterminated_params": (
        struct.pack("!II", 8 + 12, V3) + b"user\0app\0data"
    ),
    "odd_key_no_value": (
        lambda body: struct.pack("!I", len(body) + 4) + body
    )(struct.pack("!I", V3) + b"user\0app\0database\0"),
    "cancel_wrong_length": struct.pack("!III", 12, wire.CANCEL_REQUEST_CODE, 1),
    "ssl_request_wrong_length": struct.pack("!III", 12, wire.SSL_REQUEST_CODE, 0),
}


@pytest.mark.parametrize("case", sorted(STARTUP_GARBAGE))
def test_garbage_before_startup(pooler, case):
    p = pooler()
    with SteadyClient(p):
        with wire.Conn(p.host, p.port) as conn:
            conn.send(STARTUP_GARBAGE[case])
            _check_refused(
                conn,
                allow_auth=case in ("unterminated_params", "odd_key_no_value"),
                allow_n=case == "ssl_request_wrong_length",
            )
    clients.assert_pooler_serves(p)


def test_truncated_startup_then_close(pooler):
    p = pooler()
    with SteadyClient(p):
        for cut in (1, 3, 4, 7, 20):
            pkt = wire.startup_packet({"user": "app", "database": "appdb"})
            with wire.Conn(p.host, p.port) as conn:
                conn.send(pkt[:cut])
            # and one that stalls instead of closing: must not block others
        stalled = wire.Conn(p.host, p.port)
        stalled.send(wire.startup_packet({"user": "app", "database": "appdb"})[:10])
        try:
            clients.assert_pooler_serves(p)
        finally:
            stalled.close()
    clients.assert_pooler_serves(p)


def _logged_in(p):
    conn, msgs, err = clients.raw_login(p)
    assert err is None, err
    return conn


AFTER_LOGIN_GARBAGE = {
    "unknown_tag_0x01": wire.message(b"\x01", b"abc"),
    "unknown_tag_question": wire.message(b"?", b"abc"),
    "backend_tag_from_client": wire.message(b"Z", b"I"),
    "length_below_4": b"Q" + struct.pack("!I", 2),
    "length_over_1gb": b"Q" + struct.pack("!I", (1 << 30) + 5) + b"select 1",
    "length_int_max": b"Q" + struct.pack("!I", 0x7FFFFFFF) + b"select 1",
    "startup_again": wire.startup_packet({"user": "app", "database": "appdb"}),
}


@pytest.mark.parametrize("case", sorted(AFTER_LOGIN_GARBAGE))
def test_garbage_after_login(pooler, case):
    p = pooler(default_pool_size=2)
    with SteadyClient(p):
        with _logged_in(p) as conn:
            conn.send(AFTER_LOGIN_GARBAGE[case])
            _check_refused(conn)
    clients.assert_pooler_serves(p)


@pytest.mark.parametrize("in_transaction", [False, True])
def test_truncated_frame_then_close(pooler, pg, in_transaction):
    """Half a Query, then the client vanishes. The single server connection
    must come back clean for the next client."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as setup:
        setup.execute("drop table if exists trunc_t")
        setup.execute("create table trunc_t (id int)")
    with _logged_in(p) as conn:
        if in_transaction:
            msgs = conn.simple_query("begin; insert into trunc_t values (1)")
            assert msgs[-1] == (b"Z", b"T")
        body = b"insert into trunc_t values (2)\0"
        conn.send(b"Q" + struct.pack("!I", 4 + len(body)) + body[:10])
    with p.connect() as conn:
        assert conn.execute("select count(*) from trunc_t").fetchone() == (0,)
        assert conn.execute("select txid_current_if_assigned()").fetchone() == (None,)
        conn.execute("drop table trunc_t")


def test_malformed_parse_body(pooler):
    """A well-framed Parse with a broken body: PostgreSQL reports 08P01 and
    waits for Sync. Either that answer, or 08P01 + close, is acceptable; the
    pooler must not crash or wedge the server connection."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with SteadyClient(p):
        with _logged_in(p) as conn:
            conn.send(wire.message(b"P", b"\xff\xfe") + wire.message(b"S"))
            try:
                msgs = conn.read_until({b"Z"}, timeout=5)
                err = wire.errors_of(msgs)
                assert err and err[0]["C"] == PROTOCOL_VIOLATION, msgs
                assert wire.rows_of(conn.simple_query("select 5")) == [("5",)]
            except wire.Closed:
                pass
    clients.assert_pooler_serves(p)


def _random_frames(rnd):
    frames = b""
    for _ in range(rnd.randint(1, 4)):
        tag = bytes([rnd.choice(b"PBDESHCQdcfFX?\x00\xff")])
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 64)))
        frames += wire.message(tag, body)
    return frames + wire.message(b"S")


def _fuzz_clients(p, seed, rounds):
    rnd = random.Random(seed)
    for _ in range(rounds):
        with _logged_in(p) as conn:
            try:
                conn.send(_random_frames(rnd))
                conn.read_until({b"Z"}, timeout=3)
            except (wire.Closed, TimeoutError, ConnectionError, ValueError):
                pass


def test_random_frames_after_login(pooler):
    """Seeded random well-framed messages (random tags and bodies) from
    logged-in clients; a steady client on another pool (user app2) is
    unaffected and the pooler survives."""
    p = pooler(pool_mode="transaction", default_pool_size=2)
    with SteadyClient(p, user="app2"):
        _fuzz_clients(p, 1234, 30)
    clients.assert_pooler_serves(p, user="app2")


@pytest.mark.usher_only
def test_random_frames_do_not_desync_shared_server(pooler):
    """Same fuzzing, but the steady client shares the single server
    connection with the fuzzing clients. Every answer it gets must be the
    answer to its own query. PgBouncer 1.18 fails this: after malformed
    extended-protocol messages it hands a server with responses still in
    flight to the next client, which then reads another client's results
    (wrong values, 'got no result from the query', or the other client's
    08P01), while the fuzzing client receives the steady client's rows."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with SteadyClient(p):
        _fuzz_clients(p, 1234, 60)
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_client_leaves_with_pipelined_queries_in_flight(pooler):
    """Two pipelined Queries; the client reads only the first answer and
    leaves. The next client on the single server must get its own answers.
    PgBouncer 1.18 fails this: in transaction mode it releases the server at
    the first ReadyForQuery('I') although the second Query was already
    forwarded, so the next client receives ('', 'second')."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as steady:
        for i in range(5):
            with _logged_in(p) as conn:
                conn.send(wire.query("select 'first'") +
                          wire.query("select pg_sleep(0.2), 'second'"))
                msgs = conn.read_until({b"Z"})
                assert wire.rows_of(msgs) == [("first",)]
            for j in range(3):
                assert steady.execute("select %s::int", (i * 10 + j,)).fetchone() == (i * 10 + j,)


def test_many_silent_connections(pooler):
    """Clients that connect and never speak do not block the others."""
    p = pooler()
    socks = []
    try:
        with SteadyClient(p):
            for _ in range(60):
                socks.append(socket.create_connection((p.host, p.port), timeout=5))
            clients.assert_pooler_serves(p)
    finally:
        for s in socks:
            s.close()
    clients.assert_pooler_serves(p)


def test_concurrent_garbage_storm(pooler):
    p = pooler()
    cases = list(STARTUP_GARBAGE.values()) + list(AFTER_LOGIN_GARBAGE.values())

    def storm(seed):
        rnd = random.Random(seed)
        for _ in range(15):
            with contextlib.suppress(OSError, wire.Closed, TimeoutError, ValueError):
                with wire.Conn(p.host, p.port, timeout=3) as conn:
                    conn.send(rnd.choice(cases))
                    conn.expect_closed(0.3)

    with SteadyClient(p):
        workers = [clients.start(storm, s) for s in range(6)]
        for w in workers:
            w.join_result(60)
    clients.assert_pooler_serves(p)
