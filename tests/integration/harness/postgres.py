"""A throw-away PostgreSQL 15 cluster on loopback, owned by the test session.

initdb/postgres/pg_ctl refuse to run as root, so every server-side command
runs as the `postgres` account (subprocess user=/group=, no intermediate
su/runuser process) inside a temp dir owned by it.

Starting and stopping need only the standard library (bench/ uses this
module too); psycopg is imported by the methods that use it (connect, sql).
"""

import contextlib
import os
import subprocess

from . import util, wire

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "pgsuperpass"

# Roles created by the fixture. app_md5's password is stored as an MD5 hash
# and pg_hba uses md5 for it, so a userlist holding an md5 secret can still
# log in to the server (a pooler cannot turn an md5 secret into SCRAM).
ROLES = {
    "app": "apppass",
    "app2": "app2pass",
    "app_md5": "md5pass",
}
APP_DB = "appdb"
PGBENCH_DB = "benchdb"

DEFAULT_HBA = (
    "# written by tests/integration/harness/postgres.py\n"
    "local all all scram-sha-256\n"
    "host all app_md5 127.0.0.1/32 md5\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)


class Postgres:
    def __init__(self, base_dir, settings=None, hba=None):
        """settings: postgresql.conf keys that replace or add to the
        defaults of _write_conf (a value of None drops the key).
        hba: the whole pg_hba.conf text instead of DEFAULT_HBA (e.g. hostssl
        lines for a server started with ssl = on)."""
        self.base_dir = base_dir
        self.extra_settings = dict(settings or {})
        self.hba = hba
        self.data_dir = os.path.join(base_dir, "data")
        self.sock_dir = os.path.join(base_dir, "sock")
        self.log_path = os.path.join(base_dir, "postgres.log")
        self.host = util.LOOPBACK
        self.port = None
        self.superuser = SUPERUSER
        self.password = SUPERUSER_PASSWORD

    # ---------------------------------------------------------------- process
    def _run_as_service(self, args, check=True, timeout=120, env_extra=None):
        env = {
            "PATH": f"{PG_BIN}:/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
            "HOME": self.base_dir,
        }
        if env_extra:
            env.update(env_extra)
        proc = subprocess.run(
            args,
            cwd=self.base_dir,
            env=env,
            **util.service_popen_kwargs(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
                f"--- postgres log ---\n{self.log_text()[-4000:]}"
            )
        return proc

    def init(self, create_objects=True):
        """initdb and start; then, unless create_objects is false, the roles
        and databases the tests use (ROLES, APP_DB, PGBENCH_DB)."""
        os.makedirs(self.sock_dir, exist_ok=True)
        util.chown_service(self.sock_dir)
        pwfile = os.path.join(self.base_dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        util.chown_service(pwfile)
        self._run_as_service(
            [
                f"{PG_BIN}/initdb",
                "-D", self.data_dir,
                "-U", SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        os.unlink(pwfile)
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as f:
            f.write(DEFAULT_HBA if self.hba is None else self.hba)
        self._start_with_retry()
        if create_objects:
            self._create_objects()

    def _write_conf(self):
        conf = os.path.join(self.data_dir, "postgresql.auto.conf")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sock_dir}'",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_min_messages": "info",
            "log_connections": "on",
            "log_disconnections": "on",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "log_timezone": "'UTC'",
            "timezone": "'UTC'",
            "logging_collector": "off",
            # The query cache's invalidation stream decodes the WAL.
            "wal_level": "logical",
        }
        settings.update(self.extra_settings)
        with open(conf, "w") as f:
            for k, v in settings.items():
                if v is not None:
                    f.write(f"{k} = {v}\n")
        util.chown_service(conf)

    def _start_with_retry(self, attempts=5):
        last = None
        for _ in range(attempts):
            self.port = util.free_port()
            self._write_conf()
            try:
                self.start()
                return
            except RuntimeError as e:  # port raced away: try another one
                last = e
        raise last

    def start(self):
        self._run_as_service(
            [f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-l", self.log_path,
             "-w", "-t", "60", "start"]
        )
        self.wait_ready()

    def stop(self, mode="fast"):
        self._run_as_service(
            [f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-m", mode, "-w",
             "-t", "60", "stop"]
        )

    def restart(self, mode="fast"):
        self._run_as_service(
            [f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-l", self.log_path,
             "-m", mode, "-w", "-t", "60", "restart"]
        )
        self.wait_ready()

    def is_running(self):
        proc = self._run_as_service(
            [f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "status"], check=False
        )
        return proc.returncode == 0

    def wait_ready(self, timeout=30):
        def ok():
            try:
                self.query_text("select 1", timeout=10)
                return True
            except (OSError, wire.Closed, wire.ServerError):
                return False

        util.wait_until(ok, timeout, interval=0.1, what="postgres ready")

    def log_text(self):
        return util.read_text(self.log_path)

    # -------------------------------------------------------------------- SQL
    def _password(self, user, password):
        if password is None:
            password = self.password if user == SUPERUSER else ROLES.get(user)
        return password

    def connect(self, db="postgres", user=SUPERUSER, password=None, **kw):
        import psycopg

        password = self._password(user, password)
        return psycopg.connect(
            host=self.host, port=self.port, dbname=db, user=user,
            password=password, connect_timeout=10, autocommit=True, **kw
        )

    def sql(self, query, params=None, db="postgres", user=SUPERUSER):
        """Run one statement directly on PostgreSQL (no pooler); rows or None."""
        with self.connect(db=db, user=user) as conn:
            cur = conn.execute(query, params)
            if cur.description is None:
                return None
            return cur.fetchall()

    def query_text(self, query, db="postgres", user=SUPERUSER, password=None,
                   port=None, timeout=60):
        """One simple-protocol statement over the raw wire client (standard
        library only): the rows as tuples of text. wire.ServerError if it
        fails. port: another port (a pooler's) instead of PostgreSQL's."""
        return wire.query_text(self.host, port or self.port, user, db,
                               self._password(user, password), query, timeout)

    def scram_secret(self, role):
        """pg_authid's verifier, usable as a userlist.txt SCRAM secret."""
        return self.sql(
            "select rolpassword from pg_authid where rolname = %s", (role,)
        )[0][0]

    def backend_pids(self, db=None, user=None):
        """PIDs of client backends (excluding the caller's own)."""
        q = ("select pid from pg_stat_activity where backend_type = "
             "'client backend' and pid <> pg_backend_pid()")
        params = []
        if db:
            q += " and datname = %s"
            params.append(db)
        if user:
            q += " and usename = %s"
            params.append(user)
        return [r[0] for r in self.sql(q, params)]

    def _create_objects(self):
        for role, password in ROLES.items():
            if role == "app_md5":
                with self.connect() as conn:
                    conn.execute("set password_encryption = 'md5'")
                    conn.execute(
                        f"create role {role} login password '{password}'"
                    )
            else:
                self.sql(f"create role {role} login password '{password}'")
        self.sql(f"create database {APP_DB} owner app")
        self.sql(f"create database {PGBENCH_DB} owner app")
        self.sql(f"grant all on database {APP_DB} to app2, app_md5")
        self.sql("grant all on schema public to app2, app_md5", db=APP_DB)
        proc = subprocess.run(
            [f"{PG_BIN}/pgbench", "-i", "-s", "1", "-q", "-h", self.host,
             "-p", str(self.port), "-U", "app", PGBENCH_DB],
            env={"PGPASSWORD": ROLES["app"], "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench -i failed:\n{proc.stdout}")


@contextlib.contextmanager
def scratch_server(prefix, settings=None, hba=None):
    """A Postgres of its own in a new temp dir (prefix names it), initdb'd
    and started; stopped and removed on leaving, however that happens.
    settings, hba: see Postgres."""
    base = util.make_service_tempdir(prefix)
    server = Postgres(base, settings=settings, hba=hba)
    try:
        server.init()
        yield server
    finally:
        try:
            if server.is_running():
                server.stop(mode="immediate")
        finally:
            util.remove_tree(base)
