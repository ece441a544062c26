"""PgBouncer's peering: poolers that share one port (so_reuseport) each
issue cancel keys that name them (peer_id), and a CancelRequest that
reaches the wrong one is sent on to the right one through [peers].

Each test starts two Ushers on one TCP port, each with a Unix socket of its
own, which is how [peers] addresses them (as in PgBouncer's documentation).
Clients log in through one process's socket and the cancel is sent to the
other's, so which process gets what never depends on the kernel's choice.

Peering came with PgBouncer 1.19; Debian's 1.18 has none: usher_only."""

import os
import socket
import struct

import pytest

from harness import clients, util, wire
from harness.pooler import Pooler

pytestmark = pytest.mark.usher_only


def _socket_path(p):
    return os.path.join(p.sock_dir, f".s.PGSQL.{p.port}")


def _send_cancel_unix(p, pid, key):
    """A CancelRequest on a new connection to `p`'s Unix socket; returns
    once the pooler closes it (it has then passed the request on)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(_socket_path(p))
        s.sendall(wire.cancel_request(pid, key))
        assert s.recv(1) == b""


@pytest.fixture
def peers(pooler, pg):
    """start(entries=None, **ini) -> (peer 1, peer 2): two Ushers on one
    port. entries: {peer_id: f(first, second) -> connstring} for [peers],
    the same in both files; by default each peer's own Unix socket."""
    made = []

    def start(entries=None, **ini):
        entries = entries or {1: lambda a, b: f"host={a.sock_dir} port={a.port}",
                              2: lambda a, b: f"host={b.sock_dir} port={b.port}"}
        first = pooler(start=False, extra_ini={"so_reuseport": 1, "peer_id": 1, **ini})
        second = Pooler(pg, util.make_service_tempdir("uit-pl-"))
        made.append(second)
        second.port = first.port
        second.write_ini(databases=second.default_databases(),
                         settings=dict(first.settings, peer_id="2",
                                       unix_socket_dir=second.sock_dir,
                                       logfile=second.log_path, pidfile=second.pid_path,
                                       auth_file=second.userlist_path))
        second.write_userlist()
        for p in (first, second):
            p.peers = {peer_id: f(first, second) for peer_id, f in entries.items()}
            p.write_ini()
            p.start()
            p.host = p.sock_dir  # connect() and admin() reach this process, not the port
        return first, second

    yield start
    for p in made:
        p.stop()
        print(f"----- peer 2's log ({p.base_dir}) -----\n{p.log_text()}")  # shown on failure
        util.remove_tree(p.base_dir)


def _for_peer(conn, peer_id):
    """conn's key with another peer id stamped in: a key that peer issued."""
    raw = bytearray(struct.pack("!II", conn.backend_pid, conn.backend_key))
    raw[1], raw[2] = peer_id & 0xFF, peer_id >> 8
    return struct.unpack("!II", bytes(raw))


def _raw_login_unix(p):
    conn = wire.Conn.unix(_socket_path(p))
    msgs = conn.startup("app", "appdb", p.password_for("app"))
    assert not wire.errors_of(msgs)
    return conn


def _wait_running(pg, text):
    util.wait_until(
        lambda: pg.sql("select count(*) from pg_stat_activity where state = 'active' "
                       "and query = %s", (text,))[0][0] >= 1,
        10, what=f"{text!r} running")


def test_keys_name_their_peer(peers):
    first, second = peers()
    for p, peer_id in ((first, 1), (second, 2)):
        with _raw_login_unix(p) as conn:
            pid, key = conn.backend_pid, conn.backend_key
            # PgBouncer's layout: bytes 1-2 of the key hold the peer id, the
            # two low bits of the last byte a TTL of 3, the sign bit is clear.
            raw = struct.pack("!II", pid, key)
            assert raw[1] | (raw[2] << 8) == peer_id
            assert raw[7] & 3 == 3
            assert raw[0] & 0x80 == 0


