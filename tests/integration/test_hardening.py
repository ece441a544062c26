"""Isolation and hardening: what a client, a server or a console user must
not be able to do to Usher or through it. Each test fails without the fix it
is named after."""

import base64
import hashlib
import hmac
import os
import resource
import socket
import struct
import threading
import time

import psycopg
import pytest

from expectations import check_message, check_sqlstate
from harness import clients, util, wire
from harness.pooler import PASSWORDS


def _log_lines(p, needle):
    """Lines of the logfile (stdout repeats them) that contain `needle`."""
    return [line for line in util.read_text(p.log_path).splitlines() if needle in line]


# --------------------------------------------------------------- descriptors


@pytest.mark.usher_only
def test_accept_errors_back_off_instead_of_spinning(pooler):
    """EMFILE on accept: the listener waits (100 ms doubling to 1 s) and logs
    once per step, instead of re-arming at once and logging each failure."""
    p = pooler()
    # A few descriptors to spare, then far more connections than that.
    p.set_nofile(max(p.open_fds()) + 1 + 6)
    held = []
    try:
        for _ in range(40):
            held.append(socket.create_connection((p.host, p.port), timeout=5))
        util.wait_until(lambda: _log_lines(p, "accept failed"), 10, what="an accept failure")
        time.sleep(2.5)  # the episode runs through every step of the backoff
        lines = _log_lines(p, "accept failed")
        assert 1 <= len(lines) <= 8, f"{len(lines)} lines, first ones: {lines[:10]}"
        assert "Too many open files" in lines[0]
    finally:
        for s in held:
            s.close()
    # The held sockets' descriptors come back: a client is served straight away.
    clients.assert_pooler_serves(p)


# src/runtime/runtime.h kAdminConnectionReserve.
ADMIN_CONNECTION_RESERVE = 10


@pytest.mark.usher_only
def test_connections_past_max_client_conn_and_reserve_are_refused_at_accept(pooler):
    """Past max_client_conn + the admin reserve, a new connection is refused
    at accept (53300, before it says anything) without a session."""
    max_client_conn = 2
    p = pooler(extra_ini={"max_client_conn": max_client_conn})
    held = []
    refusal = {}

    def refused_at_once():
        c = wire.Conn(p.host, p.port, timeout=5)
        try:
            tag, body = c.read_message(timeout=1)
        except TimeoutError:
            held.append(c)  # it got a session after all (the count lags): keep it
            return False
        c.close()
        refusal.update(wire.parse_fields(body) if tag == b"E" else {"tag": tag})
        return True

    try:
        # Connections that never send a startup packet, up to the cap.
        for _ in range(max_client_conn + ADMIN_CONNECTION_RESERVE):
            held.append(wire.Conn(p.host, p.port, timeout=5))
        util.wait_until(refused_at_once, 15, interval=0.1, what="a refusal at accept")
        assert refusal.get("C") == "53300", refusal
        assert refusal["M"] == "no more connections allowed (max_client_conn)"
        assert refusal["S"] == "FATAL"
        # Below the cap again (a connection that raced the count may have
        # got a session), the reserve lets an operator in.
        while len(held) >= max_client_conn + ADMIN_CONNECTION_RESERVE:
            held.pop().close()

        def admin_gets_in():
            try:
                return len(p.admin("show clients")) >= 1
            except psycopg.OperationalError:
                return False

        util.wait_until(admin_gets_in, 15, interval=0.2, what="the admin console")
    finally:
        for c in held:
            c.close()


