"""Start a pooler (Usher or PgBouncer) from a generated pgbouncer.ini.

Both binaries read the same pgbouncer.ini + userlist.txt, so one writer serves
both. PgBouncer refuses to run as root, so it runs as the `postgres` account
(subprocess user=/group=, exec'd directly so that `pid` is the pooler itself
and signals reach it); Usher runs as whoever runs the tests.

Writing the config and running the process need only the standard library
(bench/ uses this class too); psycopg is imported by the client methods.
"""

import os
import resource
import signal
import subprocess

from . import util
from .postgres import ROLES, SUPERUSER, SUPERUSER_PASSWORD

REPO_ROOT = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..")
)
PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")


def pooler_kind():
    kind = os.environ.get("POOLER", "usher").strip().lower()
    if kind not in ("usher", "pgbouncer"):
        raise ValueError(f"POOLER must be usher or pgbouncer, not {kind!r}")
    return kind


def usher_bin():
    return os.environ.get("USHER_BIN", os.path.join(REPO_ROOT, "build", "usher"))


def pooler_binary(kind=None):
    kind = kind or pooler_kind()
    return PGBOUNCER_BIN if kind == "pgbouncer" else usher_bin()


ADMIN_USER = "admin"
ADMIN_PASSWORD = "adminpass"
STATS_USER = "stats"
STATS_PASSWORD = "statspass"

# Plain-text passwords known to the tests; userlist.txt defaults to these.
PASSWORDS = dict(ROLES)
PASSWORDS[SUPERUSER] = SUPERUSER_PASSWORD
PASSWORDS[ADMIN_USER] = ADMIN_PASSWORD
PASSWORDS[STATS_USER] = STATS_PASSWORD


def md5_secret(user, password):
    import hashlib

    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def quote_userlist(value):
    return '"' + value.replace('"', '""') + '"'


def diag_dict(diag):
    """Copy of a psycopg Diagnostic (only valid inside a notice callback)."""
    return {
        "severity": diag.severity,
        "sqlstate": diag.sqlstate,
        "message": diag.message_primary,
        "detail": diag.message_detail,
        "hint": diag.message_hint,
    }


class AdminResult:
    """Rows of an admin console command, with their column names."""

    def __init__(self, columns, rows, notices=()):
        self.columns = list(columns)
        self.rows = [tuple(r) for r in rows]
        self.notices = list(notices)

    def dicts(self):
        return [dict(zip(self.columns, r)) for r in self.rows]

    def __iter__(self):
        return iter(self.dicts())

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        return f"AdminResult(columns={self.columns!r}, rows={self.rows!r})"


