"""SCRAM-SHA-256-PLUS with tls-server-end-point channel binding on both legs:
libpq's channel_binding=require against Usher, Usher's
server_channel_binding=require against a real PostgreSQL (which checks the
binding data itself), pass-through of SCRAM keys over a bound login, and the
ways a client can get the binding wrong, each answered as PostgreSQL answers
it while other clients go on.

The certificates and the TLS-only PostgreSQL are test_tls.py's fixtures.
"""

import pytest

from harness import wire
from test_tls import (  # noqa: F401 (fixtures)
    certs,
    client_tls_ini,
    connect_error,
    query_via,
    ssl_request_conn,
    client_context,
    tls_pg,
    tls_pg_databases,
)

pytestmark = pytest.mark.usher_only

PLUS = b"SCRAM-SHA-256-PLUS"
PLAIN = b"SCRAM-SHA-256"


def bound(tls_sock):
    """The right binding: -PLUS with the hash of the certificate Usher showed."""
    return wire.Binding(wire.end_point_of(tls_sock))


def tls_usher(pooler, certs, **kw):
    return pooler(extra_ini=client_tls_ini(certs, mode="require"), **kw)


def bound_login(p, binding, password="apppass"):
    """A raw login over TLS with this binding (or a function of the TLS
    socket that makes one): (conn, messages)."""
    conn = ssl_request_conn(p.port, client_context())
    conn.__enter__()
    if callable(binding):
        binding = binding(conn.sock)
    msgs = conn.startup("app", "appdb", password, binding=binding)
    return conn, msgs


# ============================================================ client side
def test_libpq_channel_binding_require_through_usher(pooler, certs):
    """libpq with channel_binding=require logs in through Usher over TLS:
    Usher offered SCRAM-SHA-256-PLUS and libpq's hash of Usher's
    certificate matched Usher's own."""
    p = tls_usher(pooler, certs)
    assert query_via(p, sslmode="require", channel_binding="require") == "app"


def test_plus_offered_over_tls_only(pooler, certs):
    """Over TLS the list is -PLUS first, then SCRAM-SHA-256 (PostgreSQL's
    order); over plain TCP and the Unix socket, SCRAM-SHA-256 alone, and
    libpq's require then refuses Usher."""
    p = pooler(extra_ini=client_tls_ini(certs, mode="prefer"))
    conn, msgs = bound_login(p, bound)
    with conn:
        assert not wire.errors_of(msgs), wire.errors_of(msgs)
        assert conn.login.mechanisms == [PLUS, PLAIN]
    with wire.Conn("127.0.0.1", p.port) as plain:
        msgs = plain.startup("app", "appdb", "apppass")
        assert not wire.errors_of(msgs)
        assert plain.login.mechanisms == [PLAIN]
    text = connect_error(lambda: query_via(p, sslmode="disable", channel_binding="require"))
    assert "channel binding" in text, text


def test_libpq_require_refuses_md5_from_usher(pooler, certs):
    """auth_type = md5 with a plain password asks for md5, which cannot
    bind: libpq's require refuses (its words), as it would PostgreSQL."""
    p = tls_usher(pooler, certs, auth_type="md5")
    text = connect_error(lambda: query_via(p, sslmode="require", channel_binding="require"))
    assert "channel binding required" in text, text
    assert query_via(p, sslmode="require") == "app"


@pytest.mark.parametrize("case", ["other-hash", "plain-c", "y-downgrade", "plus-with-n",
                                  "p-without-plus", "unknown-type"])
