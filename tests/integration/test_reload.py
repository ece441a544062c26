"""Configuration reload (SIGHUP and the RELOAD command) without dropping
existing clients."""

import time

import psycopg
import pytest

from harness import clients, util
from harness.pooler import PASSWORDS


def _config(p):
    return {r["key"]: r["value"] for r in p.admin("show config")}


def _databases(p):
    return {r["name"]: r for r in p.admin("show databases")}


def _can_connect(p, **kw):
    try:
        with p.connect(connect_timeout=5, **kw) as conn:
            return conn.execute("select current_database()").fetchone()[0]
    except psycopg.OperationalError:
        return None


@pytest.mark.parametrize("how", ["sighup", "reload_command"])
def test_add_database_on_reload(pooler, how):
    p = pooler(pool_mode="session")
    existing = p.connect()
    try:
        pid = existing.execute("select pg_backend_pid()").fetchone()[0]
        assert _can_connect(p, db="newdb") is None
        dbs = dict(p.databases)
        dbs["newdb"] = f"host={p.pg.host} port={p.pg.port} dbname=postgres"
        p.write_ini(databases=dbs)
        if how == "sighup":
            p.reload()
        else:
            p.admin("reload")
        assert util.wait_until(lambda: _can_connect(p, db="newdb"), 10,
                               what="newdb reachable") == "postgres"
        assert "newdb" in _databases(p)
        # The existing client kept its connection (and its server).
        assert existing.execute("select pg_backend_pid()").fetchone()[0] == pid
    finally:
        existing.close()
    assert p.running()


def test_default_pool_size_on_reload(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    assert _config(p)["default_pool_size"] == "1"
    holders = [p.connect(autocommit=False) for _ in range(3)]
    try:
        holders[0].execute("select 1")
        waiter = clients.start(lambda: holders[1].execute("select 'second'").fetchone())
        util.wait_until(
            lambda: [r for r in p.admin("show pools") if r["database"] == "appdb"][0]["cl_waiting"] == 1,
            5, what="second client waiting",
        )
        p.write_ini(extra_ini={"default_pool_size": 3})
        p.reload()
        util.wait_until(lambda: _config(p)["default_pool_size"] == "3", 10,
                        what="default_pool_size=3 in SHOW CONFIG")
        assert _databases(p)["appdb"]["pool_size"] == 3
        # The waiting client now gets a second server connection.
        assert waiter.join_result(10) == ("second",)
        holders[2].execute("select 'third'")
        pool = [r for r in p.admin("show pools") if r["database"] == "appdb"][0]
        assert pool["sv_active"] == 3
        assert pool["cl_waiting"] == 0
    finally:
        for h in holders:
            h.close()


def test_pool_mode_on_reload(pooler):
    p = pooler(pool_mode="transaction")
    with p.connect() as conn:
        conn.execute("select 1")
    p.write_ini(extra_ini={"pool_mode": "session"})
    p.reload()
    util.wait_until(lambda: _config(p)["pool_mode"] == "session", 10, what="pool_mode=session")

    def mode():
        return [r for r in p.admin("show pools") if r["database"] == "appdb"][0]["pool_mode"]

    util.wait_until(lambda: mode() == "session", 10, what="SHOW POOLS pool_mode=session")


def test_userlist_reload(pooler):
    entries = dict(PASSWORDS)
    del entries["app2"]
    p = pooler(userlist=entries)
    assert _can_connect(p, user="app2") is None
    p.write_userlist(PASSWORDS)
    p.reload()
    assert util.wait_until(lambda: _can_connect(p, user="app2"), 10, what="app2 allowed") == "appdb"


def test_reload_with_broken_config_keeps_running(pooler):
    p = pooler()
    with p.connect() as conn:
        with open(p.ini_path, "a") as f:
            f.write("\nthis line is not valid ini\n[pgbouncer\n")
        p.reload()
        time.sleep(1.0)
        assert p.running()
        assert conn.execute("select 'old config still serving'").fetchone() == (
            "old config still serving",
        )
    clients.assert_pooler_serves(p)