class Pooler:
    def __init__(self, pg, base_dir, kind=None):
        self.pg = pg
        self.kind = kind or pooler_kind()
        self.binary = pooler_binary(self.kind)
        self.base_dir = base_dir
        self.ini_path = os.path.join(base_dir, "pgbouncer.ini")
        self.userlist_path = os.path.join(base_dir, "userlist.txt")
        self.log_path = os.path.join(base_dir, "pooler.log")
        self.pid_path = os.path.join(base_dir, "pooler.pid")
        self.stdout_path = os.path.join(base_dir, "pooler.stdout")
        self.sock_dir = base_dir
        self.host = util.LOOPBACK
        self.port = util.free_port()
        self.proc = None
        self.settings = {}
        self.databases = {}
        self.users = {}
        self.passwords = dict(PASSWORDS)
        self.extra_args = []
        # PgBouncer refuses to run as root: start it as the service account
        # unless a test wants root (e.g. to exercise -u).
        self.run_as_service = self.kind == "pgbouncer"
        # True: the pooler gets a session (and process group) of its own, so
        # that a Ctrl-C at the terminal reaches only the script (bench/).
        self.new_session = False

    # ------------------------------------------------------------ config files
    def default_databases(self):
        target = f"host={self.pg.host} port={self.pg.port}"
        return {
            "appdb": f"{target} dbname=appdb",
            "benchdb": f"{target} dbname=benchdb",
            "postgres": f"{target} dbname=postgres",
        }

    def default_settings(self):
        return {
            "listen_addr": self.host,
            "listen_port": str(self.port),
            "unix_socket_dir": self.sock_dir,
            "auth_type": "scram-sha-256",
            "auth_file": self.userlist_path,
            "admin_users": ADMIN_USER,
            "stats_users": STATS_USER,
            "logfile": self.log_path,
            "pidfile": self.pid_path,
            "pool_mode": "transaction",
            "default_pool_size": "5",
            "max_client_conn": "200",
        }

    def write_ini(self, databases=None, settings=None, users=None, extra_ini=None):
        """(Re)write pgbouncer.ini; None keeps the previous value."""
        if databases is not None:
            self.databases = dict(databases)
        if settings is not None:
            self.settings = dict(settings)
        if users is not None:
            self.users = dict(users)
        if extra_ini:
            self.settings.update({k: str(v) for k, v in extra_ini.items()})
        lines = ["; generated by tests/integration/harness/pooler.py", "[databases]"]
        for name, conn in self.databases.items():
            lines.append(f"{name} = {conn}")
        if self.users:
            lines.append("")
            lines.append("[users]")
            for name, opts in self.users.items():
                lines.append(f"{name} = {opts}")
        peers = getattr(self, "peers", {})  # {peer_id: connstring}
        if peers:
            lines.append("")
            lines.append("[peers]")
            for peer_id, conn in peers.items():
                lines.append(f"{peer_id} = {conn}")
        lines.append("")
        lines.append("[pgbouncer]")
        for key, value in self.settings.items():
            lines.append(f"{key} = {value}")
        self._write(self.ini_path, "\n".join(lines) + "\n")

    def write_userlist(self, entries=None):
        """entries: {user: secret} (plain text, md5..., SCRAM-SHA-256$...)."""
        if entries is None:
            entries = dict(self.passwords)
        lines = [f"{quote_userlist(u)} {quote_userlist(s)}" for u, s in entries.items()]
        self._write(self.userlist_path, "\n".join(lines) + "\n")

    def _write(self, path, text):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        util.chown_service(tmp)
        os.replace(tmp, path)

    # ---------------------------------------------------------------- process
    def command(self):
        return [self.binary, *self.extra_args, self.ini_path]

    def start(self, wait=True, timeout=15):
        if not os.path.exists(self.binary):
            raise RuntimeError(
                f"pooler binary {self.binary} not found (POOLER={self.kind}; "
                "set USHER_BIN or POOLER=pgbouncer)"
            )
        out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            **self.popen_kwargs(),
        )
        out.close()
        if wait:
            self.wait_listening(timeout)
        return self

    def set_nofile(self, limit):
        """Sets the running pooler's soft RLIMIT_NOFILE: new descriptors get
        numbers below `limit` or fail with EMFILE. The hard limit stays (it
        can be lowered but not raised again without CAP_SYS_RESOURCE), so a
        later call may raise the soft one again."""
        _, hard = resource.prlimit(self.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(self.proc.pid, resource.RLIMIT_NOFILE, (limit, hard))

    def open_fds(self):
        """The pooler's open descriptor numbers (from /proc)."""
        return sorted(int(n) for n in os.listdir(f"/proc/{self.proc.pid}/fd"))

    def popen_kwargs(self):
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": self.base_dir}
        # A sanitizer build keeps freed memory in quarantine (256 MB by
        # default), which memory-bound tests would read as growth: keep it
        # small. The caller's own sanitizer options come first.
        env["ASAN_OPTIONS"] = ":".join(
            o for o in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16") if o)
        if os.environ.get("UBSAN_OPTIONS"):
            env["UBSAN_OPTIONS"] = os.environ["UBSAN_OPTIONS"]
        kw = {"env": env}
        if self.run_as_service:
            kw.update(util.service_popen_kwargs())
        if self.new_session:
            kw["start_new_session"] = True
        return kw

    def wait_listening(self, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"pooler exited with {self.proc.returncode} during start-up:\n"
                    + self.output_text()[-4000:]
                )
            # Usher listens on every address at once; PgBouncer may open the
            # Unix socket a moment after TCP, so wait for both.
            socket_dir = self.settings.get("unix_socket_dir")
            if socket_dir and not os.path.exists(f"{socket_dir}/.s.PGSQL.{self.port}"):
                return False
            return util.port_open(self.port)

        util.wait_until(ready, timeout, what=f"pooler listening on {self.port}")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def sigterm(self):
        self.signal(signal.SIGTERM)

    def sigint(self):
        self.signal(signal.SIGINT)

    def sigquit(self):
        self.signal(signal.SIGQUIT)

    def wait_exit(self, timeout):
        """Exit status, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5):
        """SIGTERM (PgBouncer's immediate shutdown), SIGKILL after timeout."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.terminate()
        if self.wait_exit(timeout) is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_text(self):
        """The pooler's logfile plus its stdout/stderr."""
        return util.read_text(self.log_path) + util.read_text(self.stdout_path)

    def output_text(self):
        return util.read_text(self.stdout_path) + util.read_text(self.log_path)

    # ---------------------------------------------------------------- clients
    def password_for(self, user):
        return self.passwords.get(user, "")

    def conninfo(self, db="appdb", user="app", password=None, **params):
        import psycopg

        if password is None:
            password = self.password_for(user)
        parts = {
            "host": self.host,
            "port": self.port,
            "dbname": db,
            "user": user,
            "password": password,
            "connect_timeout": 10,
        }
        parts.update(params)
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})

    dsn = conninfo

    def connect(self, db="appdb", user="app", password=None, autocommit=True,
                prepare_threshold=None, **params):
        """psycopg 3 connection through the pooler.

        prepare_threshold=None by default: PgBouncer 1.18 has no support for
        named prepared statements in transaction mode.
        """
        import psycopg

        conn = psycopg.connect(
            self.conninfo(db, user, password, **params), autocommit=autocommit
        )
        conn.prepare_threshold = prepare_threshold
        return conn

    def connect_psycopg2(self, db="appdb", user="app", password=None, **params):
        import psycopg2

        return psycopg2.connect(self.conninfo(db, user, password, **params))

    def admin(self, sql, user=ADMIN_USER, password=None):
        """Run one admin console command (simple query protocol)."""
        notices = []
        with self.connect(db="pgbouncer", user=user, password=password) as conn:
            conn.add_notice_handler(lambda d: notices.append(diag_dict(d)))
            cur = conn.execute(sql)
            if cur.description is None:
                return AdminResult([], [], notices)
            cols = [c.name for c in cur.description]
            return AdminResult(cols, cur.fetchall(), notices)

    def env(self, user="app", password=None):
        """Environment for psql/pgbench through the pooler."""
        if password is None:
            password = self.password_for(user)
        return {
            "PATH": "/usr/bin:/bin",
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGCONNECT_TIMEOUT": "10",
            "LC_ALL": "C.UTF-8",
        }
