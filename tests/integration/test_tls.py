"""TLS on both legs: clients to Usher (client_tls_*) and Usher to PostgreSQL
(server_tls_*), with PgBouncer 1.26's modes, PostgreSQL 17's direct TLS, and
certificates reloaded on RELOAD.

Certificates are made once per module with the openssl command line tool
(harness/tls.py). Two PostgreSQL servers are used: the session's plain one
(`pg`, ssl = off) and `tls_pg` (ssl = on), whose pg_hba lets the test roles in
over TLS only (hostnossl ... reject), so a login that works proves TLS.
"""

import hashlib
import os
import socket
import ssl
import threading
import time
import uuid

import psycopg
import pytest

from harness import clients, util, wire
from harness.pooler import ADMIN_PASSWORD, ADMIN_USER
from harness.postgres import scratch_server
from harness.tls import Pki, replace_file, write_file

pytestmark = pytest.mark.usher_only

PROTOCOL_VIOLATION = "08P01"

# The superuser may come in plain (the harness's readiness probe and
# wire.query_text speak no TLS); every other role needs TLS.
TLS_ONLY_HBA = (
    "# written by tests/integration/test_tls.py\n"
    "local all all scram-sha-256\n"
    "host all postgres 127.0.0.1/32 scram-sha-256\n"
    "hostnossl all all 127.0.0.1/32 reject\n"
    "hostssl all app_md5 127.0.0.1/32 md5\n"
    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
)


# --------------------------------------------------------------- fixtures
class Certs:
    """Every certificate the module uses (see the fixture below)."""


@pytest.fixture(scope="module")
def certs():
    base = util.make_service_tempdir("uit-tls-")
    pki = Pki(os.path.join(base, "pki"))
    util.chown_service(pki.dir)
    c = Certs()
    c.pki = pki
    c.dir = pki.dir
    c.ca = pki.ca("ca")
    c.other_ca = pki.ca("other-ca")
    both = "DNS:localhost,IP:127.0.0.1"
    # PostgreSQL's certificates (copies owned by the postgres account).
    c.pg = pki.for_service(pki.leaf("pg", c.ca, cn="localhost", san=both))
    c.pg_dns_only = pki.for_service(pki.leaf("pg-dns", c.ca, cn="localhost", san="DNS:localhost"))
    # Usher's, towards its clients.
    c.usher = pki.leaf("usher", c.ca, cn="usher", san=both)
    c.usher2 = pki.leaf("usher2", c.ca, cn="usher-renewed", san=both)
    c.usher_dns_only = pki.leaf("usher-dns", c.ca, cn="usher", san="DNS:localhost")
    c.usher_expired = pki.leaf("usher-old", c.ca, cn="usher", san=both, expired=True)
    # Clients' certificates.
    c.client = pki.leaf("client-app", c.ca, cn="app", client=True)
    c.client_other = pki.leaf("client-other", c.other_ca, cn="app", client=True)
    c.client_expired = pki.leaf("client-old", c.ca, cn="app", client=True, expired=True)
    yield c
    util.remove_tree(base)


@pytest.fixture(scope="module")
def tls_pg(certs):
    settings = {
        "ssl": "on",
        "ssl_cert_file": f"'{certs.pg.cert}'",
        "ssl_key_file": f"'{certs.pg.key}'",
    }
    with scratch_server("uit-pgtls-", settings=settings, hba=TLS_ONLY_HBA) as server:
        yield server


def tls_pg_databases(pg, host="127.0.0.1"):
    target = f"host={host} port={pg.port}"
    return {
        "appdb": f"{target} dbname=appdb",
        "postgres": f"{target} dbname=postgres",
    }


def client_tls_ini(certs, mode="require", cert=None, ca=None, **more):
    """Usher's client_tls_* lines: its certificate (default certs.usher)."""
    cert = cert or certs.usher
    ini = {
        "client_tls_sslmode": mode,
        "client_tls_key_file": cert.key,
        "client_tls_cert_file": cert.cert,
    }
    if ca is not None:
        ini["client_tls_ca_file"] = ca.cert
    ini.update(more)
    return ini