def test_wrong_binding_refused_like_postgres(pooler, certs, case):
    """Each wrong binding ends that login with PostgreSQL's SQLSTATE and
    words; a client logging in meanwhile is unharmed."""
    p = tls_usher(pooler, certs)
    cases = {
        # A hash of some other certificate: a man in the middle.
        "other-hash": (wire.Binding(end_point=b"\x42" * 32), "28000",
                       "SCRAM channel binding check failed"),
        # -PLUS, the binding header, but c= without the hash.
        "plain-c": (wire.Binding(end_point=b""), "28000", "SCRAM channel binding check failed"),
        # "y": the client thinks Usher cannot bind; Usher offered -PLUS.
        "y-downgrade": (wire.Binding(mechanism=PLAIN, header=b"y,,"), "28000",
                        "SCRAM channel binding negotiation error"),
        "plus-with-n": (wire.Binding(header=b"n,,"), "08P01",
                        "does not include channel binding data"),
        "p-without-plus": (lambda s: wire.Binding(wire.end_point_of(s), mechanism=PLAIN),
                           "08P01", "includes channel binding data"),
        "unknown-type": (wire.Binding(header=b"p=tls-unique,,"), "08P01",
                         'unsupported SCRAM channel-binding type "tls-unique"'),
    }
    binding, sqlstate, words = cases[case]
    conn, msgs = bound_login(p, binding)
    with conn:
        errors = wire.errors_of(msgs)
        assert errors and errors[0]["C"] == sqlstate, (case, errors)
        assert words in errors[0]["M"], (case, errors)
        assert not any(tag == b"Z" for tag, _ in msgs)
    assert query_via(p, sslmode="require", channel_binding="require") == "app"


def test_wrong_password_with_binding_is_the_usual_failure(pooler, certs):
    """A bound exchange with a wrong password: 28P01 and PostgreSQL's text,
    the same as without binding."""
    p = tls_usher(pooler, certs)
    conn, msgs = bound_login(p, bound, password="wrong")
    with conn:
        errors = wire.errors_of(msgs)
        assert errors and errors[0]["C"] == "28P01", errors
        assert errors[0]["M"] == 'password authentication failed for user "app"'


# ============================================================ server side
def test_server_require_binds_against_postgres(pooler, tls_pg, certs):
    """server_channel_binding = require against an ssl = on PostgreSQL:
    Usher logs in with SCRAM-SHA-256-PLUS, and PostgreSQL, which checks
    the binding data against its own certificate, accepts it."""
    p = pooler(databases=tls_pg_databases(tls_pg),
               extra_ini={"server_channel_binding": "require"})
    assert query_via(p, "select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True


def test_server_require_with_scram_pass_through(pooler, tls_pg, certs):
    """Only the role's SCRAM secret in userlist.txt: the keys from the
    client's own (bound) exchange log into PostgreSQL over a bound one."""
    secret = tls_pg.sql("select rolpassword from pg_authid where rolname = 'app'")[0][0]
    p = pooler(databases=tls_pg_databases(tls_pg), userlist={"app": secret},
               extra_ini=dict(client_tls_ini(certs, mode="require"),
                              server_channel_binding="require"))
    assert query_via(p, sslmode="require", channel_binding="require") == "app"


def test_server_require_refuses_plain_server(pooler, pg):
    """require against an ssl = off server: nothing to bind to; the client
    is told why."""
    p = pooler(extra_ini={"server_channel_binding": "require"})
    text = connect_error(lambda: query_via(p))
    assert "channel binding required" in text and "not TLS" in text, text


def test_server_require_refuses_md5_server(pooler, tls_pg):
    """require against a role PostgreSQL checks with md5 (over TLS): Usher
    does not answer the md5 challenge."""
    p = pooler(databases=tls_pg_databases(tls_pg),
               extra_ini={"server_channel_binding": "require"})
    text = connect_error(lambda: query_via(p, user="app_md5", password="md5pass"))
    assert "channel binding required" in text and "md5" in text, text


@pytest.mark.parametrize("mode", ["prefer", "disable"])
def test_server_prefer_and_disable_still_log_in(pooler, tls_pg, pg, mode):
    """prefer (the default) binds where it can and still logs into a plain
    server; disable never binds (its GS2 header is "n", which PostgreSQL
    accepts over TLS too)."""
    for server, dbs in ((tls_pg, tls_pg_databases(tls_pg)), (pg, None)):
        p = pooler(databases=dbs, extra_ini={"server_channel_binding": mode})
        assert query_via(p) == "app", (mode, server)

