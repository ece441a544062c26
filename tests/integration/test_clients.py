"""Prepared statements in transaction mode with real drivers other than
Python's: pgjdbc (Java), node-postgres and postgres.js (Node), pgx v4 (Go),
ruby-pg (Ruby). The programs live in tests/clients/<lang>/ and check every
value they get back themselves (workload: tests/clients/README.md).

Each test: a pool of 2 servers, a "pinner" that keeps taking one of them in
an open transaction for 0.1 s at a time (so the driver's clients keep moving
between servers, and often all share one), the driver program with 8
concurrent clients (its runs take 0.3 to 2 s). Then: exit 0, every client
served by more than one backend, no error (prepared-statement or other) in
PostgreSQL's log, and no more server connections than the pool size.

Against PgBouncer 1.18 (RUN_USHER_ONLY=1 POOLER=pgbouncer) all five fail
with 'prepared statement ... does not exist / already exists'.

Toolchains come from Debian packages (scripts/lib.sh TEST_PACKAGES) and npm
(tests/clients/node/package-lock.json, installed here on first use). A test is
skipped only when its toolchain is missing, with the reason in the skip.
"""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading

import pytest

from harness.pooler import REPO_ROOT

pytestmark = [pytest.mark.usher_only, pytest.mark.slow]

CLIENTS_DIR = os.path.join(REPO_ROOT, "tests", "clients")
# Compiled Java classes and Go binaries, keyed by the hash of their sources.
BUILD_CACHE = os.path.join(tempfile.gettempdir(), "usher-client-builds")

PGJDBC_JAR = "/usr/share/java/postgresql.jar"
GO_DEB_GOPATH = "/usr/share/gocode"
DRIVER_TIMEOUT = 180
POOL_SIZE = 2
CLIENTS = 8
ITERATIONS = 50

# A PostgreSQL log line that means a named statement went to the wrong server
# (or was lost): 26000 invalid_sql_statement_name, 42P05 duplicate_prepared_statement.
PREPARED_ERROR = re.compile(
    r"prepared statement|26000|42P05|does not exist|already exists", re.I
)
# The programs' last line, e.g. "pgx v4: 8 clients x 50 iterations ok: ...,
# servers per client 2..3 in 0.4s".
SUMMARY = re.compile(r"^.* iterations ok: .*servers per client (\d+)\.\.(\d+) .*$", re.M)
# Severity of a log line (log_line_prefix '%m [%p] %q%u@%d ').
SEVERITY = re.compile(
    r"\b(ERROR|FATAL|PANIC|WARNING|NOTICE|LOG|INFO|DETAIL|HINT|STATEMENT|CONTEXT):"
)


# ------------------------------------------------------------------ toolchains
def _need(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"TOOLCHAIN MISSING: {', '.join(missing)} not on PATH "
                    "(scripts/lib.sh TEST_PACKAGES installs it)")


def _sources_hash(*paths):
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def _run_build(cmd, what, timeout=600, **kw):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}"