# ---------------------------------------------------------------- helpers
def console(p, sql):
    """One console command over the Unix socket (exempt from TLS rules):
    the rows as dicts."""
    with psycopg.connect(host=p.sock_dir, port=p.port, dbname="pgbouncer", user=ADMIN_USER,
                         password=ADMIN_PASSWORD, connect_timeout=10,
                         autocommit=True) as conn:
        cur = conn.execute(sql)
        if cur.description is None:
            return []
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def show_config(p, key):
    rows = [r for r in console(p, "show config") if r["key"] == key]
    assert rows, f"{key} not in SHOW CONFIG"
    return rows[0]["value"]


def unix_socket(p):
    return os.path.join(p.sock_dir, f".s.PGSQL.{p.port}")


def client_context(ca=None, cert=None, alpn=None, min_version=None, max_version=None):
    """A Python client TLS context; verifies the peer only when ca is given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca is not None:
        ctx.load_verify_locations(ca.cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def tcp(port, timeout=10.0):
    sock = socket.create_connection((util.LOOPBACK, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def ssl_request_conn(port, ctx, timeout=10.0):
    """SSLRequest, 'S', handshake: a wire.Conn over TLS, not yet logged in."""
    sock = tcp(port, timeout)
    try:
        sock.sendall(wire.ssl_request())
        answer = sock.recv(1)
        assert answer == b"S", f"SSLRequest answered {answer!r}"
        tls = ctx.wrap_socket(sock)
    except BaseException:
        sock.close()
        raise
    return wire.Conn(None, None, timeout, sock=tls)


def direct_tls_conn(port, ctx, timeout=10.0):
    """PostgreSQL 17's direct TLS: the handshake at once, no SSLRequest."""
    sock = tcp(port, timeout)
    try:
        tls = ctx.wrap_socket(sock)
    except BaseException:
        sock.close()
        raise
    return wire.Conn(None, None, timeout, sock=tls)


def login_ok(conn, user="app", db="appdb", password="apppass"):
    msgs = conn.startup(user, db, password)
    assert not wire.errors_of(msgs), wire.errors_of(msgs)
    assert msgs[-1][0] == b"Z"
    return msgs


def peer_cert_der(port, ssl_request=True):
    """The certificate a server at port presents (after an SSLRequest)."""
    sock = tcp(port, 10)
    try:
        if ssl_request:
            sock.sendall(wire.ssl_request())
            assert sock.recv(1) == b"S"
        with client_context().wrap_socket(sock) as tls:
            return tls.getpeercert(binary_form=True)
    finally:
        sock.close()


def ends_without_login(conn, timeout=5.0):
    """True when the peer closes (EOF, reset, TLS alert) within timeout
    without ever asking for a password or saying ReadyForQuery; False if
    it stays open. Raises if a login message arrives."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            conn._fill(deadline)
            if conn.buf[:1] in (b"R", b"Z"):
                raise AssertionError(f"the server went on with the login: {conn.buf[:40]!r}")
            conn.buf = b""
    except (wire.Closed, ssl.SSLError, ConnectionError):
        return True
    except TimeoutError:
        return False


def client_hello():
    """A real TLS ClientHello record, as Python's client would send it."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context(alpn=["postgresql"]).wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100
    return hello


def connect_error(fn):
    """The text of the psycopg error fn() raises (asserts it raises)."""
    with pytest.raises(psycopg.Error) as info:
        fn()
    return str(info.value)


def query_via(p, sql="select current_user", **params):
    with p.connect(**params) as conn:
        return conn.execute(sql).fetchone()[0]


def clients_by_app(p):
    return {r["application_name"]: r for r in console(p, "show clients")
            if r["user"] == "app"}


