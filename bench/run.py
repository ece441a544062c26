#!/usr/bin/python3
"""Side-by-side benchmark: PostgreSQL direct, PgBouncer and Usher.

Starts a throw-away PostgreSQL 15, PgBouncer and Usher (same pgbouncer.ini
settings, transaction mode), runs pgbench -S against each target interleaved
(A B C A B C ...) for several rounds and reports medians: TPS, the pooler's CPU
time per transaction, latency percentiles from pgbench's per-transaction log.
Then measures the poolers' memory per idle client connection.

Standard library only; run with /usr/bin/python3 (as root: PostgreSQL and
PgBouncer are run as the `postgres` account). See bench/README.md.
"""

import argparse
import asyncio
import base64
import datetime
import glob
import hashlib
import hmac
import json
import math
import os
import platform
import pwd
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")
LOOPBACK = "127.0.0.1"
SUPERUSER, SUPERUSER_PASSWORD = "postgres", "bench-superuser-pw"
BENCH_USER, BENCH_PASSWORD, BENCH_DB = "bench", "bench-pw", "bench"
SERVICE_ACCOUNT = "postgres"
PROTOCOLS = ("simple", "extended", "prepared")
TARGETS = ("direct", "pgbouncer", "usher")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- process
class Procs:
    """Every long-lived child we start, so that cleanup can reach them all."""

    def __init__(self):
        self.live = []

    def add(self, p):
        self.live.append(p)
        return p

    def discard(self, p):
        if p in self.live:
            self.live.remove(p)


PROCS = Procs()


def service_ids():
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam(SERVICE_ACCOUNT)
    return pw.pw_uid, pw.pw_gid


def as_service_kwargs():
    ids = service_ids()
    if ids is None:
        return {}
    return {"user": ids[0], "group": ids[1], "extra_groups": []}


def chown_service(path):
    ids = service_ids()
    if ids is not None:
        os.chown(path, *ids)


def stop_process(p, sig=signal.SIGTERM, timeout=10.0):
    """Signal a child's process group, escalate to SIGKILL after timeout."""
    if p is None or p.poll() is not None:
        PROCS.discard(p)
        return
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            p.kill()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    PROCS.discard(p)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def run_cmd(args, timeout=60, env=None, service=False, check=True, cwd=None):
    kw = as_service_kwargs() if service else {}
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, env=env, cwd=cwd,
                              start_new_session=True, **kw)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{' '.join(args)}: timed out after {timeout}s\n{e.output or ''}")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}")
    return proc


def proc_cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of proc(5)


