"""Client-side helpers for tests: raw logins, psql, pgbench, threads."""

import re
import subprocess
import threading
import time

from . import wire

PSQL = "/usr/bin/psql"
PGBENCH = "/usr/bin/pgbench"


def raw_login(pooler, user="app", db="appdb", password=None, params=None,
              timeout=10, **kw):
    """Log in over a raw socket. Returns (conn, messages, error_fields|None).

    The caller owns conn (close it). error_fields is the first
    ErrorResponse's fields when login failed.
    """
    if password is None:
        password = pooler.password_for(user)
    conn = wire.Conn(pooler.host, pooler.port, timeout=timeout)
    msgs = conn.startup(user, db, password, params=params, **kw)
    errors = wire.errors_of(msgs)
    return conn, msgs, (errors[0] if errors else None)


def login_error(pooler, user="app", db="appdb", password=None, params=None, **kw):
    """ErrorResponse fields of a failed login (asserts it failed), and
    whether the pooler then closed the connection."""
    conn, msgs, err = raw_login(pooler, user, db, password, params, **kw)
    try:
        assert err is not None, (
            f"login of {user}@{db} unexpectedly succeeded: {[t for t, _ in msgs]}"
        )
        closed = conn.expect_closed(5)
        return err, closed
    finally:
        conn.close()


def run_psql(pooler, args, user="app", db="appdb", cwd=None, timeout=60, input=None):
    env = pooler.env(user=user)
    cmd = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-d", db, *args]
    return subprocess.run(
        cmd, env=env, cwd=cwd, input=input, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, timeout=timeout,
    )


def run_pgbench(pooler, args, user="app", db="benchdb", timeout=120):
    env = pooler.env(user=user)
    cmd = [PGBENCH, "-n", *args, db]
    return subprocess.run(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=timeout,
    )


def parse_pgbench(output):
    """Figures from pgbench's summary (PostgreSQL 15 format)."""
    out = {}
    m = re.search(r"number of transactions actually processed: (\d+)(?:/(\d+))?", output)
    if m:
        out["processed"] = int(m.group(1))
        out["expected"] = int(m.group(2)) if m.group(2) else None
    m = re.search(r"number of failed transactions: (\d+)", output)
    out["failed"] = int(m.group(1)) if m else None
    m = re.search(r"tps = ([\d.]+)", output)
    out["tps"] = float(m.group(1)) if m else None
    m = re.search(r"number of clients: (\d+)", output)
    out["clients"] = int(m.group(1)) if m else None
    m = re.search(r"initial connection time = ([\d.]+) ms", output)
    out["connect_ms"] = float(m.group(1)) if m else None
    return out


class Worker(threading.Thread):
    """A thread running fn(*args); result/exception kept for join_result()."""

    def __init__(self, fn, *args, name=None, **kwargs):
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.result = None
        self.error = None
        self.started_at = None
        self.finished_at = None

    def run(self):
        self.started_at = time.monotonic()
        try:
            self.result = self.fn(*self.args, **self.kwargs)
        except BaseException as e:  # noqa: BLE001 - reported by join_result
            self.error = e
        finally:
            self.finished_at = time.monotonic()

    def join_result(self, timeout):
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"worker {self.name} still running after {timeout}s")
        if self.error is not None:
            raise self.error
        return self.result

    def elapsed(self):
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def start(fn, *args, **kwargs):
    w = Worker(fn, *args, **kwargs)
    w.start()
    return w


def assert_pooler_serves(pooler, db="appdb", user="app"):
    """The pooler is up and a fresh client gets a correct answer."""
    assert pooler.running(), "pooler process died:\n" + pooler.output_text()[-3000:]
    with pooler.connect(db=db, user=user) as conn:
        assert conn.execute("select 6 * 7").fetchone() == (42,)
