"""Isolation and hardening: what a client, a server or a console user must
not be able to do to Usher or through it. Each test fails without the fix it
is named after."""

import base64
import hashlib
import hmac
import os
import struct
import threading

import psycopg
import pytest

from expectations import check_message, check_sqlstate
from harness import clients, util, wire
from harness.pooler import PASSWORDS


def _log_lines(p, needle):
    """Lines of the logfile (stdout repeats them) that contain `needle`."""
    return [line for line in util.read_text(p.log_path).splitlines() if needle in line]


# -------------------------------------------------- SCRAM keys of a forced user


@pytest.mark.usher_only  # PgBouncer 1.18: "server login failed: wrong password type"
def test_forced_user_pool_keeps_its_own_scram_keys(pooler, pg):
    """[databases] user= forces the server user; a client of another user
    must not hand its SCRAM keys to that pool, or later server logins fail."""
    target = f"host={pg.host} port={pg.port}"
    userlist = dict(PASSWORDS)
    userlist["app"] = pg.scram_secret("app")
    userlist["app2"] = pg.scram_secret("app2")
    p = pooler(
        databases={"forced": f"{target} dbname=appdb user=app", "appdb": f"{target} dbname=appdb"},
        userlist=userlist,
    )
    with p.connect(db="forced", user="app") as conn:
        assert conn.execute("select current_user").fetchone() == ("app",)
    with p.connect(db="forced", user="app2") as conn:
        assert conn.execute("select current_user").fetchone() == ("app",)
    p.admin("RECONNECT")
    for user in ("app2", "app"):
        with p.connect(db="forced", user=user) as conn:
            assert conn.execute("select current_user").fetchone() == ("app",)


# ------------------------------------------------------- PBKDF2 off the worker

SLOW_ITERATIONS = 3_000_000  # about a second of PBKDF2


def _b64(data):
    return base64.b64encode(data).decode()


def _scram_secret(password, iterations):
    """A userlist SCRAM secret, computed as PostgreSQL does."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


@pytest.mark.usher_only
def test_pbkdf2_does_not_stall_other_clients_of_the_worker(pooler):
    """A cleartext login checked against a SCRAM secret with many rounds
    runs PBKDF2; another client of the only worker keeps being served."""
    userlist = dict(PASSWORDS)
    userlist["slow"] = _scram_secret("right", SLOW_ITERATIONS)
    p = pooler(auth_type="plain", userlist=userlist, extra_ini={"workers": 1})
    steady = p.connect()
    events = []
    lock = threading.Lock()
    slow = wire.Conn(p.host, p.port, timeout=120)
    try:
        assert steady.execute("select 1").fetchone() == (1,)
        slow.send(wire.startup_packet({"user": "slow", "database": "appdb"}))
        tag, body = slow.read_message()
        assert tag == b"R" and struct.unpack("!I", body[:4])[0] == 3  # cleartext
        slow.send(wire.message(b"p", b"wrong\0"))

        def wait_for_answer():
            msgs = slow.read_until({b"E", b"Z"}, timeout=120)
            with lock:
                events.append("failed login answered")
            return msgs

        waiter = clients.start(wait_for_answer)
        for i in range(50):
            assert steady.execute("select %s::int", (i,)).fetchone() == (i,)
        with lock:
            events.append("steady client done")
        msgs = waiter.join_result(150)
    finally:
        slow.close()
        steady.close()
    assert wire.errors_of(msgs)[0]["C"] == "28P01"
    assert events == ["steady client done", "failed login answered"]


# ----------------------------------------------------------- the admin console


@pytest.mark.usher_only  # PgBouncer 1.18 says "not allowed" before asking for a password
def test_console_checks_the_password_before_admin_rights(pooler, kind):
    """A wrong password gets the ordinary password failure whoever the user
    is, so the console does not tell who is an admin; the right password
    without rights gets "not allowed"."""
    p = pooler()
    for user in ("app", "admin", "stats"):
        err, closed = clients.login_error(p, user=user, db="pgbouncer", password="wrong")
        check_sqlstate(kind, "wrong_password", err["C"])
        check_message("wrong_password", err["M"])
        assert closed
    err, closed = clients.login_error(p, user="app", db="pgbouncer")
    check_sqlstate(kind, "admin_not_allowed", err["C"])
    check_message("admin_not_allowed", err["M"])


SECRET_MARKER = "top-secret-marker-5e1f"


@pytest.mark.usher_only
@pytest.mark.parametrize("content", [
    f"{SECRET_MARKER}\n",
    f"{SECRET_MARKER} = 1\n",
    f"[pgbouncer]\nlisten_port = {SECRET_MARKER}\n",
    f"[databases]\nx = {SECRET_MARKER}\n[pgbouncer]\n",
    f"[databases]\nx = {SECRET_MARKER}=1\n[pgbouncer]\n",
    f"[{SECRET_MARKER}] x\n",
], ids=["line", "before-section", "value", "connstr", "connstr-key", "section"])
def test_reload_of_any_file_does_not_show_its_content(pooler, content):
    """SET conffile + RELOAD reads any file Usher can read; the error names
    the file and line, never what the line holds."""
    p = pooler()
    path = os.path.join(p.base_dir, "secret.txt")
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, 0o600)
    p.admin(f"SET conffile = '{path}'")
    with pytest.raises(psycopg.Error) as exc:
        p.admin("RELOAD")
    message = str(exc.value)
    assert SECRET_MARKER not in message
    assert f"{path}:" in message  # file and line


# ------------------------------------------------------------------- the log


@pytest.mark.usher_only
def test_client_names_cannot_forge_log_lines(pooler):
    p = pooler()
    clients.login_error(p, user="x\nFAKE LOG LINE user", password="whatever")
    clients.login_error(p, db="nodb\rFAKE LOG LINE db\x1b[2J")
    util.wait_until(lambda: len(_log_lines(p, "FAKE LOG LINE")) >= 2, 5, what="both log lines")
    text = p.log_text()
    for line in text.replace("\r", "\n").splitlines():
        assert not line.startswith("FAKE LOG LINE"), line
    assert "\x1b" not in text
    assert "x\\x0aFAKE LOG LINE user" in text
    assert "nodb\\x0dFAKE LOG LINE db\\x1b[2J" in text
