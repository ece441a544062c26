"""What the benchmarks run against: PostgreSQL, PgBouncer and Usher.

These are the integration test harness's fixtures (tests/integration/harness/:
postgres.Postgres, pooler.Pooler, the raw wire client, util), set up for
measuring instead of testing: PostgreSQL with more connections, bigger
shared_buffers and quiet logs; both poolers from one pgbouncer.ini with the
benchmark's pool settings. Also the process bookkeeping that lets Ctrl-C stop
everything, and small helpers the other bench modules share.

Standard library only: the harness modules used here import psycopg only in
methods the benchmarks do not call.
"""

import os
import signal
import subprocess
import sys
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "integration"))

from harness import util, wire  # noqa: E402
from harness.clients import parse_pgbench  # noqa: E402,F401
from harness.pooler import PGBOUNCER_BIN, Pooler  # noqa: E402,F401
from harness.postgres import PG_BIN, SUPERUSER, SUPERUSER_PASSWORD, Postgres  # noqa: E402

LOOPBACK = util.LOOPBACK
BENCH_USER, BENCH_PASSWORD, BENCH_DB = "bench", "bench-pw", "bench"
BASELINE = "usher-base"  # the target of a second Usher binary (--baseline-usher-bin)
CACHED = "usher-cache"  # --cache: a second Usher process with query_cache = on


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def first_line(text, limit=160):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return ""


def tail(path, n=15):
    lines = util.read_text(path).splitlines(keepends=True)
    return "".join(lines[-n:])


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


def run_cmd(args, timeout=60, env=None, check=True, cwd=None):
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, env=env, cwd=cwd,
                              start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{' '.join(args)}: timed out after {timeout}s\n{e.output or ''}")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}")
    return proc


# ------------------------------------------------------------------ PostgreSQL
class BenchPostgres(Postgres):
    """The harness's throw-away PostgreSQL 15 (initdb as the postgres account,
    SCRAM, loopback, free port), tuned for the benchmark and without the
    test roles; setup_bench() makes the bench role and pgbench's tables."""

    def __init__(self, base_dir, max_connections):
        super().__init__(base_dir, settings={
            "max_connections": str(max_connections),
            "shared_buffers": "'256MB'",
            "password_encryption": "'scram-sha-256'",
            "log_min_messages": "warning",
            "log_connections": "off",
            "log_disconnections": "off",
            "autovacuum": "off",
        })
        self.started = False
        self.sslmode = "disable"  # what pgbench asks of every target (--tls: require)

    def use_tls(self, cert_file, key_file):
        """ssl = on with this certificate (before init()); clients then
        connect with sslmode=require."""
        self.extra_settings.update({"ssl": "on", "ssl_cert_file": f"'{cert_file}'",
                                    "ssl_key_file": f"'{key_file}'"})
        self.sslmode = "require"

    def env(self):
        """Environment for the client programs (pgbench)."""
        return {"PATH": f"{PG_BIN}:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
                "HOME": self.base_dir}

    def bench_env(self, **extra):
        return dict(self.env(), PGPASSWORD=BENCH_PASSWORD, PGSSLMODE=self.sslmode, **extra)

    def init(self):
        super().init(create_objects=False)

    def start(self):
        self.started = True  # even if it fails half-way: stop() then cleans up
        super().start()

    def stop(self):
        if not self.started:
            return
        self.started = False
        pidfile = os.path.join(self.data_dir, "postmaster.pid")
        if not os.path.exists(pidfile):
            return
        try:
            super().stop()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"pg_ctl stop failed, killing the postmaster: {first_line(str(e))}")
            try:
                with open(pidfile) as f:
                    pid = int(f.readline())
                os.kill(pid, signal.SIGQUIT)
                time.sleep(2)
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def bench_query(self, sql, port=None, timeout=60):
        """One statement as the bench user in the bench database; text rows."""
        return self.query_text(sql, db=BENCH_DB, user=BENCH_USER, password=BENCH_PASSWORD,
                               port=port, timeout=timeout)

    def setup_bench(self, scale):
        """The bench role and database, pgbench -i; returns the role's SCRAM
        secret (pg_authid) for the poolers' userlist.txt."""
        self.query_text(f"CREATE ROLE {BENCH_USER} LOGIN PASSWORD '{BENCH_PASSWORD}'")
        self.query_text(f"CREATE DATABASE {BENCH_DB} OWNER {BENCH_USER}")
        run_cmd([f"{PG_BIN}/pgbench", "-i", "-q", "-s", str(scale), "-h", LOOPBACK,
                 "-p", str(self.port), "-U", BENCH_USER, BENCH_DB],
                timeout=600, env=self.bench_env())
        self.bench_query("VACUUM ANALYZE", timeout=300)
        return self.query_text(
            f"SELECT rolpassword FROM pg_authid WHERE rolname = '{BENCH_USER}'")[0][0]

    def backend_pids(self):
        """The bench user's backends (not the one asking)."""
        rows = self.query_text(f"SELECT pid FROM pg_stat_activity WHERE usename = "
                               f"'{BENCH_USER}' AND pid <> pg_backend_pid()")
        return [int(r[0]) for r in rows]


