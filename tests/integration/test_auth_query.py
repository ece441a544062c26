"""auth_user / auth_query against a real server: users auth_file does not
list are looked up with the query, with md5 and SCRAM secrets; the server
login then needs no plaintext password (an md5 secret answers md5, SCRAM
keys come from the client's own exchange). Expired (VALID UNTIL), NOLOGIN
and unknown users all fail alike, and what other clients leave on the auth
pool's connections (search_path) cannot change what the query calls.

PgBouncer 1.18 has auth_query too, but answers an unknown user with "no
such user" and, before 1.24.1, ignores VALID UNTIL: these are Usher-only."""

import psycopg
import pytest

from harness.pooler import PASSWORDS

pytestmark = pytest.mark.usher_only

ROLES = {"aq_scram": "scrampass", "aq_expired": "expiredpass", "aq_nologin": "nologinpass",
         "aq_changing": "firstpass"}


@pytest.fixture(scope="module")
def roles(pg):
    for role, password in ROLES.items():
        if not pg.sql("select 1 from pg_roles where rolname = %s", (role,)):
            pg.sql(f"create role {role} login password '{password}'")
    pg.sql("alter role aq_expired valid until '2000-01-01'")
    pg.sql("alter role aq_nologin nologin")
    pg.sql("grant connect on database appdb to aq_scram, aq_expired, aq_nologin, aq_changing")
    return ROLES


def _pooler(pooler, auth_type="md5", **ini):
    # Only the auth user (a superuser, who may read pg_authid) and the
    # console users are in auth_file.
    userlist = {u: PASSWORDS[u] for u in ("postgres", "admin", "stats")}
    return pooler(auth_type=auth_type, userlist=userlist,
                  extra_ini={"auth_user": "postgres", **ini})


def _whoami(p, user, password):
    with p.connect(user=user, password=password) as conn:
        return conn.execute("select current_user").fetchone()[0]


@pytest.mark.parametrize("auth_type", ["md5", "scram-sha-256", "plain"])
def test_md5_and_scram_secrets_from_the_server(pooler, pg, roles, auth_type):
    p = _pooler(pooler, auth_type)
    if auth_type != "scram-sha-256":
        # app_md5's secret is md5 (and the server asks md5 for it).
        assert _whoami(p, "app_md5", PASSWORDS["app_md5"]) == "app_md5"
    assert _whoami(p, "aq_scram", "scrampass") == "aq_scram"
    # Again, on the pool's existing server and on a new one.
    with p.connect(user="aq_scram", password="scrampass") as a, \
            p.connect(user="aq_scram", password="scrampass", autocommit=False) as b:
        b.execute("select 1")
        assert a.execute("select current_user").fetchone()[0] == "aq_scram"
        b.rollback()


@pytest.mark.parametrize("user,password", [
    ("aq_scram", "wrong"),           # wrong password
    ("aq_expired", "expiredpass"),   # past VALID UNTIL
    ("aq_nologin", "nologinpass"),   # NOLOGIN: no row
    ("nobody_here", "whatever"),     # unknown
    ("x' OR 'a'='a", "whatever"),    # a name that would be SQL if it were pasted in
])
def test_refusals_all_look_alike(pooler, roles, user, password):
    p = _pooler(pooler)
    with pytest.raises(psycopg.OperationalError) as exc:
        _whoami(p, user, password)
    assert f'password authentication failed for user "{user}"' in str(exc.value) or \
        "authentication failed" in str(exc.value)
    assert _whoami(p, "aq_scram", "scrampass") == "aq_scram"


