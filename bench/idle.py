"""The idle-memory scenario: a pooler's memory per idle client connection.

Opens N logged-in connections at once (asyncio; startup packet and SCRAM
from the harness's wire client: wire.startup_packet, wire.Login with a
shared salted-password cache, so PBKDF2 runs once and not N times), reads
the pooler's RSS with all of them open, then closes them.
"""

import asyncio
import collections
import struct
import time

import report
from fixtures import (BASELINE, BENCH_DB, BENCH_PASSWORD, BENCH_USER, LOOPBACK, first_line, log,
                      wire)

LOGIN_ERRORS = (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, wire.ServerError,
                RuntimeError, ValueError, KeyError)


async def read_message(reader):
    head = await reader.readexactly(5)
    tag, length = head[:1], struct.unpack("!I", head[1:])[0]
    body = await reader.readexactly(length - 4) if length > 4 else b""
    return tag, body


async def login(host, port, user, password, db, salted_cache):
    """Startup and authentication up to ReadyForQuery: (reader, writer)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(wire.startup_packet({"user": user, "database": db}))
        auth = wire.Login(user, password, salted_cache)
        while True:
            tag, body = await read_message(reader)
            if tag == b"E":
                raise wire.ServerError(wire.parse_fields(body))
            if tag == b"Z":
                return reader, writer
            if tag == b"R":  # not ParameterStatus, BackendKeyData, NoticeResponse
                reply = auth.answer(body)
                if reply:
                    writer.write(reply)
                    await writer.drain()
    except BaseException:
        writer.close()
        raise


async def idle_clients(host, port, user, password, db, n, concurrency, pid, overall_timeout):
    """Open n logged-in idle connections, read the pooler's RSS, close them all."""
    sem = asyncio.Semaphore(concurrency)
    conns, errors, cache = [], collections.Counter(), {}

    async def one():
        async with sem:
            try:
                conns.append(await asyncio.wait_for(
                    login(host, port, user, password, db, cache), 30))
            except LOGIN_ERRORS as e:
                errors[first_line(f"{type(e).__name__}: {e}", 120)] += 1

    t0 = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), overall_timeout)
    except asyncio.TimeoutError:
        errors[f"gave up after {overall_timeout:.0f}s"] += 1
    open_s = time.monotonic() - t0
    await asyncio.sleep(2.0)  # let the pooler settle
    rss = report.proc_rss_bytes(pid)
    for _, w in conns:
        try:
            w.write(wire.terminate())
            w.close()
        except Exception:
            pass
    await asyncio.sleep(0.5)
    return len(conns), errors, rss, open_s


def idle_memory(bench):
    """For each pooler among the targets, a fresh process (memory freed by
    earlier runs is not reused), RSS before and with --idle-clients open."""
    a = bench.args
    for target in ("pgbouncer", "usher", BASELINE):
        if target not in a.targets:
            continue
        p = bench.poolers[target]
        res = {"target": target, "clients": a.idle_clients, "error": None}
        bench.idle_results.append(res)
        p.stop()
        why = bench.try_start(p)
        if why:
            res["error"] = f"{target} did not start: {why}"
            continue
        time.sleep(1.0)
        try:
            before = report.proc_rss_bytes(p.pid)
            log(f"idle-memory {target}: opening {a.idle_clients} connections "
                f"(RSS before {before / 2**20:.1f} MiB)")
            opened, errors, after, open_s = asyncio.run(
                idle_clients(LOOPBACK, p.port, BENCH_USER, BENCH_PASSWORD, BENCH_DB,
                             a.idle_clients, a.idle_concurrency, p.pid,
                             overall_timeout=max(120.0, a.idle_clients / 20.0)))
            res.update({"rss_before": before, "rss_after": after, "opened": opened,
                        "seconds_to_open": open_s})
            if opened:
                res["bytes_per_client"] = (after - before) / opened
            if errors:
                top = errors.most_common(1)[0]
                res["error"] = (f"{sum(errors.values())} connections failed "
                                f"(e.g. {top[1]}x: {top[0]})")
            log(f"idle-memory {target}: {opened} open, RSS after {after / 2**20:.1f} MiB"
                + (f", {res['bytes_per_client']:.0f} B/client" if opened else "")
                + (f"; {res['error']}" if res["error"] else ""))
        except FileNotFoundError:
            res["error"] = f"{target} exited during the test"
        except Exception as e:  # report, carry on with the next pooler
            res["error"] = f"{type(e).__name__}: {first_line(str(e))}"
        if not p.alive():
            res["error"] = (res["error"] or "") + f" ({target} exited, rc {p.proc.returncode})"
