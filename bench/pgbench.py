"""One pgbench run against one target, and what it printed and logged.

command() builds the pgbench command line every scenario (and callgrind.py)
uses; Runner runs `pgbench -S` once against a port, times the pooler's CPU
over it and reads TPS, failures and connection time from its summary (the
harness's clients.parse_pgbench) and latency percentiles from its
per-transaction log. With --http-scrape, a Scraper thread GETs the pooler's
/metrics at a fixed interval while pgbench runs (its cost lands in the
pooler's CPU time).
"""

import glob
import math
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import report
from fixtures import (BENCH_DB, BENCH_USER, LOOPBACK, PG_BIN, PROCS, first_line, parse_pgbench,
                      stop_process)


def command(port, protocol, n_clients, jobs, length, log_prefix=None, scripts=None):
    """pgbench -n -S (or, given scripts, those -f files; [] is the built-in
    TPC-B-like script) -M protocol -c n -j min(jobs, n), length (["-T", s]
    or ["-t", n]), as the bench user."""
    cmd = [f"{PG_BIN}/pgbench", "-n"] + (["-S"] if scripts is None else [])
    cmd += ["-M", protocol, "-c", str(n_clients), "-j", str(min(jobs, n_clients))] + length
    cmd += list(scripts or [])
    cmd += ["-h", LOOPBACK, "-p", str(port), "-U", BENCH_USER]
    if log_prefix:
        cmd += ["-l", f"--log-prefix={log_prefix}"]
    return cmd + [BENCH_DB]


def new_result(target, protocol, n_clients):
    return {"target": target, "protocol": protocol, "clients": n_clients, "error": None,
            "tps": None, "processed": None, "failed": None, "cpu_us_per_txn": None,
            "p50": None, "p99": None, "p999": None}


def latency_from_logs(prefix):
    """p50/p99/p99.9 (ms) over the per-transaction log files of one run.

    Log line: client_id transaction_no time script_no time_epoch time_us;
    the third column is the latency in microseconds (or 'failed'/'skipped').

    Each client's first transaction (transaction_no 1) is left out, for every
    target. With -M prepared, pgbench 15 prepares a client's statement with a
    blocking PQprepare when the client first runs it: one pgbench thread
    prepares its clients one at a time, each a full round trip through the
    pooler's queue, and the last of 250 clients starts its first transaction
    seconds late. That is pgbench's start-up, not the pooler's steady state,
    and at 500 clients it is about 0.1 % of a run: exactly what p99.9 reads."""
    lat = []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[2].isdigit() and parts[1] != "1":
                    lat.append(int(parts[2]))
        os.unlink(path)
    lat.sort()
    if not lat:
        return {"p50": None, "p99": None, "p999": None, "samples": 0}
    pct = report.percentile
    return {"p50": pct(lat, 50) / 1000.0, "p99": pct(lat, 99) / 1000.0,
            "p999": pct(lat, 99.9) / 1000.0, "samples": len(lat)}


class Scraper(threading.Thread):
    """GETs http://127.0.0.1:PORT/metrics at once and then every `every`
    seconds until stop(): what a Prometheus scraping the pooler does. Each
    request has a timeout, so stop() returns within a few seconds."""

    def __init__(self, port, every):
        super().__init__(daemon=True)
        self.url = f"http://{LOOPBACK}:{port}/metrics"
        self.every = every
        self.done = threading.Event()
        self.ok = self.errors = self.bytes = 0
        self.first_error = None
        # No proxy from the environment: the endpoint is on loopback.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def run(self):
        while not self.done.is_set():
            try:
                with self.opener.open(self.url, timeout=min(5.0, max(1.0, self.every))) as r:
                    body = r.read()
                if b"usher_transaction_duration_seconds_bucket" not in body:
                    raise ValueError("no usher_transaction_duration_seconds_bucket in /metrics")
                self.ok += 1
                self.bytes += len(body)
            except (OSError, ValueError, urllib.error.URLError) as e:
                self.errors += 1
                self.first_error = self.first_error or f"{type(e).__name__}: {e}"
            self.done.wait(self.every)

    def stop(self):
        self.done.set()
        self.join(timeout=10)

    def result(self):
        return {"scrapes": self.ok, "scrape_errors": self.errors,
                "scrape_bytes": self.bytes // self.ok if self.ok else None,
                "scrape_error": self.first_error}