def test_search_path_left_on_the_auth_pool_changes_nothing(pooler, pg, roles):
    """A custom auth_query that calls now() unqualified; a client of the
    auth pool leaves a search_path whose now() says 1999, which would make
    aq_expired's VALID UNTIL look unexpired."""
    pg.sql("create schema if not exists evil", db="appdb")
    pg.sql("create or replace function evil.now() returns timestamptz language sql "
           "as $$ select '1999-01-01'::timestamptz $$", db="appdb")
    query = ("SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
             "FROM pg_authid WHERE rolname=$1")
    p = pooler(auth_type="md5", default_pool_size=1,
               userlist={u: PASSWORDS[u] for u in ("postgres", "admin", "stats")},
               extra_ini={"auth_user": "postgres", "auth_query": query})
    with p.connect(user="postgres") as auth_client:
        auth_client.execute("set search_path = evil, pg_catalog")
        assert auth_client.execute("select now()::date::text").fetchone()[0] == "1999-01-01"
    with pytest.raises(psycopg.OperationalError):
        _whoami(p, "aq_expired", "expiredpass")
    assert _whoami(p, "aq_scram", "scrampass") == "aq_scram"


def test_auth_dbname_and_per_database_auth_user(pooler, pg, roles):
    target = f"host={pg.host} port={pg.port}"
    p = pooler(auth_type="md5",
               userlist={u: PASSWORDS[u] for u in ("postgres", "admin", "stats")},
               databases={"appdb": f"{target} dbname=appdb auth_user=postgres",
                          "postgres": f"{target} dbname=postgres"},
               extra_ini={"auth_dbname": "postgres"})
    assert _whoami(p, "aq_scram", "scrampass") == "aq_scram"
    # A database whose auth database is not configured: a config error, said once.
    p = pooler(auth_type="md5",
               userlist={u: PASSWORDS[u] for u in ("postgres", "admin", "stats")},
               extra_ini={"auth_user": "postgres", "auth_dbname": "missing"})
    with pytest.raises(psycopg.OperationalError) as exc:
        _whoami(p, "aq_scram", "scrampass")
    assert "bouncer config error" in str(exc.value)


def test_learned_credentials_survive_a_reload(pooler, roles):
    """The server login of a queried user uses what its clients proved
    (SCRAM keys, or the md5 secret): a reload configures nothing in its
    place and must neither forget it nor reconnect the pool's servers."""
    p = _pooler(pooler, "md5", default_pool_size=1)
    users = {"app_md5": PASSWORDS["app_md5"], "aq_scram": "scrampass"}

    def backends():
        pids = {}
        for user, password in users.items():
            with p.connect(user=user, password=password) as conn:
                pids[user] = conn.execute("select pg_backend_pid()").fetchone()[0]
        return pids

    before = backends()
    p.admin("reload")  # answers once the new configuration is in place
    assert backends() == before
    p.admin("reconnect")  # new server logins, with what was learned
    after = backends()
    assert not set(after.values()) & set(before.values())


def test_a_password_change_takes_effect_at_once(pooler, pg, roles):
    """Secrets are looked up at every login, never kept for it: a changed
    password or a revoked login counts from the next connection, as it does
    on the server itself."""
    p = _pooler(pooler, "scram-sha-256")
    assert _whoami(p, "aq_changing", "firstpass") == "aq_changing"
    pg.sql("alter role aq_changing password 'secondpass'")
    try:
        with pytest.raises(psycopg.OperationalError):
            _whoami(p, "aq_changing", "firstpass")
        assert _whoami(p, "aq_changing", "secondpass") == "aq_changing"
        pg.sql("alter role aq_changing nologin")
        with pytest.raises(psycopg.OperationalError):
            _whoami(p, "aq_changing", "secondpass")
    finally:
        pg.sql("alter role aq_changing login password 'firstpass'")


def test_a_query_that_returns_several_rows_admits_no_one(pooler, roles):
    """A custom auth_query that forgets its WHERE clause: which row is the
    user's is unknowable, so none is used (and the reason is logged)."""
    query = "SELECT rolname, rolpassword FROM pg_authid WHERE $1::text IS NOT NULL"
    p = pooler(auth_type="md5",
               userlist={u: PASSWORDS[u] for u in ("postgres", "admin", "stats")},
               extra_ini={"auth_user": "postgres", "auth_query": query})
    with pytest.raises(psycopg.OperationalError) as exc:
        _whoami(p, "aq_scram", "scrampass")
    assert "authentication lookup failed" in str(exc.value)
    assert "rows for user" in p.log_text()
    # auth_file's users are not looked up, and are not affected.
    assert _whoami(p, "postgres", PASSWORDS["postgres"]) == "postgres"
