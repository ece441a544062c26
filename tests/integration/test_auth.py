"""Client authentication against userlist.txt, for each auth_type and each
kind of secret it can use, and the refusals (SQLSTATEs in expectations.py)."""

import struct
import subprocess

import psycopg
import pytest

from expectations import check_message, check_sqlstate
from harness import clients, wire
from harness.pooler import PASSWORDS, md5_secret

# AuthenticationRequest codes (first 'R' message after StartupMessage).
AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL = 0, 3, 5, 10


def _userlist(pg, user, secret_kind):
    entries = dict(PASSWORDS)
    if secret_kind == "md5":
        entries[user] = md5_secret(user, PASSWORDS[user])
    elif secret_kind == "scram":
        entries[user] = pg.scram_secret(user)
    return entries


def _first_auth_request(pooler, user):
    conn = wire.Conn(pooler.host, pooler.port)
    with conn:
        conn.send(wire.startup_packet({"user": user, "database": "appdb"}))
        tag, body = conn.read_message()
        assert tag == b"R", (tag, body)
        return struct.unpack("!I", body[:4])[0]


# (auth_type, user, userlist secret kind, expected auth request).
# app_md5's server password is stored as MD5 and pg_hba uses md5 for it: a
# pooler holding only an MD5 secret can log in to PostgreSQL with md5 only.
# Combinations PgBouncer 1.18 cannot serve are left out: trust/plain with a
# SCRAM or MD5 secret for a SCRAM server user ("server login failed: wrong
# password type"), scram-sha-256 with an MD5 secret.
MATRIX = [
    ("trust", "app", "plain", AUTH_OK),
    ("trust", "app_md5", "md5", AUTH_OK),
    ("plain", "app", "plain", AUTH_CLEARTEXT),
    ("plain", "app_md5", "md5", AUTH_CLEARTEXT),
    ("md5", "app", "plain", AUTH_MD5),
    ("md5", "app_md5", "md5", AUTH_MD5),
    # auth_type=md5 with a SCRAM secret switches to SCRAM (documented).
    ("md5", "app", "scram", AUTH_SASL),
    ("scram-sha-256", "app", "plain", AUTH_SASL),
    ("scram-sha-256", "app", "scram", AUTH_SASL),
]


@pytest.mark.parametrize("auth_type,user,secret_kind,auth_code", MATRIX)
def test_auth_matrix(pooler, pg, kind, auth_type, user, secret_kind, auth_code):
    p = pooler(auth_type=auth_type, userlist=_userlist(pg, user, secret_kind))
    assert _first_auth_request(p, user) == auth_code

    with p.connect(user=user, password=PASSWORDS[user]) as conn:
        assert conn.execute("select current_user, 1 + 1").fetchone() == (user, 2)
    # Twice: the second login reuses the pooled server connection (for SCRAM
    # pass-through the keys the pooler keeps from the first login).
    with p.connect(user=user, password=PASSWORDS[user]) as conn:
        assert conn.execute("select current_user").fetchone() == (user,)

    if auth_type == "trust":
        # trust ignores the password but still requires a userlist entry.
        with p.connect(user=user, password="whatever") as conn:
            assert conn.execute("select current_user").fetchone() == (user,)
    else:
        err, closed = clients.login_error(p, user=user, password="wrong-password")
        assert err["S"] == "FATAL"
        check_sqlstate(kind, "wrong_password", err["C"])
        check_message("wrong_password", err["M"])
        assert closed
    clients.assert_pooler_serves(p, user=user)


@pytest.mark.parametrize("auth_type", ["trust", "plain", "md5", "scram-sha-256"])
def test_unknown_user_refused(pooler, kind, auth_type):
    p = pooler(auth_type=auth_type)
    err, closed = clients.login_error(p, user="ghost", password="boo")
    assert err["S"] == "FATAL"
    check_sqlstate(kind, "unknown_user", err["C"])
    assert "authentication failed" in err["M"]
    assert closed


@pytest.mark.parametrize("auth_type", ["md5", "scram-sha-256"])
def test_wrong_password_psycopg_message(pooler, auth_type):
    p = pooler(auth_type=auth_type)
    with pytest.raises(psycopg.OperationalError) as exc:
        p.connect(password="nope")
    assert "authentication failed" in str(exc.value)


def test_unknown_database_refused(pooler, kind):
    p = pooler()
    err, closed = clients.login_error(p, db="nodb")
    assert err["S"] == "FATAL"
    check_sqlstate(kind, "unknown_database", err["C"])
    check_message("unknown_database", err["M"], db="nodb")
    assert closed


def test_missing_database_defaults_to_user_name(pooler, kind):
    # No "database" parameter: PostgreSQL (and PgBouncer) use the user name.
    p = pooler()
    err, _ = clients.login_error(p, user="app", db="")
    check_message("unknown_database", err["M"], db="app")