# --------------------------------------------------------------------- poolers
class BenchPooler(Pooler):
    """One pooler under test, PgBouncer or Usher: the harness's Pooler (one
    pgbouncer.ini writer for both; PgBouncer runs as the postgres account),
    with the benchmark's settings, a fresh port at every start, a session of
    its own (Ctrl-C reaches only this script) and a login through it before
    it counts as started. `kind` (pgbouncer, usher) is what runs; `name` is
    the target it is measured as (usher-base: a second Usher binary;
    usher-cache: Usher with query_cache = on)."""

    def __init__(self, kind, binary, base_dir, pg, args, name=None):
        super().__init__(pg, base_dir, kind)
        self.name = name or kind
        self.binary = binary
        # run.py's options: server_transport, clients, idle_clients,
        # pool_size, workers, userlist_secret
        self.args = args
        self.new_session = True
        self.starts = 0
        self.http_port = None  # --http-scrape: the HTTP endpoint's port, else None

    def serves_http(self):
        """--http-scrape turns the HTTP endpoint on for the Ushers of --usher-bin
        (usher, usher-cache), not for usher-base, whose build may predate it."""
        return bool(getattr(self.args, "http_scrape", 0)) and self.kind == "usher" \
            and self.name != BASELINE

    def alive(self):
        return self.running()

    def write_config(self, scram_secret):
        a = self.args
        host = self.pg.sock_dir if a.server_transport == "unix" else LOOPBACK
        server = f"host={host} port={self.pg.port}"
        max_client = max(1000, max(a.clients) + 100, a.idle_clients + 200)
        settings = {
            "listen_addr": LOOPBACK,
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": self.userlist_path,
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
            "logfile": self.log_path,
            "log_connections": 0,
            "log_disconnections": 0,
            "log_pooler_errors": 1,
            "log_stats": 0,
        }
        if getattr(a, "tls_files", None):
            # Clients may use TLS (pgbench asks for it; the readiness probe
            # of launch() does not), servers must.
            settings.update({"client_tls_sslmode": "prefer",
                             "client_tls_cert_file": a.tls_files["cert"],
                             "client_tls_key_file": a.tls_files["key"],
                             "server_tls_sslmode": "require"})
        users = {BENCH_USER: scram_secret if a.userlist_secret == "scram" else BENCH_PASSWORD}
        if self.kind == "usher":
            settings["workers"] = a.workers
        if self.http_port:
            # /metrics on loopback, no token (--http-scrape GETs it during every run).
            settings.update({"http_listen_addr": LOOPBACK, "http_listen_port": self.http_port,
                             "http_public_read": 1})
        if self.kind == "usher" and getattr(a, "cache", False):
            # Both Ushers of --cache get the console (SHOW CACHE, CACHE
            # FLUSH) for the bench user, so that the cache is their only
            # difference.
            settings["admin_users"] = BENCH_USER
        if self.name == CACHED:
            # The invalidation stream logs in as the superuser (REPLICATION);
            # it has no client's SCRAM keys, so userlist.txt holds its password.
            settings["query_cache"] = "on"
            settings["query_cache_replication_user"] = SUPERUSER
            users[SUPERUSER] = SUPERUSER_PASSWORD
        self.write_ini(databases={BENCH_DB: f"{server} dbname={BENCH_DB}"}, settings=settings)
        self.write_userlist(users)

    def launch(self, scram_secret, timeout=30):
        """Start on a fresh port; up once a login and SELECT 1 through it
        work. RuntimeError (with its log's tail) if it exits or is not ready
        within timeout seconds."""
        self.starts += 1
        self.port = util.free_port()
        if self.serves_http():
            self.http_port = util.free_port()
            while self.http_port == self.port:
                self.http_port = util.free_port()
        self.write_config(scram_secret)
        deadline = time.monotonic() + timeout
        self.proc = None
        try:
            self.start(wait=True, timeout=timeout)
        except (RuntimeError, TimeoutError) as e:
            if self.proc is None:  # no such binary
                raise
            if self.proc.poll() is None:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {timeout}s: {e}\n"
                                   f"{tail(self.log_path)}") from None
        PROCS.add(self.proc)
        err = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} at startup:\n"
                    f"{tail(self.stdout_path)}{tail(self.log_path)}")
            try:
                self.pg.bench_query("SELECT 1", port=self.port, timeout=15)
                return
            except (OSError, wire.Closed, wire.ServerError) as e:
                err = str(e)
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {err}\n"
                           f"{tail(self.log_path)}")

    def stop(self, timeout=10):
        # PgBouncer: SIGINT is "safe shutdown" (waits for clients); SIGTERM is
        # immediate. Usher follows PgBouncer's signals.
        super().stop(timeout=timeout)
        PROCS.discard(self.proc)
