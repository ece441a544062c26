"""auth_type = hba (auth_hba_file, PgBouncer's subset of pg_hba.conf) and
auth_type = cert, against real clients: rules in order, PostgreSQL's refusal
messages, reload of the rules, certificate CN as the user name."""

import os
import pwd

import psycopg
import pytest

from harness import util
from harness.tls import Pki

pytestmark = pytest.mark.usher_only

RULES = """\
# written by test_hba.py
local   all        all                    peer
host    appdb      app2   127.0.0.1/32    reject
host    appdb      app    127.0.0.1/32    scram-sha-256
host    pgbouncer  admin  127.0.0.1/32    md5
hostssl appdb      app_md5 127.0.0.1/32   cert
"""


def hba_pooler(pooler, tmp_path, rules=RULES, **more):
    path = tmp_path / "hba.conf"
    path.write_text(rules)
    ini = {"auth_type": "hba", "auth_hba_file": str(path)}
    ini.update(more)
    return pooler(extra_ini=ini), path


def refused(p, match, **kw):
    with pytest.raises(psycopg.OperationalError, match=match) as e:
        p.connect(**kw)
    return e


def test_rules_apply_in_order(pooler, tmp_path):
    p, _ = hba_pooler(pooler, tmp_path)
    with p.connect(user="app") as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    refused(p, "password authentication failed", user="app", password="wrong")
    refused(p, 'pg_hba.conf rejects connection for host "127.0.0.1", user "app2", '
               'database "appdb", no encryption', user="app2")
    refused(p, 'no pg_hba.conf entry for host "127.0.0.1", user "app", database "benchdb", '
               'no encryption', user="app", db="benchdb")
    # hostssl: never matches a client without TLS.
    refused(p, "no pg_hba.conf entry", user="app_md5")
    assert p.admin("SHOW POOLS") is not None  # admin over md5, line 4


def test_peer_on_the_unix_socket_wants_the_os_user(pooler, tmp_path):
    """Usher's tests run as root; "app" is not that OS user."""
    p, _ = hba_pooler(pooler, tmp_path)
    with pytest.raises(psycopg.OperationalError, match='Peer authentication failed for user "app"'):
        psycopg.connect(host=p.sock_dir, port=p.port, dbname="appdb", user="app",
                        password=p.password_for("app"), connect_timeout=10)


def test_reload_reads_the_rules_again_and_keeps_them_if_broken(pooler, tmp_path):
    p, path = hba_pooler(pooler, tmp_path)
    refused(p, "rejects connection", user="app2")
    path.write_text(RULES.replace("app2   127.0.0.1/32    reject", "app2   127.0.0.1/32    trust"))
    p.admin("RELOAD")
    with p.connect(user="app2", password="not asked") as c:
        assert c.execute("select current_user").fetchone()[0] == "app2"
    path.write_text(RULES + "host all all 127.0.0.1/32 ldap\n")
    with pytest.raises(psycopg.Error):
        p.admin("RELOAD")
    with p.connect(user="app2", password="not asked") as c:  # the previous rules stay
        assert c.execute("select 1").fetchone()[0] == 1


def test_a_broken_file_stops_the_start(pooler, tmp_path):
    path = tmp_path / "hba.conf"
    path.write_text("host all all 10.0.0.0/8 md5\nhost all +admins all md5\n")
    p = pooler(extra_ini={"auth_type": "hba", "auth_hba_file": str(path)}, start=False)
    with pytest.raises(RuntimeError):
        p.start()
    assert f"{path}:2: group membership (+admins) is not supported" in p.output_text() + p.log_text()


@pytest.fixture(scope="module")
def certs():
    base = util.make_service_tempdir("uit-hba-")
    pki = Pki(os.path.join(base, "pki"))
    ca = pki.ca("ca")
    other = pki.ca("other")
    out = {
        "ca": ca,
        "usher": pki.leaf("usher", ca, cn="usher", san="DNS:localhost,IP:127.0.0.1"),
        "app": pki.leaf("app", ca, cn="app", client=True),
        "app_other_ca": pki.leaf("app-other", other, cn="app", client=True),
    }
    yield out
    util.remove_tree(base)


def tls_ini(certs, mode):
    return {"client_tls_sslmode": mode, "client_tls_cert_file": certs["usher"].cert,
            "client_tls_key_file": certs["usher"].key, "client_tls_ca_file": certs["ca"].cert}


def test_cert_takes_the_user_from_a_verified_certificate(pooler, certs):
    p = pooler(auth_type="cert", extra_ini=tls_ini(certs, "verify-ca"))
    app = certs["app"]
    with p.connect(user="app", password="", sslmode="require", sslcert=app.cert,
                   sslkey=app.key) as c:
        assert c.execute("select current_user").fetchone()[0] == "app"
    # The certificate says app: it cannot log in as app2.
    refused(p, "certificate authentication failed", user="app2", sslmode="require",
            sslcert=app.cert, sslkey=app.key)
    # Signed by a CA Usher does not trust: the handshake fails.
    refused(p, "", user="app", sslmode="require", sslcert=certs["app_other_ca"].cert,
            sslkey=certs["app_other_ca"].key)


def test_cert_needs_a_verifying_sslmode(pooler, certs):
    """Under require a certificate is not checked, so it proves nothing."""
    p = pooler(auth_type="cert", extra_ini=tls_ini(certs, "require"))
    refused(p, "no verified client certificate", user="app", sslmode="require",
            sslcert=certs["app"].cert, sslkey=certs["app"].key)