def _settled_fds(p, quiet=0.3, timeout=5.0):
    """The pooler's open descriptors, once unchanged for `quiet` seconds
    (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    fds = set(p.open_fds())
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = set(p.open_fds())
        if now == fds:
            break
        fds = now
    return fds


@pytest.mark.usher_only
def test_running_out_of_descriptors_for_a_server_does_not_lock_the_pool_out(pooler):
    """EMFILE opening a server connection fails that client with 53000; it
    does not start server_login_retry for the clients after it."""
    p = pooler(extra_ini={"server_login_retry": 60})
    # The login path warmed up (first SCRAM exchange) without a server.
    clients.login_error(p, db="nosuchdb")
    original, _ = resource.prlimit(p.pid, resource.RLIMIT_NOFILE)
    # Usher closes sockets whose peer went (the harness's readiness probe)
    # when it notices: a descriptor freed after the count would leave two
    # to spare, and the server connection would open.
    fds = _settled_fds(p)
    lowest_free = next(n for n in range(len(fds) + 1) if n not in fds)
    # One descriptor to spare: the client's socket, none for its server.
    p.set_nofile(lowest_free + 1)
    try:
        err, closed = clients.login_error(p)
    finally:
        p.set_nofile(original)
    assert err["C"] == "53000", err
    assert "Too many open files" in err["M"], err
    assert closed
    # The next client is served: no "server login has been failing".
    with p.connect() as conn:
        assert conn.execute("select 7").fetchone() == (7,)
    assert not _log_lines(p, "server_login_retry")


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


# ------------------------------------------- a server that is not what it seems

FAKE_PASSWORD = "fakepass"


class FakePeer:
    """One connection to the fake server, from the pooler."""

    def __init__(self, sock, server):
        self.sock = sock
        self.server = server
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_startup(self):
        """Reads the StartupMessage; an SSLRequest before it is declined
        with 'N', as a server without TLS does."""
        while True:
            (length,) = struct.unpack("!I", self._take(4))
            body = self._take(length - 4)
            if length != 8 or struct.unpack("!I", body)[0] != wire.SSL_REQUEST_CODE:
                return
            self.sock.sendall(b"N")

    def read(self):
        tag = self._take(1)
        (length,) = struct.unpack("!I", self._take(4))
        body = self._take(length - 4)
        self.server.received.append((tag, body))
        return tag, body

    def send(self, tag, body=b""):
        self.sock.sendall(wire.message(tag, body))

    def auth(self, code, data=b""):
        self.send(b"R", struct.pack("!I", code) + data)

    def ready(self):
        """What PostgreSQL sends at the end of a login, then simple queries
        answered until the pooler hangs up."""
        self.auth(0)
        for k, v in (("server_version", "15.0"), ("client_encoding", "UTF8"),
                     ("DateStyle", "ISO, MDY"), ("integer_datetimes", "on"),
                     ("standard_conforming_strings", "on"), ("TimeZone", "UTC")):
            self.send(b"S", k.encode() + b"\0" + v.encode() + b"\0")
        self.send(b"K", struct.pack("!II", 4242, 1234))
        self.send(b"Z", b"I")
        while True:
            tag, _ = self.read()
            if tag == b"X":
                return
            if tag == b"Q":
                self.send(b"I")
                self.send(b"Z", b"I")

    def scram_first(self, iterations):
        """AuthenticationSASL up to server-first; returns what the rest of
        the exchange needs."""
        self.auth(10, b"SCRAM-SHA-256\0\0")
        _, body = self.read()  # SASLInitialResponse
        _mechanism, rest = body.split(b"\0", 1)
        (n,) = struct.unpack("!i", rest[:4])
        client_first_bare = rest[4:4 + n][3:]  # after the GS2 header "n,,"
        client_nonce = dict(kv.split(b"=", 1) for kv in client_first_bare.split(b","))[b"r"]
        salt = os.urandom(16)
        server_first = b"r=" + client_nonce + b"fake,s=" + base64.b64encode(salt) + \
            b",i=" + str(iterations).encode()
        self.auth(11, server_first)
        return client_first_bare, server_first, salt


def scram_then_ready(peer):
    """A well-behaved SCRAM server that knows FAKE_PASSWORD."""
    iterations = 4096
    client_first_bare, server_first, salt = peer.scram_first(iterations)
    _, client_final = peer.read()  # SASLResponse
    without_proof = client_final[:client_final.rindex(b",p=")]
    auth_message = client_first_bare + b"," + server_first + b"," + without_proof
    salted = hashlib.pbkdf2_hmac("sha256", FAKE_PASSWORD.encode(), salt, iterations)
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    signature = hmac.new(server_key, auth_message, "sha256").digest()
    peer.auth(12, b"v=" + base64.b64encode(signature))
    peer.ready()


def iteration_bomb(peer):
    """Asks for two billion PBKDF2 rounds: minutes of CPU."""
    peer.scram_first(2_000_000_000)
    peer.read()


def ok_without_scram_final(peer):
    """Takes the client's proof and says AuthenticationOk without ever
    proving, with SASLFinal, that it knows the secret."""
    peer.scram_first(4096)
    peer.read()  # SASLResponse
    peer.ready()


def cleartext_then_ready(peer):
    """Asks for the password in clear text: what an impostor would do."""
    peer.auth(3)
    tag, body = peer.read()
    peer.server.passwords.append(body)
    peer.ready()


class FakeServer:
    """A PostgreSQL impostor on loopback. Each accepted connection runs the
    next script; everything it receives is recorded."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.received = []
        self.passwords = []
        self.listener = socket.create_server((util.LOOPBACK, 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            script = self.scripts.pop(0) if self.scripts else None
            threading.Thread(target=self._serve, args=(sock, script), daemon=True).start()

    def _serve(self, sock, script):
        sock.settimeout(15)
        with sock:
            try:
                peer = FakePeer(sock, self)
                peer.read_startup()
                if script:
                    script(peer)
            except (OSError, EOFError):
                pass

    def close(self):
        self.stopped.set()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def fake_server():
    made = []

    def make(*scripts):
        s = FakeServer(scripts)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def _pooler_with_fake(pooler, pg, fake):
    target = f"host={pg.host} port={pg.port}"
    return pooler(databases={
        "appdb": f"{target} dbname=appdb",
        "fakedb": f"host={util.LOOPBACK} port={fake.port} dbname=fake user=fakeuser "
                  f"password={FAKE_PASSWORD}",
    })


@pytest.mark.usher_only
def test_server_scram_iteration_count_is_capped(pooler, pg, fake_server):
    fake = fake_server(iteration_bomb)
    p = _pooler_with_fake(pooler, pg, fake)
    err, closed = clients.login_error(p, db="fakedb")
    assert "2000000000 SCRAM iterations" in err["M"], err
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_server_authentication_ok_before_scram_final_is_refused(pooler, pg, fake_server):
    fake = fake_server(ok_without_scram_final)
    p = _pooler_with_fake(pooler, pg, fake)
    err, closed = clients.login_error(p, db="fakedb")
    assert err["C"] == "08P01", err
    assert "AuthenticationOk before completing SCRAM" in err["M"], err
    clients.assert_pooler_serves(p)


@pytest.mark.usher_only
def test_server_authentication_downgrade_is_refused(pooler, pg, fake_server):
    """The pool's server ran SCRAM; a later connection that asks for a
    cleartext password is refused before the password is sent."""
    fake = fake_server(scram_then_ready, cleartext_then_ready)
    p = _pooler_with_fake(pooler, pg, fake)
    conn, msgs, err = clients.raw_login(p, db="fakedb")
    conn.close()
    assert err is None, err
    p.admin("RECONNECT fakedb")  # the next client needs a new server connection
    err, closed = clients.login_error(p, db="fakedb")
    assert err["C"] == "28000", err
    assert "cleartext password, but it used SCRAM-SHA-256 before" in err["M"], err
    assert fake.passwords == []  # the impostor never saw the password
    assert _log_lines(p, "may be an impostor")
    clients.assert_pooler_serves(p)


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


# ----------------------------------------------------------- password guessing


@pytest.mark.usher_only
def test_failed_logins_throttle_the_client_address(pooler):
    p = pooler()
    for _ in range(7):
        err, _ = clients.login_error(p, password="wrong")
        check_sqlstate("usher", "wrong_password", err["C"])
    util.wait_until(lambda: _log_lines(p, "client address 127.0.0.1 throttled"), 5,
                    what="the throttle's log line")
    assert len(_log_lines(p, "throttled")) == 1  # logged once, when it starts
    # Slowed, not refused: the right password still gets in.
    with p.connect() as conn:
        assert conn.execute("select 1").fetchone() == (1,)


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
    """SET conffile + RELOAD reads any file Usher can read. The console
    answers PgBouncer 1.25's fixed message; the log names the file and line,
    never what the line holds."""
    p = pooler()
    path = os.path.join(p.base_dir, "secret.txt")
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, 0o600)
    p.admin(f"SET conffile = '{path}'")
    with pytest.raises(psycopg.Error) as exc:
        p.admin("RELOAD")
    assert exc.value.sqlstate == "F0000"
    assert exc.value.diag.message_primary == "RELOAD failed, see logs for additional details"
    logged = _log_lines(p, "RELOAD failed")
    assert logged and all(SECRET_MARKER not in line for line in logged)
    assert any(f"{path}:" in line for line in logged)  # file and line


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