# ============================================================ client side
def test_sslmode_disable_refuses_tls_clients(pooler, certs):
    """client_tls_sslmode = disable (with files set): SSLRequest gets 'N' and
    a client that insists on TLS cannot connect."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="disable"))
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.ssl_request())
        assert conn.read_bytes(1) == b"N"
    text = connect_error(lambda: query_via(p, sslmode="require"))
    assert "SSL" in text


@pytest.mark.parametrize("mode", ["allow", "prefer"])
def test_allow_and_prefer_take_tls_and_plain_clients(pooler, certs, mode):
    """allow/prefer: a client asking for TLS gets it (libpq says so and SHOW
    CLIENTS' tls column shows TLS 1.3), a plain client gets in plain."""
    p = pooler(extra_ini=client_tls_ini(certs, mode=mode))
    with p.connect(sslmode="require", application_name="tls-client") as tls_conn, \
            p.connect(sslmode="disable", application_name="plain-client") as plain_conn:
        assert tls_conn.pgconn.ssl_in_use is True
        assert plain_conn.pgconn.ssl_in_use is False
        assert tls_conn.execute("select 41 + 1").fetchone() == (42,)
        assert plain_conn.execute("select 40 + 2").fetchone() == (42,)
        rows = clients_by_app(p)
        assert rows["tls-client"]["tls"].startswith("TLSv1.3/"), rows["tls-client"]
        assert not rows["plain-client"]["tls"], rows["plain-client"]


def test_require_refuses_plain_tcp_but_not_unix(pooler, certs):
    """require: a plain TCP client gets FATAL "SSL required" (08P01) before
    authentication; a TLS client works; a Unix-socket client is exempt."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    err, closed = clients.login_error(p)
    assert err["C"] == PROTOCOL_VIOLATION, err
    assert "SSL required" in err["M"], err
    assert closed
    with p.connect(sslmode="require") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select current_user").fetchone() == ("app",)
    text = connect_error(lambda: query_via(p, sslmode="disable"))
    assert "SSL required" in text
    with wire.Conn.unix(unix_socket(p)) as conn:
        login_ok(conn)
        assert wire.rows_of(conn.simple_query("select 'over unix'")) == [("over unix",)]


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_verify_client_certificates(pooler, certs, mode):
    """verify-ca/verify-full: only a client with a valid certificate signed by
    client_tls_ca_file gets in; none, another CA's, or an expired one is
    refused at the handshake."""
    p = pooler(extra_ini=client_tls_ini(certs, mode=mode, ca=certs.ca))
    good = {"sslcert": certs.client.cert, "sslkey": certs.client.key}
    with p.connect(sslmode="require", **good) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select 7 * 6").fetchone() == (42,)
    for who, extra in [
        ("no certificate", {}),
        ("another CA", {"sslcert": certs.client_other.cert, "sslkey": certs.client_other.key}),
        ("expired", {"sslcert": certs.client_expired.cert, "sslkey": certs.client_expired.key}),
    ]:
        with pytest.raises(psycopg.OperationalError):
            query_via(p, sslmode="require", **extra)
        # The same at the raw level: the handshake does not lead to a login.
        cert = {"another CA": certs.client_other, "expired": certs.client_expired}.get(who)
        try:
            conn = ssl_request_conn(p.port, client_context(cert=cert))
        except (ssl.SSLError, ConnectionError):
            continue  # refused during the handshake itself
        with conn:
            try:
                conn.sock.sendall(wire.startup_packet({"user": "app", "database": "appdb"}))
            except (ssl.SSLError, ConnectionError):
                continue  # the alert came already
            assert ends_without_login(conn), who
    # Still serving the good client afterwards.
    assert query_via(p, sslmode="require", **good) == "app"


def test_libpq_verify_full_checks_usher_certificate(pooler, certs):
    """libpq verify-full against Usher: the right CA and host name works
    (by name and by IP when the SAN has it); a SAN without the IP, another
    CA, or an expired certificate fail on the client."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    ok = {"sslmode": "verify-full", "sslrootcert": certs.ca.cert}
    assert query_via(p, host="localhost", hostaddr="127.0.0.1", **ok) == "app"
    assert query_via(p, host="127.0.0.1", **ok) == "app"
    text = connect_error(lambda: query_via(p, sslmode="verify-ca", sslrootcert=certs.other_ca.cert))
    assert "certificate verify failed" in text

    p2 = pooler(extra_ini=client_tls_ini(certs, mode="require", cert=certs.usher_dns_only))
    assert query_via(p2, host="localhost", hostaddr="127.0.0.1", **ok) == "app"
    text = connect_error(lambda: query_via(p2, host="127.0.0.1", **ok))
    assert "127.0.0.1" in text and "does not match" in text, text

    p3 = pooler(extra_ini=client_tls_ini(certs, mode="require", cert=certs.usher_expired))
    text = connect_error(lambda: query_via(p3, sslmode="verify-ca", sslrootcert=certs.ca.cert))
    assert "certificate verify failed" in text, text
    with pytest.raises(ssl.SSLCertVerificationError) as info:  # libpq does not say why
        ssl_request_conn(p3.port, client_context(ca=certs.ca)).close()
    assert "expired" in info.value.verify_message
    assert query_via(p3, sslmode="require") == "app"  # not checked: in


def test_unencrypted_bytes_after_ssl_request(pooler, certs):
    """SSLRequest and a StartupMessage in one write: Usher does not start TLS
    over bytes sent in clear (CVE-2021-23214) but answers a plain FATAL
    08P01 "received unencrypted data after SSL request" and closes."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="prefer"))
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.ssl_request()
                  + wire.startup_packet({"user": "app", "database": "appdb"}))
        tag, body = conn.read_message()
        assert tag == b"E", (tag, body)
        fields = wire.parse_fields(body)
        assert fields["C"] == PROTOCOL_VIOLATION, fields
        assert "unencrypted data after SSL request" in fields["M"], fields
        assert conn.expect_closed(5)
    clients.assert_pooler_serves(p)


def test_second_ssl_request_inside_tls(pooler, certs):
    """An SSLRequest sent again inside TLS is a protocol violation: FATAL
    08P01, then the connection is closed; no second answer byte."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    with ssl_request_conn(p.port, client_context()) as conn:
        conn.send(wire.ssl_request())
        tag, body = conn.read_message()
        assert tag == b"E", (tag, body)
        assert wire.parse_fields(body)["C"] == PROTOCOL_VIOLATION
        assert ends_without_login(conn)
    with ssl_request_conn(p.port, client_context()) as conn:  # others unharmed
        login_ok(conn)


def test_direct_tls_with_alpn(pooler, certs):
    """PostgreSQL 17's direct TLS (handshake first, ALPN "postgresql", no
    SSLRequest): login and queries work, SHOW CLIENTS shows TLS."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    ctx = client_context(ca=certs.ca, alpn=["postgresql"])
    with direct_tls_conn(p.port, ctx) as conn:
        assert conn.sock.selected_alpn_protocol() == "postgresql"
        assert conn.sock.getpeercert(binary_form=True) == certs.usher.der()
        conn.startup("app", "appdb", "apppass", params={"application_name": "direct"})
        assert wire.rows_of(conn.simple_query("select 'direct tls'")) == [("direct tls",)]
        assert clients_by_app(p)["direct"]["tls"].startswith("TLSv1.3/")


@pytest.mark.parametrize("alpn", [None, ["http/1.1"]], ids=["no-alpn", "other-alpn"])
def test_direct_tls_without_postgresql_alpn_refused(pooler, certs, alpn):
    """Direct TLS without ALPN "postgresql" is refused, as by PostgreSQL 17:
    the handshake fails or the connection closes before any login."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    try:
        conn = direct_tls_conn(p.port, client_context(alpn=alpn))
    except (ssl.SSLError, ConnectionError):
        conn = None  # refused during the handshake
    if conn is not None:
        with conn:
            try:
                conn.sock.sendall(wire.startup_packet({"user": "app", "database": "appdb"}))
            except (ssl.SSLError, ConnectionError):
                pass
            assert ends_without_login(conn)
    clients.assert_pooler_serves(p)


def test_client_tls_protocols_and_ciphers(pooler, certs):
    """client_tls_protocols = tlsv1.2 and one TLS 1.2 cipher: that is what a
    client gets; a client that demands TLS 1.3 fails the handshake."""
    cipher = "ECDHE-ECDSA-AES128-GCM-SHA256"
    p = pooler(extra_ini=client_tls_ini(certs, mode="require", client_tls_protocols="tlsv1.2",
                                        client_tls_ciphers=cipher))
    with ssl_request_conn(p.port, client_context()) as conn:
        assert conn.sock.version() == "TLSv1.2"
        assert conn.sock.cipher()[0] == cipher
        conn.startup("app", "appdb", "apppass", params={"application_name": "tls12"})
        row = clients_by_app(p)["tls12"]
        assert row["tls"].startswith(f"TLSv1.2/{cipher}"), row
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ssl_request_conn(p.port, client_context(min_version=ssl.TLSVersion.TLSv1_3)).close()


def test_large_result_and_copy_over_tls_both_legs(pooler, certs, tls_pg):
    """A 5 MB value, a 16 MB result set, a 20 MB COPY IN and its COPY OUT go
    through TLS on both legs intact (compared with PostgreSQL directly)."""
    ini = client_tls_ini(certs, mode="require", server_tls_sslmode="require")
    p = pooler(extra_ini=ini, databases=tls_pg_databases(tls_pg))
    table = f"tls_copy_{uuid.uuid4().hex[:8]}"
    rows_sql = "select i, repeat(md5(i::text), 100) from generate_series(1, 5000) i order by i"
    with p.connect(sslmode="require") as conn, \
            tls_pg.connect(db="appdb", user="app", sslmode="require") as direct:
        assert conn.pgconn.ssl_in_use and direct.pgconn.ssl_in_use
        big = conn.execute("select repeat('x', 5000000)").fetchone()[0]
        assert big == "x" * 5_000_000
        assert conn.execute(rows_sql).fetchall() == direct.execute(rows_sql).fetchall()

        conn.execute(f"create table {table} (id int primary key, v text)")
        try:
            values = [hashlib.sha256(str(i).encode()).hexdigest() * 15 for i in range(21_000)]
            data = "".join(f"{i}\t{v}\n" for i, v in enumerate(values)).encode()
            assert len(data) > 20_000_000
            with conn.cursor() as cur:
                with cur.copy(f"copy {table} (id, v) from stdin") as copy:
                    for start in range(0, len(data), 1 << 20):
                        copy.write(data[start:start + (1 << 20)])
            want = hashlib.md5("".join(values).encode()).hexdigest()
            got = direct.execute(
                f"select count(*), md5(string_agg(v, '' order by id)) from {table}").fetchone()
            assert got == (21_000, want)
            out = bytearray()
            with conn.cursor() as cur:
                with cur.copy(f"copy (select id, v from {table} order by id) to stdout") as copy:
                    for chunk in copy:
                        out += chunk
            assert bytes(out) == data
        finally:
            direct.execute(f"drop table if exists {table}")


def test_many_concurrent_tls_clients(pooler, certs, tls_pg):
    """20 TLS clients x 200 queries each in transaction mode over 5 TLS
    server connections: every answer right, and SHOW CLIENTS shows TLS for
    all 20 while they are connected."""
    ini = client_tls_ini(certs, mode="require", server_tls_sslmode="require")
    p = pooler(extra_ini=ini, databases=tls_pg_databases(tls_pg), default_pool_size=5)
    n_clients, n_queries = 20, 200
    done = threading.Semaphore(0)
    release = threading.Event()

    def client(i):
        with p.connect(sslmode="require", application_name=f"many-{i}") as conn:
            assert conn.pgconn.ssl_in_use
            for j in range(n_queries):
                got = conn.execute("select %s::int * 1000 + %s::int", (i, j)).fetchone()[0]
                assert got == i * 1000 + j, (i, j, got)
            done.release()
            assert release.wait(60), "never released"
        return n_queries

    workers = [clients.start(client, i, name=f"many-{i}") for i in range(n_clients)]
    try:
        for _ in range(n_clients):
            while not done.acquire(timeout=0.5):
                for w in workers:
                    if not w.is_alive():
                        w.join_result(1)  # raises its error
                        raise AssertionError(f"{w.name} ended early")
                assert time.monotonic() - workers[0].started_at < 120, "clients too slow"
        rows = clients_by_app(p)
        many = {k: v for k, v in rows.items() if k.startswith("many-")}
        assert len(many) == n_clients, sorted(many)
        assert all(r["tls"].startswith("TLSv1.3/") for r in many.values()), many
        servers = [r for r in console(p, "show servers") if r["user"] == "app"]
        assert servers and all(r["tls"].startswith("TLSv1.3/") for r in servers), servers
    finally:
        release.set()
    assert sum(w.join_result(60) for w in workers) == n_clients * n_queries


def test_pipelined_queries_in_one_tls_record(pooler, certs, tls_pg):
    """Many queries sent in one TLS write (so decrypted together, held
    inside OpenSSL rather than in the socket): every one is answered, also
    after the client has sat idle (parked) between two such batches."""
    ini = client_tls_ini(certs, mode="require", server_tls_sslmode="require")
    p = pooler(extra_ini=ini, databases=tls_pg_databases(tls_pg))
    with ssl_request_conn(p.port, client_context()) as conn:
        login_ok(conn)
        for batch in range(3):
            n = 50
            conn.send(b"".join(wire.query(f"select {batch * 100 + i}") for i in range(n)))
            counts, kept = conn.read_stream({b"Z"}, stop_count=n, keep={b"D"}, timeout=20)
            assert counts.get(b"Z") == n and counts.get(b"E") is None, counts
            got = [wire.rows_of([m])[0][0] for m in kept]
            assert got == [str(batch * 100 + i) for i in range(n)]
            time.sleep(0.5)  # idle: the client is parked until it speaks


def test_slow_tls_reader_gets_everything(pooler, certs, tls_pg):
    """A TLS client that asks for 30 MB and does not read for 2 s (Usher's
    TLS writes hit a full socket and resume) gets every byte, and another
    client is served meanwhile."""
    ini = client_tls_ini(certs, mode="require", server_tls_sslmode="require")
    p = pooler(extra_ini=ini, databases=tls_pg_databases(tls_pg))
    size = 30_000_000
    with ssl_request_conn(p.port, client_context(), timeout=60) as slow:
        login_ok(slow)
        slow.send(wire.query(f"select repeat('y', {size}) union all select 'end'"))
        time.sleep(1)
        assert query_via(p, sslmode="require") == "app"
        time.sleep(1)
        counts, kept = slow.read_stream({b"Z"}, keep={b"D"}, timeout=60)
        assert counts.get(b"E") is None, counts
        values = [wire.rows_of([m])[0][0] for m in kept]
        assert len(values) == 2 and values[1] == "end"
        assert len(values[0]) == size and values[0] == "y" * size


def test_cancel_from_tls_client_under_require(pooler, certs):
    """require: libpq's cancel request (sent on a new plain connection, as
    PostgreSQL allows) still cancels the TLS client's query."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    with p.connect(sslmode="require") as conn:
        assert conn.pgconn.ssl_in_use
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("select pg_sleep(20)")
        finally:
            timer.cancel()
        assert time.monotonic() - started < 10
        assert conn.execute("select 1").fetchone() == (1,)


@pytest.mark.parametrize("how", ["ssl_request", "direct"])
def test_stalled_handshake_dropped_by_login_timeout(pooler, certs, how):
    """Half a ClientHello, then nothing: client_login_timeout (1 s) drops the
    connection, while another TLS client logs in and queries meanwhile."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require", client_login_timeout=1))
    hello = client_hello()
    with wire.Conn(p.host, p.port) as stalled:
        if how == "ssl_request":
            stalled.send(wire.ssl_request())
            assert stalled.read_bytes(1) == b"S"
        started = time.monotonic()
        stalled.send(hello[:len(hello) // 2])
        with ssl_request_conn(p.port, client_context()) as other:
            login_ok(other)
            for i in range(20):
                assert wire.rows_of(other.simple_query(f"select {i}")) == [(str(i),)]
        assert stalled.expect_closed(6), "stalled handshake still open"
        elapsed = time.monotonic() - started
        assert 0.5 <= elapsed < 6, elapsed
    assert query_via(p, sslmode="require") == "app"


@pytest.mark.parametrize("garbage", [
    bytes(range(256)) * 4,
    b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64,
    wire.startup_packet({"user": "app", "database": "appdb"}),
], ids=["bytes", "bad-record", "plain-startup"])
def test_garbage_instead_of_client_hello(pooler, certs, garbage):
    """After 'S', bytes that are no ClientHello (including a StartupMessage in
    clear): the connection is closed without a login, and Usher serves
    other TLS clients."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="require"))
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.ssl_request())
        assert conn.read_bytes(1) == b"S"
        conn.send(garbage)
        assert ends_without_login(conn)
    assert query_via(p, sslmode="require") == "app"


# ============================================================ server side
def test_server_prefer_is_default_and_uses_tls(pooler, tls_pg):
    """server_tls_sslmode defaults to prefer: against an ssl = on server the
    server connection is TLS (pg_stat_ssl says so for that backend, SHOW
    SERVERS' tls column too), and the hostssl-only roles can log in."""
    p = pooler(pool_mode="session", databases=tls_pg_databases(tls_pg))
    assert show_config(p, "server_tls_sslmode") == "prefer"
    with p.connect(sslmode="disable") as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        ssl_row = tls_pg.sql("select ssl, version from pg_stat_ssl where pid = %s", (pid,))
        assert ssl_row and ssl_row[0][0] is True, ssl_row
        servers = [r for r in console(p, "show servers") if r["remote_pid"] == pid]
        assert len(servers) == 1, servers
        assert servers[0]["tls"].startswith(ssl_row[0][1] + "/"), (servers, ssl_row)


def test_server_prefer_against_plain_server(pooler, pg):
    """prefer against an ssl = off server: the 'N' answer is taken and the
    server connection is plain."""
    p = pooler(pool_mode="session")
    with p.connect() as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        assert pg.sql("select ssl from pg_stat_ssl where pid = %s", (pid,)) == [(False,)]
        servers = [r for r in console(p, "show servers") if r["remote_pid"] == pid]
        assert len(servers) == 1 and not servers[0]["tls"], servers


@pytest.mark.parametrize("mode", ["require", "verify-ca"])
def test_server_tls_required_against_plain_server(pooler, pg, certs, mode):
    """require (or stronger) against an ssl = off server: the client gets an
    error saying the server refused TLS."""
    p = pooler(extra_ini={"server_tls_sslmode": mode, "server_tls_ca_file": certs.ca.cert})
    text = connect_error(lambda: query_via(p))
    assert "server refused TLS" in text, text


def test_server_verify_ca(pooler, tls_pg, certs):
    """verify-ca: the CA that signed PostgreSQL's certificate works; another
    CA fails with a certificate verification error."""
    dbs = tls_pg_databases(tls_pg)
    good = pooler(databases=dbs, extra_ini={"server_tls_sslmode": "verify-ca",
                                            "server_tls_ca_file": certs.ca.cert})
    assert query_via(good, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True
    bad = pooler(databases=dbs, extra_ini={"server_tls_sslmode": "verify-ca",
                                           "server_tls_ca_file": certs.other_ca.cert})
    text = connect_error(lambda: query_via(bad))
    assert "certificate verify failed" in text, text


@pytest.fixture
def pg_dns_only_cert(tls_pg, certs):
    """tls_pg presents certs.pg_dns_only (SAN without 127.0.0.1) for the
    test; its usual certificate again afterwards."""
    cert_path = certs.pg.cert
    key_path = certs.pg.key
    saved = {path: open(path, "rb").read() for path in (cert_path, key_path)}

    def present(der):
        tls_pg.sql("select pg_reload_conf()")
        util.wait_until(lambda: peer_cert_der(tls_pg.port) == der, 15,
                        what="PostgreSQL presenting the new certificate")

    replace_file(certs.pg_dns_only.cert, cert_path)
    replace_file(certs.pg_dns_only.key, key_path)
    try:
        present(certs.pg_dns_only.der())
        yield
    finally:
        for path, data in saved.items():
            write_file(path, data)
        present(certs.pg.der())


def test_server_verify_full_names(pooler, tls_pg, certs):
    """verify-full checks the configured host against the SAN: localhost
    and 127.0.0.1 both match DNS:localhost,IP:127.0.0.1."""
    ini = {"server_tls_sslmode": "verify-full", "server_tls_ca_file": certs.ca.cert}
    for host in ("localhost", "127.0.0.1"):
        p = pooler(databases=tls_pg_databases(tls_pg, host=host), extra_ini=ini)
        assert query_via(p) == "app", host


def test_server_verify_full_wrong_address(pooler, tls_pg, certs, pg_dns_only_cert):
    """verify-full with host=127.0.0.1 against a certificate whose SAN has
    only DNS:localhost fails; host=localhost still works."""
    ini = {"server_tls_sslmode": "verify-full", "server_tls_ca_file": certs.ca.cert}
    by_ip = pooler(databases=tls_pg_databases(tls_pg, host="127.0.0.1"), extra_ini=ini)
    text = connect_error(lambda: query_via(by_ip))
    assert "certificate verify failed" in text or "mismatch" in text, text
    by_name = pooler(databases=tls_pg_databases(tls_pg, host="localhost"), extra_ini=ini)
    assert query_via(by_name) == "app"


def test_server_allow_against_hostssl_only(pooler, tls_pg, pg):
    """server_tls_sslmode = allow, as PgBouncer has it (SSLRequest sent for
    every mode but disable; 'N' accepted): a server that takes the role over
    TLS only is reached over TLS, and a plain server still works."""
    p = pooler(pool_mode="session", databases=tls_pg_databases(tls_pg),
               extra_ini={"server_tls_sslmode": "allow"})
    assert query_via(p, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True
    plain = pooler(extra_ini={"server_tls_sslmode": "allow"})
    assert query_via(plain) == "app"


def test_server_disable_against_hostssl_only(pooler, tls_pg):
    """server_tls_sslmode = disable against a server that takes the role over
    TLS only: PostgreSQL rejects the login and the client hears of it."""
    p = pooler(databases=tls_pg_databases(tls_pg), extra_ini={"server_tls_sslmode": "disable"})
    text = connect_error(lambda: query_via(p))
    assert "pg_hba.conf rejects connection" in text and "no encryption" in text, text


# ================================================================= reload
def usher_cert_copy(certs, name):
    """A copy of certs.usher in files of its own, which a test may replace."""
    d = os.path.join(certs.dir, f"{name}-{uuid.uuid4().hex[:6]}")
    os.makedirs(d)
    cert = os.path.join(d, "server.crt")
    key = os.path.join(d, "server.key")
    with open(certs.usher.cert, "rb") as src, open(cert, "wb") as dst:
        dst.write(src.read())
    with open(certs.usher.key, "rb") as src, open(key, "wb") as dst:
        dst.write(src.read())
    os.chmod(key, 0o600)
    return cert, key


def test_reload_replaces_client_certificate(pooler, certs):
    """New certificate files and RELOAD: new TLS connections get the new
    certificate, an open TLS connection goes on, and a client running
    queries (and reconnecting) throughout sees no failure."""
    cert, key = usher_cert_copy(certs, "reload")
    p = pooler(extra_ini={"client_tls_sslmode": "require", "client_tls_cert_file": cert,
                          "client_tls_key_file": key})
    assert peer_cert_der(p.port) == certs.usher.der()
    stop = threading.Event()

    def load():
        done = 0
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            with p.connect(sslmode="require") as conn:
                assert conn.pgconn.ssl_in_use
                for _ in range(20):
                    assert conn.execute("select 1").fetchone() == (1,)
                    done += 1
        return done

    with p.connect(sslmode="require") as existing:
        assert existing.execute("select 1").fetchone() == (1,)
        worker = clients.start(load, name="tls-load")
        try:
            time.sleep(1)
            replace_file(certs.usher2.cert, cert)
            replace_file(certs.usher2.key, key)
            console(p, "reload")
            assert peer_cert_der(p.port) == certs.usher2.der()
            time.sleep(1)
        finally:
            stop.set()
        assert worker.join_result(30) > 0
        assert existing.execute("select 'still here'").fetchone() == ("still here",)
        assert existing.pgconn.ssl_in_use
    with p.connect(sslmode="verify-ca", sslrootcert=certs.ca.cert) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


@pytest.mark.parametrize("which", ["cert", "key"])
def test_reload_with_broken_file_keeps_old_certificate(pooler, certs, which):
    """A garbage certificate (or key) file and RELOAD: Usher goes on serving
    TLS with the old certificate, and its log names the broken file."""
    cert, key = usher_cert_copy(certs, "broken")
    p = pooler(extra_ini={"client_tls_sslmode": "require", "client_tls_cert_file": cert,
                          "client_tls_key_file": key})
    broken = cert if which == "cert" else key
    write_file(broken, b"this is not PEM\n" * 10)
    console(p, "reload")
    assert peer_cert_der(p.port) == certs.usher.der()
    assert query_via(p, sslmode="require") == "app"
    line = util.wait_until(
        lambda: next((ln for ln in p.log_text().splitlines()
                      if "TLS settings not applied" in ln), None), 5,
        what="the log line about the TLS settings")
    assert broken in line, line


def test_set_client_tls_sslmode_needs_files(pooler, certs):
    """SET client_tls_sslmode = require on the console without key and
    certificate files is refused and changes nothing; once the files are
    SET, the same command turns TLS on at once."""
    p = pooler()
    with pytest.raises(psycopg.Error):
        console(p, "set client_tls_sslmode = 'require'")
    util.wait_until(lambda: "client_tls_key_file and client_tls_cert_file must be set"
                    in p.log_text(), 5, what="the reason in the log")
    assert show_config(p, "client_tls_sslmode") == "disable"
    with wire.Conn(p.host, p.port) as conn:
        conn.send(wire.ssl_request())
        assert conn.read_bytes(1) == b"N"
    assert query_via(p, sslmode="disable") == "app"

    console(p, f"set client_tls_key_file = '{certs.usher.key}'")
    console(p, f"set client_tls_cert_file = '{certs.usher.cert}'")
    console(p, "set client_tls_sslmode = 'require'")
    assert show_config(p, "client_tls_sslmode") == "require"
    with p.connect(sslmode="require") as conn:
        assert conn.pgconn.ssl_in_use
    text = connect_error(lambda: query_via(p, sslmode="disable"))
    assert "SSL required" in text