class Runner:
    """Runs pgbench from workdir (its logs go there) with pg's client
    environment; remembers pgbench's connection time per (target, clients)."""

    def __init__(self, pg, workdir, jobs, scrape_every=0):
        self.pg = pg
        self.workdir = workdir
        self.jobs = jobs
        self.scrape_every = scrape_every  # --http-scrape: seconds between GETs of /metrics
        self.conn_est = {}  # (target, clients) -> pgbench's initial connection time, s
        self.current = None  # the running pgbench, for Ctrl-C

    def stop(self):
        if self.current is not None:
            stop_process(self.current, signal.SIGTERM, timeout=5)

    def run(self, res, port, pooler, tag, seconds, per_client, with_log, scripts=None):
        """Fill res (new_result) from one run: -T seconds, or -t per_client;
        scripts as command() takes them (None: -S).

        pgbench's -T clock starts before its clients connect (500 SCRAM logins
        to PostgreSQL can take longer than the whole run), so -T is extended by
        the connection time measured for this target and client count; pgbench's
        TPS "without initial connection time" covers the benchmark phase only.
        A run whose connection phase outlasted -T gets res["no_transactions"]."""
        target, clients_n = res["target"], res["clients"]
        prefix = os.path.join(self.workdir, tag)
        key = (target, clients_n)
        if seconds is not None:
            est = self.conn_est.get(key, clients_n * 0.05)
            # Enough for the connection phase, so that the benchmark phase is
            # about `seconds` long for every target (it is reported as window_s).
            extra = int(math.ceil(est * 1.25 + 1))
            length = ["-T", str(seconds + extra)]
            timeout = seconds + extra + 90 + clients_n * 0.1
        else:
            length = ["-t", str(per_client)]
            timeout = 90 + clients_n * 0.2
        res["connect_s"] = None
        cmd = command(port, res["protocol"], clients_n, self.jobs, length,
                      log_prefix=prefix if with_log else None, scripts=scripts)
        env = self.pg.bench_env(PGCONNECT_TIMEOUT="30")
        cpu0 = None
        scraper = None
        try:
            if pooler:
                cpu0 = report.proc_cpu_ticks(pooler.pid)
            if pooler and self.scrape_every and getattr(pooler, "http_port", None):
                scraper = Scraper(pooler.http_port, self.scrape_every)
                scraper.start()
            t0 = time.monotonic()
            self.current = PROCS.add(subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                cwd=self.workdir, start_new_session=True))
            try:
                out, _ = self.current.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_process(self.current, signal.SIGTERM, timeout=5)
                res["error"] = f"pgbench timed out after {timeout:.0f}s"
                return res
            rc = self.current.returncode
            wall_s = time.monotonic() - t0
            PROCS.discard(self.current)
            self.current = None
            cpu1 = report.proc_cpu_ticks(pooler.pid) if pooler else None
        except FileNotFoundError:  # /proc/PID vanished: the pooler died mid-run
            res["error"] = f"{target} exited during the run"
            return res
        finally:
            if scraper is not None:
                scraper.stop()
                res.update(scraper.result())
            if self.current is not None and self.current.poll() is not None:
                PROCS.discard(self.current)
                self.current = None
        stats = parse_pgbench(out)
        res["processed"] = stats["processed"]
        res["failed"] = stats["failed"]
        res["tps"] = stats["tps"]
        if res["tps"] and res["processed"]:
            res["window_s"] = res["processed"] / res["tps"]
        if stats["connect_ms"] is not None:
            res["connect_s"] = stats["connect_ms"] / 1000.0
            self.conn_est[key] = res["connect_s"]
        if with_log:
            res.update(latency_from_logs(prefix))
        if pooler and cpu0 is not None and res["processed"]:
            res["cpu_us_per_txn"] = report.cpu_us_per_txn(cpu0, cpu1, res["processed"])
        if pooler and not pooler.alive():
            res["error"] = f"{target} exited during the run (rc {pooler.proc.returncode})"
        elif rc == 0 and not res["processed"]:
            res["error"] = ("pgbench processed no transactions (connection phase longer "
                            "than -T?)")
            res["no_transactions"] = True
            # pgbench exits right after its clients connect: the run's wall
            # time is about its connection time.
            self.conn_est[key] = max(wall_s, self.conn_est.get(key, 0.0) * 1.5)
        elif rc != 0 or res["tps"] is None:
            errs = [l for l in out.splitlines() if "error" in l.lower() or "abort" in l.lower()]
            res["error"] = f"pgbench rc {rc}: " + first_line("\n".join(errs) or out)
            res["output_tail"] = out[-2000:]
        return res