def proc_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def private_bytes(pid):
    """Memory only this process uses (not shared buffers), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f
                       if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except OSError:
        return 0


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def first_line(text, limit=160):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return ""


# ------------------------------------------------------------------ PostgreSQL
class Postgres:
    def __init__(self, base, max_connections):
        self.base = base
        self.data = os.path.join(base, "data")
        self.sock = os.path.join(base, "sock")
        self.logfile = os.path.join(base, "postgres.log")
        self.port = None
        self.max_connections = max_connections
        self.started = False

    def env(self):
        return {"PATH": f"{PG_BIN}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
                "HOME": self.base}

    def init(self):
        os.makedirs(self.sock)
        chown_service(self.sock)
        pwfile = os.path.join(self.base, "pwfile")
        with open(pwfile, "w") as f:
            f.write(SUPERUSER_PASSWORD + "\n")
        chown_service(pwfile)
        run_cmd([f"{PG_BIN}/initdb", "-D", self.data, "-U", SUPERUSER, "--auth=scram-sha-256",
                 f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"],
                timeout=180, env=self.env(), service=True, cwd=self.base)
        os.unlink(pwfile)
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all scram-sha-256\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        last = None
        for _ in range(3):
            self.port = free_port()
            self.write_conf()
            try:
                self.start()
                return
            except RuntimeError as e:  # the port raced away: try another
                last = e
        raise last

    def write_conf(self):
        conf = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": self.port,
            "unix_socket_directories": f"'{self.sock}'",
            "max_connections": self.max_connections,
            "shared_buffers": "'256MB'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "password_encryption": "'scram-sha-256'",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "log_connections": "off",
            "log_disconnections": "off",
            "autovacuum": "off",
        }
        path = os.path.join(self.data, "postgresql.auto.conf")
        with open(path, "w") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        chown_service(path)

    def start(self):
        run_cmd([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60",
                 "start"], timeout=90, env=self.env(), service=True, cwd=self.base)
        self.started = True

    def stop(self):
        if not self.started:
            return
        try:
            run_cmd([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30",
                     "stop"], timeout=45, env=self.env(), service=True, cwd=self.base)
        except RuntimeError as e:
            log(f"pg_ctl stop failed, killing the postmaster: {first_line(str(e))}")
            try:
                with open(os.path.join(self.data, "postmaster.pid")) as f:
                    pid = int(f.readline())
                os.kill(pid, signal.SIGQUIT)
                time.sleep(2)
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.started = False

    def psql(self, sql, db="postgres", user=SUPERUSER, password=SUPERUSER_PASSWORD,
             port=None, timeout=60):
        env = dict(self.env(), PGPASSWORD=password, PGSSLMODE="disable",
                   PGCONNECT_TIMEOUT="10")
        out = run_cmd([f"{PG_BIN}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                       "-h", LOOPBACK, "-p", str(port or self.port), "-U", user, "-d", db,
                       "-c", sql], timeout=timeout, env=env)
        return out.stdout.strip()

    def setup_bench(self, scale):
        self.psql(f"CREATE ROLE {BENCH_USER} LOGIN PASSWORD '{BENCH_PASSWORD}'")
        self.psql(f"CREATE DATABASE {BENCH_DB} OWNER {BENCH_USER}")
        env = dict(self.env(), PGPASSWORD=BENCH_PASSWORD, PGSSLMODE="disable")
        run_cmd([f"{PG_BIN}/pgbench", "-i", "-q", "-s", str(scale), "-h", LOOPBACK,
                 "-p", str(self.port), "-U", BENCH_USER, BENCH_DB],
                timeout=600, env=env)
        self.psql("VACUUM ANALYZE", db=BENCH_DB, user=BENCH_USER, password=BENCH_PASSWORD,
                  timeout=300)
        return self.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{BENCH_USER}'")


# --------------------------------------------------------------------- poolers
class Pooler:
    def __init__(self, kind, binary, base, pg, args):
        self.kind = kind
        self.binary = binary
        self.base = base
        self.pg = pg
        self.args = args
        self.port = None
        self.proc = None
        self.ini = os.path.join(base, "pgbouncer.ini")
        self.userlist = os.path.join(base, "userlist.txt")
        self.logfile = os.path.join(base, f"{kind}.log")
        self.stdout = os.path.join(base, f"{kind}.stdout")
        self.starts = 0

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def write_config(self, scram_secret):
        a = self.args
        if a.server_transport == "unix":
            server = f"host={self.pg.sock} port={self.pg.port}"
        else:
            server = f"host={LOOPBACK} port={self.pg.port}"
        max_client = max(1000, max(a.clients) + 100, a.idle_clients + 200)
        settings = {
            "listen_addr": LOOPBACK,
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": self.userlist,
            "pool_mode": "transaction",
            "default_pool_size": a.pool_size,
            "min_pool_size": 0,
            "reserve_pool_size": 0,
            "max_client_conn": max_client,
            "max_db_connections": 0,
            "listen_backlog": 1024,
            "query_wait_timeout": 120,
            "server_idle_timeout": 600,
            "server_lifetime": 3600,
            "logfile": self.logfile,
            "log_connections": 0,
            "log_disconnections": 0,
            "log_pooler_errors": 1,
            "log_stats": 0,
        }
        if self.kind == "usher":
            settings["workers"] = a.workers
        with open(self.ini, "w") as f:
            f.write(f"[databases]\n{BENCH_DB} = {server} dbname={BENCH_DB}\n\n[pgbouncer]\n")
            for k, v in settings.items():
                f.write(f"{k} = {v}\n")
        secret = scram_secret if a.userlist_secret == "scram" else BENCH_PASSWORD
        with open(self.userlist, "w") as f:
            f.write(f'"{BENCH_USER}" "{secret}"\n')
        for p in (self.ini, self.userlist):
            chown_service(p)

    def start(self, scram_secret, timeout=30):
        self.starts += 1
        self.port = free_port()
        self.write_config(scram_secret)
        service = self.kind == "pgbouncer"
        kw = as_service_kwargs() if service else {}
        out = open(self.stdout, "ab")
        self.proc = PROCS.add(subprocess.Popen(
            [self.binary, self.ini], stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, cwd=self.base, start_new_session=True, **kw))
        out.close()
        deadline = time.monotonic() + timeout
        err = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.proc.returncode} at startup:\n"
                    f"{tail(self.stdout)}{tail(self.logfile)}")
            try:
                self.pg.psql("SELECT 1", db=BENCH_DB, user=BENCH_USER, password=BENCH_PASSWORD,
                             port=self.port, timeout=15)
                return
            except RuntimeError as e:
                err = str(e)
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.kind} not ready after {timeout}s: {err}\n{tail(self.logfile)}")

    def stop(self):
        # PgBouncer: SIGINT is "safe shutdown" (waits for clients); SIGTERM is
        # immediate. Usher follows PgBouncer's signals.
        stop_process(self.proc, signal.SIGTERM, timeout=10)

    def version(self):
        try:
            out = run_cmd([self.binary, "--version"], timeout=10, check=False).stdout
            return first_line(out)
        except (OSError, RuntimeError) as e:
            return f"unknown ({e})"


# --------------------------------------------------------------------- pgbench
PGBENCH_RE = {
    "processed": re.compile(r"number of transactions actually processed: (\d+)"),
    "failed": re.compile(r"number of failed transactions: (\d+)"),
    "tps": re.compile(r"tps = ([\d.]+) \(without initial connection time\)"),
    "conn_ms": re.compile(r"initial connection time = ([\d.]+) ms"),
}


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


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
    return {"p50": percentile(lat, 50) / 1000.0, "p99": percentile(lat, 99) / 1000.0,
            "p999": percentile(lat, 99.9) / 1000.0, "samples": len(lat)}


class Bench:
    def __init__(self, args):
        self.args = args
        self.base = None
        self.pg = None
        self.poolers = {}
        self.scram_secret = None
        self.current = None  # the running pgbench, for Ctrl-C
        self.restarts = {}  # pooler kind -> restarts after it died
        self.conn_est = {}  # (target, clients) -> pgbench's initial connection time, s
        self.results = []
        self.idle_results = []
        self.many_results = []
        self.info = {}

    # ------------------------------------------------------------- setup
    def setup(self):
        a = self.args
        self.base = tempfile.mkdtemp(prefix="usher-bench-")
        os.chmod(self.base, 0o755)
        log(f"work dir {self.base}")
        for d in ("pg", "pgbouncer", "usher", "pgbench"):
            os.makedirs(os.path.join(self.base, d))
        for d in ("pg", "pgbouncer"):
            chown_service(os.path.join(self.base, d))
        # Room for every direct client, both pools and a margin.
        max_conn = max(max(a.clients) + 4 * a.pool_size + 100, 200)
        self.pg = Postgres(os.path.join(self.base, "pg"), max_conn)
        log(f"initdb + start PostgreSQL (max_connections={max_conn})")
        self.pg.init()
        log(f"pgbench -i -s {a.scale}")
        self.scram_secret = self.pg.setup_bench(a.scale)
        # Copy Usher so that a rebuild elsewhere cannot swap it mid-run.
        usher_copy = os.path.join(self.base, "usher", "usher")
        shutil.copy2(a.usher_bin, usher_copy)
        bins = {"pgbouncer": PGBOUNCER_BIN, "usher": usher_copy}
        for kind in ("pgbouncer", "usher"):
            if kind in a.targets or a.idle_clients > 0:
                self.poolers[kind] = Pooler(kind, bins[kind], os.path.join(self.base, kind),
                                            self.pg, a)
        self.info = self.machine_info()
        for kind, p in self.poolers.items():
            self.try_start(p)

    def try_start(self, p):
        try:
            log(f"start {p.kind}")
            p.start(self.scram_secret)
            return None
        except (RuntimeError, OSError) as e:
            log(f"{p.kind} failed to start: {e}")
            return first_line(str(e))

    def ensure_alive(self, kind):
        """None if the pooler is up (restarting it if it died), else why not."""
        p = self.poolers[kind]
        if p.alive():
            return None
        if p.proc is not None:
            log(f"{kind} is not running (exit {p.proc.returncode}); restarting; log tail:\n"
                f"{tail(p.logfile)}")
            PROCS.discard(p.proc)
            self.restarts[kind] = self.restarts.get(kind, 0) + 1
        return self.try_start(p)

    def machine_info(self):
        a = self.args

        def cpu_model():
            try:
                with open("/proc/cpuinfo") as f:
                    for line in f:
                        if line.startswith("model name"):
                            return line.split(":", 1)[1].strip()
            except OSError:
                pass
            return platform.processor() or "unknown"

        def mem_gib():
            with open("/proc/meminfo") as f:
                return round(int(f.readline().split()[1]) / 1024 / 1024, 1)

        def out(args):
            try:
                return first_line(run_cmd(args, timeout=10, check=False).stdout)
            except (OSError, RuntimeError):
                return "unknown"

        git = out(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"])
        dirty = run_cmd(["git", "-C", REPO_ROOT, "status", "--porcelain", "--untracked-files=no"],
                        timeout=10, check=False).stdout.strip()
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(),
            "cpu": cpu_model(),
            "kernel": f"{platform.system()} {platform.release()}",
            "memory_gib": mem_gib(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "postgresql": out([f"{PG_BIN}/postgres", "--version"]),
            "pgbench": out([f"{PG_BIN}/pgbench", "--version"]),
            "pgbouncer": out([PGBOUNCER_BIN, "--version"]),
            "usher": out([a.usher_bin, "--version"])
            + f" ({a.usher_bin}; repo at git {git}{'+dirty' if dirty else ''})",
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }

    # ------------------------------------------------------------- pgbench runs
    def target_port(self, target):
        return self.pg.port if target == "direct" else self.poolers[target].port

    def pgbench(self, target, protocol, clients, tag, seconds=None, per_client=None,
                with_log=True):
        """One pgbench -S run; a result dict with 'error' set on any failure.

        pgbench's -T clock starts before its clients connect (500 SCRAM logins
        to PostgreSQL can take longer than the whole run), so -T is extended by
        the connection time measured for this target and client count; pgbench's
        TPS "without initial connection time" covers the benchmark phase only.
        If the connection phase outlasted -T anyway (a load spike), the run is
        repeated once with the connection time just seen."""
        res = self._pgbench_once(target, protocol, clients, tag, seconds, per_client, with_log)
        if res.get("no_transactions") and seconds is not None:
            log(f"{tag}: connecting took longer than -T (load spike?); running it again")
            res = self._pgbench_once(target, protocol, clients, tag, seconds, per_client,
                                     with_log)
        return res

    def _pgbench_once(self, target, protocol, clients, tag, seconds, per_client, with_log):
        a = self.args
        res = {"target": target, "protocol": protocol, "clients": clients, "error": None,
               "tps": None, "processed": None, "failed": None, "cpu_us_per_txn": None,
               "p50": None, "p99": None, "p999": None}
        pooler = None
        if target != "direct":
            before = self.restarts.get(target, 0)
            why = self.ensure_alive(target)
            res["restarted"] = self.restarts.get(target, 0) > before
            if why:
                res["error"] = f"{target} not running: {why}"
                return res
            pooler = self.poolers[target]
        prefix = os.path.join(self.base, "pgbench", tag)
        key = (target, clients)
        if seconds is not None:
            est = self.conn_est.get(key, clients * 0.05)
            # Enough for the connection phase, so that the benchmark phase is
            # about `seconds` long for every target (it is reported as window_s).
            extra = int(math.ceil(est * 1.25 + 1))
            length = ["-T", str(seconds + extra)]
            timeout = seconds + extra + 90 + clients * 0.1
        else:
            length = ["-t", str(per_client)]
            timeout = 90 + clients * 0.2
        res["connect_s"] = None
        cmd = [f"{PG_BIN}/pgbench", "-n", "-S", "-M", protocol, "-c", str(clients),
               "-j", str(min(a.jobs, clients))] + length + [
               "-h", LOOPBACK, "-p", str(self.target_port(target)), "-U", BENCH_USER]
        if with_log:
            cmd += ["-l", f"--log-prefix={prefix}"]
        cmd.append(BENCH_DB)
        env = dict(self.pg.env(), PGPASSWORD=BENCH_PASSWORD, PGSSLMODE="disable",
                   PGCONNECT_TIMEOUT="30")
        cpu0 = None
        try:
            if pooler:
                cpu0 = proc_cpu_ticks(pooler.pid)
            t0 = time.monotonic()
            self.current = PROCS.add(subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                cwd=os.path.join(self.base, "pgbench"), start_new_session=True))
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
            cpu1 = proc_cpu_ticks(pooler.pid) if pooler else None
        except FileNotFoundError:  # /proc/PID vanished: the pooler died mid-run
            res["error"] = f"{target} exited during the run"
            return res
        finally:
            if self.current is not None and self.current.poll() is not None:
                PROCS.discard(self.current)
                self.current = None
        m = {k: r.search(out) for k, r in PGBENCH_RE.items()}
        if m["processed"]:
            res["processed"] = int(m["processed"].group(1))
        res["failed"] = int(m["failed"].group(1)) if m["failed"] else None
        if m["tps"]:
            res["tps"] = float(m["tps"].group(1))
        if res["tps"] and res["processed"]:
            res["window_s"] = res["processed"] / res["tps"]
        if m["conn_ms"]:
            res["connect_s"] = float(m["conn_ms"].group(1)) / 1000.0
            self.conn_est[key] = res["connect_s"]
        if with_log:
            res.update(latency_from_logs(prefix))
        if pooler and cpu0 is not None and res["processed"]:
            res["cpu_us_per_txn"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / res["processed"]
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

    def warmup(self):
        """Per target and client count: one transaction per client, which opens
        the pools' server connections and measures pgbench's connection time
        (used to extend -T); then a short run at the smallest client count."""
        a = self.args
        needed = sorted({c for _, _, c in self.scenarios()})
        for target in a.targets:
            for c in needed:
                r = self.pgbench(target, "simple", c, f"connect-{target}-{c}", per_client=1,
                                 with_log=False)
                log(f"connect {target} x{c}: " + (
                    f"error: {r['error']}" if r["error"] else
                    f"initial connection time {r['connect_s']:.2f} s"))
            if a.warmup > 0 and needed:
                r = self.pgbench(target, "simple", needed[0], f"warmup-{target}",
                                 seconds=a.warmup, with_log=False)
                log(f"warm-up {target}: " + (f"error: {r['error']}" if r["error"]
                                             else f"{r['tps']:.0f} tps"))

    def scenarios(self):
        a = self.args
        out = []
        for proto in PROTOCOLS:
            for c in a.clients:
                name = f"{proto}-{c}"
                if a.scenarios is None or name in a.scenarios or proto in a.scenarios:
                    out.append((name, proto, c))
        return out

    def run_scenario(self, name, proto, clients):
        a = self.args
        targets = list(a.targets)
        runs = {t: [] for t in targets}
        for rnd in range(1, a.rounds + 1):
            for t in targets:
                r = self.pgbench(t, protocol_for(proto, t), clients, f"{name}-{t}-r{rnd}",
                                 seconds=a.seconds)
                r["round"] = rnd
                runs[t].append(r)
                if r["error"]:
                    log(f"{name} round {rnd} {t}: FAILED: {r['error']}")
                else:
                    cpu = (f"{r['cpu_us_per_txn']:.1f} us/txn" if r["cpu_us_per_txn"] is not None
                           else "")
                    lat = (f"p50 {r['p50']:.2f} p99 {r['p99']:.2f} ms" if r["p50"] is not None
                           else "")
                    log(f"{name} round {rnd} {t}: {r['tps']:.0f} tps {cpu} {lat} "
                        f"failed {r['failed']} (connect {r['connect_s'] or 0:.1f} s, "
                        f"measured {r.get('window_s', 0):.1f} s)")
                time.sleep(0.5)
        entry = {"scenario": name, "protocol": proto, "clients": clients, "runs": runs,
                 "skipped": {}}
        self.results.append(entry)
        return entry

    # ------------------------------------------------------ many statements
    MANY_SCRIPTS, MANY_PER_SCRIPT, MANY_CLIENTS = 100, 10, 100

    def many_statements(self):
        """1,000 distinct statements (100 pgbench scripts of 10) from 100
        clients with -M prepared, direct and through Usher: every direct
        backend ends up holding all 1,000, each of Usher's pool holds at most
        max_prepared_statements. Reports TPS and the private memory of the
        backends serving the run (from /proc/PID/smaps_rollup)."""
        a = self.args
        d = os.path.join(self.base, "pgbench", "many")
        os.makedirs(d, exist_ok=True)
        chown_service(d)
        files = []
        for i in range(self.MANY_SCRIPTS):
            path = os.path.join(d, f"s{i}.sql")
            with open(path, "w") as f:
                f.write("\\set aid random(1, 100000 * :scale)\n")
                for k in range(self.MANY_PER_SCRIPT):
                    n = i * self.MANY_PER_SCRIPT + k
                    f.write(f"SELECT abalance + {n} FROM pgbench_accounts WHERE aid = :aid;\n")
            files += ["-f", path]
        if "pgbouncer" in self.poolers:  # its idle servers would count as the bench user's
            self.poolers["pgbouncer"].stop()
        backends_sql = (f"SELECT pid FROM pg_stat_activity WHERE usename = '{BENCH_USER}' "
                        "AND pid <> pg_backend_pid()")
        for target in ("direct", "usher"):
            res = {"target": target, "clients": self.MANY_CLIENTS, "error": None}
            # Usher's idle servers are not part of a direct run.
            before = {int(x) for x in self.pg.psql(backends_sql).split()} if target == "direct" \
                else set()
            self.many_results.append(res)
            if target == "usher" and self.ensure_alive("usher"):
                res["error"] = "usher not running"
                continue
            pooler = self.poolers.get(target)
            cmd = [f"{PG_BIN}/pgbench", "-n", "-M", "prepared", "-c", str(self.MANY_CLIENTS),
                   "-j", str(min(a.jobs, self.MANY_CLIENTS)), "-T", str(a.seconds + 5)] + files + [
                   "-h", LOOPBACK, "-p", str(self.target_port(target)), "-U", BENCH_USER, BENCH_DB]
            env = dict(self.pg.env(), PGPASSWORD=BENCH_PASSWORD, PGSSLMODE="disable")
            proc = PROCS.add(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True, env=env))
            cpu0 = proc_cpu_ticks(pooler.pid) if pooler else None
            # Measure while the clients are still connected (direct backends
            # exit with them).
            time.sleep(a.seconds + 2)
            pids = [int(x) for x in self.pg.psql(backends_sql).split() if int(x) not in before]
            res["backends"] = len(pids)
            res["backend_private_mib"] = sum(private_bytes(pid) for pid in pids) / 2**20
            out, _ = proc.communicate(timeout=120)
            PROCS.discard(proc)
            m = {k: r.search(out) for k, r in PGBENCH_RE.items()}
            res["tps"] = float(m["tps"].group(1)) if m["tps"] else None
            res["failed"] = int(m["failed"].group(1)) if m["failed"] else None
            processed = int(m["processed"].group(1)) if m["processed"] else 0
            if proc.returncode != 0 or not processed:
                res["error"] = f"pgbench rc {proc.returncode}: {first_line(out[-500:])}"
            if pooler and processed:
                res["cpu_us_per_txn"] = (proc_cpu_ticks(pooler.pid) - cpu0) / CLK_TCK * 1e6 / processed
            log(f"many-statements {target}: {res}")

    # ---------------------------------------------------------- idle memory
    def idle_memory(self):
        a = self.args
        for kind in ("pgbouncer", "usher"):
            if kind not in a.targets:
                continue
            p = self.poolers[kind]
            res = {"target": kind, "clients": a.idle_clients, "error": None}
            self.idle_results.append(res)
            # A fresh process, so that memory freed by earlier runs is not reused.
            p.stop()
            PROCS.discard(p.proc)
            why = self.try_start(p)
            if why:
                res["error"] = f"{kind} did not start: {why}"
                continue
            time.sleep(1.0)
            try:
                before = proc_rss_bytes(p.pid)
                log(f"idle-memory {kind}: opening {a.idle_clients} connections "
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
                log(f"idle-memory {kind}: {opened} open, RSS after {after / 2**20:.1f} MiB"
                    + (f", {res['bytes_per_client']:.0f} B/client" if opened else "")
                    + (f"; {res['error']}" if res["error"] else ""))
            except FileNotFoundError:
                res["error"] = f"{kind} exited during the test"
            except Exception as e:  # report, carry on with the next pooler
                res["error"] = f"{type(e).__name__}: {first_line(str(e))}"
            if not p.alive():
                res["error"] = (res["error"] or "") + f" ({kind} exited, rc {p.proc.returncode})"

    # -------------------------------------------------------------- teardown
    def cleanup(self):
        if self.current is not None:
            stop_process(self.current, signal.SIGTERM, timeout=5)
        for p in self.poolers.values():
            if p.proc is not None:
                try:
                    p.stop()
                except Exception as e:  # keep tearing down the rest
                    log(f"stopping {p.kind}: {e}")
        for p in list(PROCS.live):
            stop_process(p, signal.SIGKILL, timeout=5)
        if self.pg is not None:
            log("stop PostgreSQL")
            self.pg.stop()
        if self.base and not self.args.keep:
            shutil.rmtree(self.base, ignore_errors=True)
        elif self.base:
            log(f"kept {self.base}")


# ---------------------------------------------------------- idle client (SCRAM)
class PgError(Exception):
    pass


async def read_msg(reader):
    head = await reader.readexactly(5)
    typ, length = head[:1], struct.unpack("!I", head[1:])[0]
    body = await reader.readexactly(length - 4) if length > 4 else b""
    return typ, body


def msg(typ, payload):
    return typ + struct.pack("!I", len(payload) + 4) + payload


def error_text(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode(errors="replace")
    return f"{fields.get(b'S', 'ERROR')} {fields.get(b'C', '')}: {fields.get(b'M', '')}"


async def handshake(host, port, user, password, db, salted_cache):
    """Startup + authentication (SCRAM-SHA-256, md5 or cleartext) up to ReadyForQuery."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        params = b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
        writer.write(struct.pack("!II", len(params) + 8, 196608) + params)
        client_first_bare = server_first = None
        nonce = None
        while True:
            typ, body = await read_msg(reader)
            if typ == b"E":
                raise PgError(error_text(body))
            if typ == b"Z":
                return reader, writer
            if typ != b"R":
                continue  # ParameterStatus, BackendKeyData, NoticeResponse
            code = struct.unpack("!I", body[:4])[0]
            if code == 0:
                continue
            if code == 3:
                writer.write(msg(b"p", password.encode() + b"\0"))
            elif code == 5:
                inner = hashlib.md5((password + user).encode()).hexdigest().encode()
                outer = "md5" + hashlib.md5(inner + body[4:8]).hexdigest()
                writer.write(msg(b"p", outer.encode() + b"\0"))
            elif code == 10:
                if b"SCRAM-SHA-256\0" not in body[4:]:
                    raise PgError(f"no SCRAM-SHA-256 in {body[4:]!r}")
                nonce = base64.b64encode(os.urandom(18)).decode()
                client_first_bare = f"n=,r={nonce}"
                first = ("n,," + client_first_bare).encode()
                writer.write(msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first))
                                 + first))
            elif code == 11:
                server_first = body[4:].decode()
                attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
                if not attrs["r"].startswith(nonce):
                    raise PgError("SCRAM: server nonce does not extend ours")
                key = (attrs["s"], int(attrs["i"]))
                salted = salted_cache.get(key)
                if salted is None:
                    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
                    salted_cache[key] = salted
                client_key = hmac.digest(salted, b"Client Key", "sha256")
                stored_key = hashlib.sha256(client_key).digest()
                without_proof = f"c=biws,r={attrs['r']}"
                auth_msg = f"{client_first_bare},{server_first},{without_proof}".encode()
                sig = hmac.digest(stored_key, auth_msg, "sha256")
                proof = bytes(x ^ y for x, y in zip(client_key, sig))
                writer.write(msg(b"p", (without_proof + ",p="
                                        + base64.b64encode(proof).decode()).encode()))
            elif code == 12:
                continue  # SASLFinal (server signature); not verified here
            else:
                raise PgError(f"unsupported authentication request {code}")
            await writer.drain()
    except BaseException:
        writer.close()
        raise


