"""Results stream through the pooler with backpressure: a 1 GB result read by
a slow client must not pile up in the pooler's memory."""

import time

from harness import clients, wire

GIB = 1 << 30
ROW = 8000  # bytes of payload per row


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_1gb_result_with_bounded_pooler_memory(pooler):
    p = pooler(pool_mode="transaction")
    rows = GIB // ROW
    conn, _, err = clients.raw_login(p, timeout=120)
    assert err is None
    with conn:
        before = rss_bytes(p.pid)
        peak = before
        conn.send(wire.query(f"select repeat('x', {ROW}) from generate_series(1, {rows})"))
        received = 0
        tail = b""
        deadline = time.monotonic() + 300
        sock = conn.sock
        sock.settimeout(60)
        buf = bytearray(1 << 20)
        while time.monotonic() < deadline:
            n = sock.recv_into(buf)
            assert n > 0, "pooler closed the connection mid-result"
            received += n
            tail = (tail + bytes(buf[:n]))[-6:]
            if received // (64 << 20) != (received - n) // (64 << 20):
                # Every 64 MB: pause as a slow client would, and sample RSS
                # while the server keeps pushing.
                time.sleep(0.3)
                peak = max(peak, rss_bytes(p.pid))
            if tail == b"Z\x00\x00\x00\x05I":
                break
        else:
            raise AssertionError(f"result not complete after {received} bytes")
    assert received > GIB  # payload plus DataRow framing
    # The pooler buffers at most a few hundred KB per direction; allow
    # generous slack for allocator and sanitizer noise, far below 1 GB.
    assert peak - before < 64 << 20, f"pooler RSS grew by {(peak - before) >> 20} MB"
