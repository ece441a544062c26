"""pgbench through a pool of 5: 50 clients, no failed transactions, and the
database shows exactly the work pgbench says it did."""

import pytest

from harness import clients

CLIENTS = 50
POOL = 5


def _history_count(pg):
    return pg.sql("select count(*) from pgbench_history", db="benchdb")[0][0]


def _balance_invariant(pg):
    # tpcb-like adds the same delta to one account, teller and branch per
    # transaction, so the three sums stay equal whatever ran.
    return pg.sql(
        "select (select sum(abalance) from pgbench_accounts),"
        " (select sum(tbalance) from pgbench_tellers),"
        " (select sum(bbalance) from pgbench_branches)",
        db="benchdb",
    )[0]


# Session mode: 50 clients share 5 servers only because each client finishes
# its -t transactions and disconnects (pgbench closes a client when done),
# handing its server to a waiting client. -T would starve the waiters.
# Transaction mode: servers are shared per transaction.
@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["simple", "extended"])
@pytest.mark.parametrize("pool_mode,per_client", [("session", 20), ("transaction", 40)])
def test_pgbench_tpcb(pooler, pg, pool_mode, per_client, protocol):
    p = pooler(pool_mode=pool_mode, default_pool_size=POOL,
               extra_ini={"query_wait_timeout": 120})
    before = _history_count(pg)
    res = clients.run_pgbench(
        p, ["-M", protocol, "-c", str(CLIENTS), "-j", "4", "-t", str(per_client)],
        timeout=120,
    )
    assert res.returncode == 0, res.stdout
    stats = clients.parse_pgbench(res.stdout)
    expected = CLIENTS * per_client
    assert stats["clients"] == CLIENTS
    assert stats["processed"] == expected, res.stdout
    assert stats["expected"] == expected, res.stdout
    assert stats["failed"] == 0, res.stdout
    assert _history_count(pg) - before == expected
    a, t, b = _balance_invariant(pg)
    assert a == t == b
    # Never more than pool_size server connections for the pool.
    servers = p.admin("show servers")
    assert len([s for s in servers if s["database"] == "benchdb"]) <= POOL


@pytest.mark.slow
def test_pgbench_select_only_reconnect_per_transaction(pooler, pg):
    """-C: a new client connection per transaction (login storm)."""
    p = pooler(pool_mode="transaction", default_pool_size=POOL)
    res = clients.run_pgbench(
        p, ["-S", "-C", "-M", "simple", "-c", "10", "-j", "2", "-t", "50"], timeout=120
    )
    assert res.returncode == 0, res.stdout
    stats = clients.parse_pgbench(res.stdout)
    assert stats["processed"] == 500
    assert stats["failed"] == 0
    assert len(pg.backend_pids(db="benchdb")) <= POOL


@pytest.mark.usher_only
@pytest.mark.slow
def test_pgbench_prepared_transaction_mode(pooler, pg):
    """-M prepared (named statements) in transaction mode: Usher's headline
    fix. PgBouncer 1.18 fails with 'prepared statement "P0_1" does not
    exist' / 'already exists' here."""
    p = pooler(pool_mode="transaction", default_pool_size=POOL,
               extra_ini={"query_wait_timeout": 20})
    before = _history_count(pg)
    # One thread per client: pgbench prepares with a blocking PQprepare, so a
    # thread serving several clients stalls them all while one of them waits
    # for a server, and those hold their servers mid-transaction.
    res = clients.run_pgbench(
        p, ["-M", "prepared", "-c", str(CLIENTS), "-j", str(CLIENTS), "-t", "40"], timeout=90
    )
    assert res.returncode == 0, res.stdout
    stats = clients.parse_pgbench(res.stdout)
    assert stats["processed"] == CLIENTS * 40, res.stdout
    assert stats["failed"] == 0, res.stdout
    assert _history_count(pg) - before == CLIENTS * 40