async def idle_clients(host, port, user, password, db, n, concurrency, pid, overall_timeout):
    """Open n logged-in idle connections, read the pooler's RSS, close them all."""
    import collections

    sem = asyncio.Semaphore(concurrency)
    conns, errors, cache = [], collections.Counter(), {}

    async def one():
        async with sem:
            try:
                conns.append(await asyncio.wait_for(
                    handshake(host, port, user, password, db, cache), 30))
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, PgError,
                    ValueError, KeyError) as e:
                errors[first_line(f"{type(e).__name__}: {e}", 120)] += 1

    t0 = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), overall_timeout)
    except asyncio.TimeoutError:
        errors[f"gave up after {overall_timeout:.0f}s"] += 1
    open_s = time.monotonic() - t0
    await asyncio.sleep(2.0)  # let the pooler settle
    rss = proc_rss_bytes(pid)
    for _, w in conns:
        try:
            w.write(msg(b"X", b""))  # Terminate
            w.close()
        except Exception:
            pass
    await asyncio.sleep(0.5)
    return len(conns), errors, rss, open_s


# --------------------------------------------------------------------- report
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def protocol_for(proto, target):
    """PgBouncer 1.18 cannot run -M prepared in transaction mode; its users
    fall back to -M simple, which is what Usher's prepared run is compared
    with."""
    return "simple" if proto == "prepared" and target == "pgbouncer" else proto