def test_a_cancel_sent_to_the_wrong_peer_reaches_the_right_one(peers, pg):
    first, second = peers()
    sql = "select pg_sleep(20)"
    with _raw_login_unix(first) as conn:
        conn.send(wire.query(sql))
        _wait_running(pg, sql)
        _send_cancel_unix(second, conn.backend_pid, conn.backend_key)
        msgs = conn.read_until({b"Z"}, timeout=10)
        errs = wire.errors_of(msgs)
        assert errs and errs[0]["C"] == "57014", msgs
        # The one who forwarded it shows the peer's pool; nothing is left in it.
        rows = second.admin("show peer_pools").dicts()
        assert rows == [{"peer_id": 1, "cl_active_cancel_req": 0, "cl_waiting_cancel_req": 0,
                         "sv_active_cancel": 0, "sv_login": 0}]
        assert conn.simple_query("select 'alive'")


def test_a_wrong_secret_forwarded_cancels_nothing(peers, pg):
    first, second = peers()
    sql = "select pg_sleep(3)"
    with _raw_login_unix(first) as conn:
        conn.send(wire.query(sql))
        _wait_running(pg, sql)
        # The right pid (and so the right peer), a secret one off (TTL bits kept).
        _send_cancel_unix(second, conn.backend_pid, conn.backend_key ^ 0x100)
        msgs = conn.read_until({b"Z"}, timeout=10)
        assert not wire.errors_of(msgs)


def test_forwarding_loops_stop_after_three_hops(peers, pg):
    """[peers] that send peer 1's requests to peer 2 and back (a wrong
    file): the TTL ends the loop, and both keep serving."""
    first, second = peers({1: lambda a, b: f"host={b.sock_dir} port={b.port}",   # wrong: 1 is a
                           2: lambda a, b: f"host={a.sock_dir} port={a.port}"})  # wrong: 2 is b
    with _raw_login_unix(first) as conn:
        # Peer 2's key at peer 1: sent to "2" (first itself), which sends it
        # to "2" again, and so on until its TTL is spent.
        _send_cancel_unix(first, *_for_peer(conn, 2))
        util.wait_until(lambda: "forwarded too many times" in first.log_text() + second.log_text(),
                        10, what="the loop ended by its TTL")
        assert conn.simple_query("select 1")
    for p in (first, second):
        with p.connect() as c:
            assert c.execute("select 1").fetchone() == (1,)


def test_a_cancel_for_an_unknown_peer_is_dropped(peers):
    first, second = peers()
    with _raw_login_unix(first) as conn:
        _send_cancel_unix(first, *_for_peer(conn, 99))
        util.wait_until(lambda: "no such peer" in first.log_text(), 10, what="drop logged")
        assert conn.simple_query("select 1")


def test_a_stuck_peer_holds_at_most_pool_size_requests(peers, tmp_path):
    """Peer 3 accepts connections and never answers. Cancels for it take
    pool_size places at most; the rest wait cancel_wait_timeout, then are
    dropped; the client that sent the first is answered after its own
    cancel_wait_timeout, and the pooler serves everyone else meanwhile."""
    stuck_dir = str(tmp_path)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(os.path.join(stuck_dir, ".s.PGSQL.7777"))
    stuck.listen(16)
    try:
        first, second = peers({
            1: lambda a, b: f"host={a.sock_dir} port={a.port}",
            2: lambda a, b: f"host={b.sock_dir} port={b.port}",
            3: lambda a, b: f"host={stuck_dir} port=7777 pool_size=1",
        }, cancel_wait_timeout=3)
        with _raw_login_unix(first) as conn:
            key = _for_peer(conn, 3)
            senders = [clients.start(lambda: _send_cancel_unix(first, *key)) for _ in range(3)]
            util.wait_until(
                lambda: first.admin("show peer_pools").dicts() == [
                    {"peer_id": 3, "cl_active_cancel_req": 1, "cl_waiting_cancel_req": 2,
                     "sv_active_cancel": 1, "sv_login": 0}],
                5, what="one request in flight to peer 3, two waiting")
            assert conn.simple_query("select 'served meanwhile'")
            for s in senders:
                s.join_result(15)
        assert first.log_text().count("already in flight to it") == 2
        assert first.admin("show peer_pools").dicts()[0]["cl_active_cancel_req"] == 0
    finally:
        stuck.close()