def _install_lock():
    # Builds write into a shared cache: one at a time (tests may run in
    # parallel under xdist, and two pytest runs may share /tmp).
    os.makedirs(BUILD_CACHE, exist_ok=True)
    f = open(os.path.join(BUILD_CACHE, ".lock"), "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def java_command():
    _need("javac", "java")
    if not os.path.exists(PGJDBC_JAR):
        pytest.skip(f"TOOLCHAIN MISSING: {PGJDBC_JAR} (Debian libpostgresql-jdbc-java)")
    src = os.path.join(CLIENTS_DIR, "java", "JdbcClients.java")
    out = os.path.join(BUILD_CACHE, "java-" + _sources_hash(src, PGJDBC_JAR))
    with _install_lock():
        if not os.path.exists(os.path.join(out, "JdbcClients.class")):
            tmp = out + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            _run_build(["javac", "-cp", PGJDBC_JAR, "-d", tmp, src], "javac")
            os.replace(tmp, out)
    return ["java", "-cp", f"{out}:{PGJDBC_JAR}", "JdbcClients"]


def node_modules():
    """npm ci into tests/clients/node when node_modules is missing or older
    than package-lock.json (idempotent; needs the npm registry only then)."""
    _need("node", "npm")
    node_dir = os.path.join(CLIENTS_DIR, "node")
    lock = os.path.join(node_dir, "package-lock.json")
    stamp = os.path.join(node_dir, "node_modules", ".package-lock.json")
    with _install_lock():
        if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(lock):
            _run_build(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       "npm ci (tests/clients/node)", cwd=node_dir)
    return node_dir


def go_command():
    """Builds pgx_clients.go in GOPATH mode against Debian's pgx v4
    (golang-github-jackc-pgx-v4-dev): no module proxy, no network."""
    _need("go")
    if not os.path.isdir(os.path.join(GO_DEB_GOPATH, "src", "github.com", "jackc", "pgx", "v4")):
        pytest.skip(f"TOOLCHAIN MISSING: pgx v4 under {GO_DEB_GOPATH} "
                    "(Debian golang-github-jackc-pgx-v4-dev)")
    src = os.path.join(CLIENTS_DIR, "go", "pgx_clients.go")
    binary = os.path.join(BUILD_CACHE, "go-" + _sources_hash(src), "pgx_clients")
    with _install_lock():
        if not os.path.exists(binary):
            work = os.path.join(BUILD_CACHE, "gopath")
            os.makedirs(work, exist_ok=True)
            env = dict(os.environ, GO111MODULE="off", GOPATH=f"{work}:{GO_DEB_GOPATH}",
                       GOCACHE=os.path.join(BUILD_CACHE, "gocache"), GOFLAGS="",
                       GOPROXY="off", CGO_ENABLED="0")
            _run_build(["go", "build", "-o", binary + ".tmp", src], "go build", env=env)
            os.replace(binary + ".tmp", binary)
    return [binary]


def ruby_command():
    _need("ruby")
    probe = subprocess.run(["ruby", "-e", "require 'pg'"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("TOOLCHAIN MISSING: ruby cannot load pg (Debian ruby-pg): "
                    + probe.stdout[-500:])
    return ["ruby", os.path.join(CLIENTS_DIR, "ruby", "pg_clients.rb")]


# ------------------------------------------------------------------- the run
class Pinner:
    """Keeps one server busy in an open transaction for `hold` seconds, then
    commits and lets go for `gap` seconds, until stopped. With a pool of 2
    the driver's clients share the other server meanwhile, and land on
    either one afterwards: their statements must follow them."""

    def __init__(self, p, hold=0.1, gap=0.05, max_rounds=2000):
        self.conn = p.connect(autocommit=False)
        self.hold, self.gap, self.max_rounds = hold, gap, max_rounds
        self.stop_event = threading.Event()
        self.holding = threading.Event()
        self.rounds = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            while self.rounds < self.max_rounds and not self.stop_event.is_set():
                assert self.conn.execute("select 1").fetchone() == (1,)
                self.holding.set()
                self.stop_event.wait(self.hold)
                self.conn.commit()
                self.rounds += 1
                self.stop_event.wait(self.gap)
        except Exception as e:  # reported by run_driver()
            self.error = e
            self.holding.set()

    def __enter__(self):
        self.thread.start()
        self.holding.wait(15)  # the driver starts with one server pinned
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(15)
        self.conn.close()


def log_since(pg, offset):
    with open(pg.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def bad_log_lines(text):
    """Error lines, and any line (bar NOTICEs such as 'table ... does not
    exist, skipping') naming a prepared-statement problem."""
    bad = []
    for line in text.splitlines():
        m = SEVERITY.search(line)
        severity = m.group(1) if m else ""
        if severity in ("ERROR", "FATAL", "PANIC"):
            bad.append(line)
        elif severity != "NOTICE" and PREPARED_ERROR.search(line):
            bad.append(line)
    return bad


def run_driver(pooler, pg, name, cmd, cwd=None, extra_ini=None):
    p = pooler(pool_mode="transaction", default_pool_size=POOL_SIZE,
               extra_ini={"query_wait_timeout": 30, **(extra_ini or {})})
    log_offset = os.path.getsize(pg.log_path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LC_ALL": "C.UTF-8",
        "PGHOST": p.host,
        "PGPORT": str(p.port),
        "PGUSER": "app",
        "PGPASSWORD": p.password_for("app"),
        "PGDATABASE": "appdb",
        "CLIENTS": str(CLIENTS),
        "ITERATIONS": str(ITERATIONS),
    }
    with Pinner(p) as pinner:
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=DRIVER_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            pytest.fail(f"{name}: no result after {DRIVER_TIMEOUT}s (hang?):\n{out[-4000:]}")
    print(proc.stdout + f"(pinner: {pinner.rounds} rounds)")
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout[-6000:]}"
    assert pinner.error is None, f"pinner failed: {pinner.error!r}"
    assert pinner.rounds >= 1, "the pinner never held a server"
    summary = SUMMARY.search(proc.stdout)
    assert summary, f"{name} printed no summary:\n{proc.stdout[-2000:]}"
    # Each program counts the server backends (pg_backend_pid()) each of its
    # clients was served by: with the pinner, clients must have moved.
    assert int(summary.group(2)) >= 2, (
        f"{name}: no client moved between servers:\n{summary.group(0)}"
    )
    log = log_since(pg, log_offset)
    bad = bad_log_lines(log)
    assert not bad, f"{name}: PostgreSQL logged errors:\n" + "\n".join(bad[:40])
    # Nothing here is a reason to drop a server: a pool of 2 needs 2 backends
    # for the whole run (a server dropped and replaced also loses its
    # prepared statements).
    opened = log.count("connection authorized: user=app database=appdb")
    assert opened <= POOL_SIZE, (
        f"{name}: Usher opened {opened} server connections for a pool of {POOL_SIZE} "
        "(servers were dropped and replaced during the run)"
    )


# ------------------------------------------------------------------- drivers
def test_java_pgjdbc(pooler, pg):
    # pgjdbc always sends extra_float_digits in its startup packet; like
    # PgBouncer, Usher refuses unknown startup parameters unless told to
    # ignore them (the usual PgBouncer setting for JDBC clients).
    run_driver(pooler, pg, "pgjdbc", java_command(),
               extra_ini={"ignore_startup_parameters": "extra_float_digits"})


def test_node_pg(pooler, pg):
    node_dir = node_modules()
    run_driver(pooler, pg, "node-postgres", ["node", "pg_clients.js"], cwd=node_dir)


def test_node_postgres_js(pooler, pg):
    node_dir = node_modules()
    run_driver(pooler, pg, "postgres.js", ["node", "postgres_js_clients.js"], cwd=node_dir)


def test_go_pgx(pooler, pg):
    run_driver(pooler, pg, "pgx", go_command())


def test_ruby_pg(pooler, pg):
    run_driver(pooler, pg, "ruby-pg", ruby_command())