def test_server_rejects_pooler_login(pooler, kind):
    """The user is in userlist.txt but PostgreSQL has no such role: the
    pooler authenticates the client, then relays PostgreSQL's refusal."""
    p = pooler()
    err, closed = clients.login_error(p, user="admin", db="appdb", password="adminpass")
    assert err["S"] == "FATAL"
    check_sqlstate(kind, "server_login_failed", err["C"])
    check_message("server_login_failed", err["M"], user="admin")
    clients.assert_pooler_serves(p)


def test_non_admin_user_refused_on_console(pooler, kind):
    p = pooler()
    err, closed = clients.login_error(p, user="app", db="pgbouncer")
    check_sqlstate(kind, "admin_not_allowed", err["C"])
    check_message("admin_not_allowed", err["M"])
    assert closed


def test_stats_user_can_show_but_not_control(pooler, kind):
    p = pooler()
    pools = p.admin("show pools", user="stats")
    assert "cl_active" in pools.columns
    with pytest.raises(psycopg.Error) as exc:
        p.admin("pause", user="stats")
    check_sqlstate(kind, "admin_access_needed", exc.value.sqlstate)
    check_message("admin_access_needed", str(exc.value))


def _pooler_uid(p):
    with open(f"/proc/{p.proc.pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError("no Uid line")


def _console_over_unix_socket(p, uid, sql, user="pgbouncer"):
    """psql as OS user `uid`, over the Unix socket, with no password."""
    env = {"PATH": "/usr/bin:/bin", "PGHOST": p.sock_dir, "PGPORT": str(p.port),
           "PGUSER": user, "PGDATABASE": "pgbouncer", "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run([clients.PSQL, "-X", "-At", "-w", "-c", sql], env=env, user=uid,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5", "trust"])
def test_console_owner_over_unix_socket_needs_no_password(pooler, auth_type):
    """PgBouncer lets the OS user it runs as in as "pgbouncer" over the Unix
    socket with no password, as an admin (its own test suite relies on it)."""
    p = pooler(auth_type=auth_type)
    out = _console_over_unix_socket(p, _pooler_uid(p), "show version")
    assert out.returncode == 0, out.stderr
    assert "PgBouncer" in out.stdout or "Usher" in out.stdout
    out = _console_over_unix_socket(p, _pooler_uid(p), "reload")
    assert out.returncode == 0, out.stderr


def test_console_owner_rule_needs_the_same_os_user_and_the_unix_socket(pooler):
    p = pooler()
    other = 65534 if _pooler_uid(p) != 65534 else 0  # nobody, or root
    out = _console_over_unix_socket(p, other, "show version")
    assert out.returncode != 0
    # PgBouncer says "not allowed" before asking a password; Usher asks
    # first, and psql -w gives up there.
    assert "FATAL" in out.stderr or "no password supplied" in out.stderr
    # Over TCP, even from the same OS user, a password is asked for.
    err, _ = clients.login_error(p, user="pgbouncer", db="pgbouncer", password="")
    assert err["S"] == "FATAL"
    # Another name over the Unix socket gets no such pass.
    out = _console_over_unix_socket(p, _pooler_uid(p), "show version", user="app")
    assert out.returncode != 0


def test_auth_type_any_lets_anyone_read_the_console(pooler, kind):
    """PgBouncer under auth_type = any: admin_users may do everything,
    anyone else may SHOW but not control."""
    p = pooler(auth_type="any")
    pools = p.admin("show pools", user="app")
    assert "cl_active" in pools.columns
    with pytest.raises(psycopg.Error) as exc:
        p.admin("pause", user="app")
    check_message("admin_access_needed", str(exc.value))
    p.admin("pause", user="admin")
    p.admin("resume", user="admin")


def test_max_client_conn(pooler, kind):
    p = pooler(extra_ini={"max_client_conn": 3})
    held = [p.connect() for _ in range(3)]
    try:
        for c in held:
            assert c.execute("select 1").fetchone() == (1,)
        err, closed = clients.login_error(p)
        assert err["S"] == "FATAL"
        check_sqlstate(kind, "max_client_conn", err["C"])
        check_message("max_client_conn", err["M"])
        assert closed
        # PgBouncer exempts the admin console from max_client_conn (so an
        # operator can still get in when clients exhaust it).
        assert len(p.admin("show clients")) >= 3
    finally:
        for c in held:
            c.close()
    # A slot frees up once a client leaves (bounded wait for the close).
    from harness import util

    def can_connect():
        try:
            with p.connect() as c:
                return c.execute("select 2").fetchone() == (2,)
        except psycopg.OperationalError:
            return False

    util.wait_until(can_connect, 5, interval=0.1, what="a free client slot")