def fmt(v, spec, none="n/a"):
    return none if v is None else format(v, spec)


def render(bench):
    a, info = bench.args, bench.info
    lines = [
        "# Usher benchmark: PostgreSQL direct vs PgBouncer vs Usher", "",
        f"- date: {info.get('date')}",
        f"- command: `{info.get('command')}`",
        f"- machine: {info.get('nproc')} cores ({info.get('cpu')}), {info.get('kernel')}, "
        f"{info.get('memory_gib')} GiB RAM, fd limit {info.get('nofile')}, load average at start "
        f"{info.get('loadavg_start')}",
        f"- versions: {info.get('postgresql')}; {info.get('pgbouncer')}; {info.get('usher')}; "
        f"{info.get('pgbench')}",
        f"- settings: pool_mode transaction, default_pool_size {a.pool_size}, Usher workers "
        f"{a.workers or 'default (half the cores)'}, auth scram-sha-256 (userlist: {a.userlist_secret} secret), poolers to "
        f"PostgreSQL over {'TCP 127.0.0.1' if a.server_transport == 'tcp' else 'Unix socket'}, "
        f"pgbench over TCP 127.0.0.1; pgbench scale {a.scale}, `-n -S -j {a.jobs}`; "
        f"{a.rounds} round(s) x {a.seconds} s per target, interleaved, medians",
        "",
    ]
    for e in bench.results:
        lines += [f"## {e['scenario']}: `pgbench -n -S -M {e['protocol']} -c {e['clients']} "
                  f"-j {min(a.jobs, e['clients'])}`, {a.seconds} s per run", "",
                  "| target | TPS (median) | TPS per round | CPU µs/txn | p50 ms | p99 ms "
                  "| p99.9 ms | p99/p50 | p99.9/p50 | failed txns | status |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for t in a.targets:
            if t in e["skipped"]:
                lines.append(f"| {t} | skipped | | | | | | | | | {e['skipped'][t]} |")
                continue
            runs = e["runs"][t]
            if protocol_for(e["protocol"], t) != e["protocol"]:
                t = f"{t} (`-M {protocol_for(e['protocol'], t)}`)"
            ok = [r for r in runs if not r["error"]]
            errs = [r for r in runs if r["error"]]
            restarts = sum(1 for r in runs if r.get("restarted"))
            status = ("ok" if not restarts else f"ok (pooler restarted {restarts}x, after "
                      "dying in an earlier run)") if not errs else (
                f"FAILED {len(errs)}/{len(runs)} rounds: {errs[0]['error']}".replace("|", "/"))
            per_round = " / ".join(fmt(r["tps"], ".0f", "x") if not r["error"] else "x"
                                   for r in runs)
            if not ok:
                lines.append(f"| {t} | FAILED | {per_round} | | | | | | | | {status} |")
                continue
            tps = med(r["tps"] for r in ok)
            cpu = med(r["cpu_us_per_txn"] for r in ok)
            p50, p99, p999 = (med(r[k] for r in ok) for k in ("p50", "p99", "p999"))
            failed = sum(r["failed"] or 0 for r in runs)
            r99 = p99 / p50 if p50 and p99 is not None else None
            r999 = p999 / p50 if p50 and p999 is not None else None
            lines.append(
                f"| {t} | {fmt(tps, '.0f')} | {per_round} | {fmt(cpu, '.1f')} | "
                f"{fmt(p50, '.3f')} | {fmt(p99, '.3f')} | {fmt(p999, '.3f')} | "
                f"{fmt(r99, '.2f')} | {fmt(r999, '.2f')} | {failed} | {status} |")
        lines.append("")
    if bench.idle_results:
        lines += [f"## idle-memory: {a.idle_clients} idle client connections (TCP, "
                  "SCRAM login, then idle)", "",
                  "| target | connections open | RSS before MiB | RSS after MiB "
                  "| bytes per idle client | seconds to open | status |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in bench.idle_results:
            status = "ok" if not r["error"] else f"FAILED: {r['error']}".replace("|", "/")
            mib = lambda k: fmt(r.get(k) / 2**20 if r.get(k) is not None else None, ".1f")
            lines.append(f"| {r['target']} | {r.get('opened', 0)} | {mib('rss_before')} | "
                         f"{mib('rss_after')} | {fmt(r.get('bytes_per_client'), '.0f')} | "
                         f"{fmt(r.get('seconds_to_open'), '.1f')} | {status} |")
        lines.append("")
    if bench.many_results:
        lines += [f"## many-statements: 1,000 distinct statements (100 scripts of 10), "
                  f"`pgbench -n -M prepared -c {Bench.MANY_CLIENTS}`, {a.seconds} s", "",
                  "| target | TPS | CPU µs/txn | failed txns | server backends "
                  "| their private memory MiB | status |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in bench.many_results:
            status = "ok" if not r["error"] else f"FAILED: {r['error']}".replace("|", "/")
            lines.append(f"| {r['target']} | {fmt(r.get('tps'), '.0f')} | "
                         f"{fmt(r.get('cpu_us_per_txn'), '.1f')} | {r.get('failed')} | "
                         f"{r.get('backends')} | {fmt(r.get('backend_private_mib'), '.1f')} | "
                         f"{status} |")
        lines.append("")
    lines.append(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Examples: see bench/README.md.")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per scenario (default 3)")
    ap.add_argument("--seconds", type=int, default=None,
                    help="benchmark seconds per run, pgbench -T (default 10)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: defaults become 1 round of 3 s and a 2 s warm-up")
    ap.add_argument("--scenarios", default=None,
                    help="comma list of scenarios: simple-50, extended-500, ..., a protocol "
                         "name (simple, extended, prepared) for all its client counts, "
                         "and idle-memory (alias idle); default all")
    ap.add_argument("--clients", default="50,500", help="comma list of pgbench client counts (default 50,500)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="pgbench -j (default: number of cores)")
    ap.add_argument("--pool-size", type=int, default=20, help="default_pool_size for both poolers (default 20)")
    ap.add_argument("--workers", type=int, default=0,
                    help="Usher's workers setting (default 0: Usher's own default, "
                         "half the cores)")
    ap.add_argument("--usher-bin", default=os.path.join(REPO_ROOT, "build", "usher"),
                    help="Usher binary, copied into the work dir at start (default build/usher)")
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma list of targets (default direct,pgbouncer,usher)")
    ap.add_argument("--scale", type=int, default=1, help="pgbench -i scale (default 1)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds of warm-up per target before the scenarios (default 3; 2 "
                         "with --quick)")
    ap.add_argument("--server-transport", choices=("tcp", "unix"), default="tcp",
                    help="how both poolers reach PostgreSQL (default tcp, 127.0.0.1)")
    ap.add_argument("--userlist-secret", choices=("scram", "plain"), default="scram",
                    help="userlist.txt holds the SCRAM secret from pg_authid (default), or "
                         "the plain-text password")
    ap.add_argument("--idle-clients", type=int, default=10000,
                    help="connections for the idle-memory scenario (default 10000)")
    ap.add_argument("--idle-concurrency", type=int, default=64,
                    help="handshakes in flight while opening idle connections (default 64)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    ap.add_argument("--json", metavar="FILE", help="write every run's raw numbers to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    a = ap.parse_args(argv)
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    if a.seconds is None:
        a.seconds = 3 if a.quick else 10
    if a.warmup is None:
        a.warmup = 2.0 if a.quick else 3.0
    a.warmup = int(math.ceil(a.warmup))
    a.clients = [int(x) for x in a.clients.split(",") if x.strip()]
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    bad = [t for t in a.targets if t not in TARGETS]
    if bad:
        ap.error(f"unknown targets {bad}; choose from {', '.join(TARGETS)}")
    a.run_idle = True
    a.run_many = True
    if a.scenarios is not None:
        names = {s.strip() for s in a.scenarios.split(",") if s.strip()}
        a.run_idle = bool(names & {"idle", "idle-memory"})
        a.run_many = "many-statements" in names
        names -= {"idle", "idle-memory", "many-statements"}
        known = set(PROTOCOLS) | {f"{p}-{c}" for p in PROTOCOLS for c in a.clients}
        if names - known:
            ap.error(f"unknown scenarios {sorted(names - known)}; known: "
                     f"{', '.join(sorted(known))}, idle-memory, many-statements")
        a.scenarios = names
    if not a.run_idle:
        a.idle_clients = 0
    if a.rounds < 1 or a.seconds < 1 or not a.clients:
        ap.error("--rounds, --seconds and --clients must be positive")
    if "usher" in a.targets and not os.access(a.usher_bin, os.X_OK):
        ap.error(f"Usher binary {a.usher_bin} is not executable (--usher-bin)")
    return a


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    # Inherited by PostgreSQL, both poolers, pgbench and the idle clients here.
    nofile = raise_nofile()
    if nofile < a.idle_clients + 1000:
        log(f"warning: RLIMIT_NOFILE is {nofile}, too low for {a.idle_clients} idle clients")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    bench = Bench(a)
    rc = 0
    try:
        bench.setup()
        bench.warmup()
        for name, proto, clients in bench.scenarios():
            log(f"scenario {name}")
            bench.run_scenario(name, proto, clients)
        if a.run_many and "usher" in a.targets:
            log("scenario many-statements")
            bench.many_statements()
        if a.run_idle and a.idle_clients > 0:
            log("scenario idle-memory")
            bench.idle_memory()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        rc = 130
    except Exception as e:
        log(f"error: {type(e).__name__}: {e}")
        rc = 1
    finally:
        try:
            bench.cleanup()
        except KeyboardInterrupt:
            log("interrupted again during cleanup; some processes may remain")
    if bench.results or bench.idle_results or bench.many_results:
        report = render(bench)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(report)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"info": bench.info, "args": {k: v if not isinstance(v, set)
                                                        else sorted(v)
                                                        for k, v in vars(a).items()},
                           "scenarios": bench.results, "idle_memory": bench.idle_results,
                           "many_statements": bench.many_results},
                          f, indent=1, default=str)
        try:
            print(report, flush=True)
        except BrokenPipeError:
            pass
    return rc


if __name__ == "__main__":
    sys.exit(main())