def test_hba_cert_rule(pooler, tmp_path, certs):
    p, _ = hba_pooler(pooler, tmp_path, **tls_ini(certs, "verify-ca"))
    app = certs["app"]
    # app_md5 on hostssl with cert: the certificate's CN (app) is not app_md5.
    refused(p, "certificate authentication failed", user="app_md5", sslmode="require",
            sslcert=app.cert, sslkey=app.key)
    # Over TLS, app still matches its scram rule (host covers TLS too).
    with p.connect(user="app", sslmode="require", sslcert=app.cert, sslkey=app.key) as c:
        assert c.pgconn.ssl_in_use


def test_set_auth_type_hba_from_the_console_reads_the_file(pooler, tmp_path):
    path = tmp_path / "hba.conf"
    path.write_text(RULES)
    p = pooler(extra_ini={"auth_hba_file": str(path)})
    with p.connect(user="app2") as c:  # scram-sha-256 for everyone until then
        assert c.execute("select 1").fetchone()[0] == 1
    p.admin("SET auth_type = 'hba'")
    refused(p, "rejects connection", user="app2")
    with p.connect(user="app") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    path.write_text("host all all all gss\n")
    with pytest.raises(psycopg.Error):
        p.admin("SET auth_hba_file = '" + str(path) + "'")
    refused(p, "rejects connection", user="app2")  # the rules in force stay


# ------------------------------------------------------------ ident maps
def ident_pooler(pooler, tmp_path, rules, ident, **more):
    ident_path = tmp_path / "ident.conf"
    ident_path.write_text(ident)
    return hba_pooler(pooler, tmp_path, rules, auth_ident_file=str(ident_path), **more)


def unix_connect(p, user):
    return psycopg.connect(host=p.sock_dir, port=p.port, dbname="appdb", user=user,
                           password=p.password_for(user), connect_timeout=10)


def test_peer_map_lets_the_os_user_in_as_mapped_users(pooler, tmp_path):
    """local ... peer map=ops: this process's OS user may log in as app (an
    exact line) and as app2 (a regular expression), not as app_md5; the log
    says which map refused whom, the client only that peer failed."""
    me = pwd.getpwuid(os.getuid()).pw_name
    p, _ = ident_pooler(pooler, tmp_path, "local all all peer map=ops\n",
                        f"ops {me} app\nops /^{me}$ app2\nother {me} app_md5\n")
    for user in ("app", "app2"):
        with unix_connect(p, user) as c:
            assert c.execute("select current_user").fetchone()[0] == user
    with pytest.raises(psycopg.OperationalError,
                       match='Peer authentication failed for user "app_md5"'):
        unix_connect(p, "app_md5")
    util.wait_until(lambda: f'no match in usermap "ops" for user "app_md5" authenticated as '
                            f'"{me}"' in p.log_text(), 10, what="the usermap log line")


def test_cert_map_takes_the_cn_through_the_map(pooler, tmp_path, certs):
    """hostssl ... cert map=certs: the certificate says app, and the map lets
    app log in as app_md5; not as app2, which the map does not name."""
    rules = "hostssl appdb all 127.0.0.1/32 cert map=certs\n"
    p, _ = ident_pooler(pooler, tmp_path, rules, "certs /^(a)pp$ \\1pp_md5\n",
                        **tls_ini(certs, "verify-ca"))
    app = certs["app"]
    with p.connect(user="app_md5", password="", sslmode="require", sslcert=app.cert,
                   sslkey=app.key) as c:
        assert c.execute("select current_user").fetchone()[0] == "app_md5"
    refused(p, "certificate authentication failed", user="app2", password="",
            sslmode="require", sslcert=app.cert, sslkey=app.key)
    # The CN itself is not let in either: with a map, only the map decides.
    refused(p, "certificate authentication failed", user="app", password="",
            sslmode="require", sslcert=app.cert, sslkey=app.key)


def test_reload_reads_the_ident_file_again(pooler, tmp_path):
    me = pwd.getpwuid(os.getuid()).pw_name
    rules = "local all all peer map=ops\nhost pgbouncer admin 127.0.0.1/32 md5\n"
    p, _ = ident_pooler(pooler, tmp_path, rules, f"ops {me} app\n")
    with pytest.raises(psycopg.OperationalError, match="Peer authentication failed"):
        unix_connect(p, "app2")
    (tmp_path / "ident.conf").write_text(f"ops {me} app2\n")
    p.admin("RELOAD")
    with unix_connect(p, "app2") as c:
        assert c.execute("select 1").fetchone()[0] == 1
    (tmp_path / "ident.conf").write_text("ops a b c\n")  # broken: the map in force stays
    with pytest.raises(psycopg.Error):
        p.admin("RELOAD")
    with unix_connect(p, "app2") as c:
        assert c.execute("select 1").fetchone()[0] == 1


def test_map_without_ident_file_stops_the_start(pooler, tmp_path):
    path = tmp_path / "hba.conf"
    path.write_text("local all all peer map=ops\n")
    p = pooler(extra_ini={"auth_type": "hba", "auth_hba_file": str(path)}, start=False)
    with pytest.raises(RuntimeError):
        p.start()
    assert f"{path}:1: map=ops needs auth_ident_file" in p.output_text() + p.log_text()
