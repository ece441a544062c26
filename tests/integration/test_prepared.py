"""Prepared statements in transaction mode (DESIGN.md problem 1). PgBouncer
1.18 cannot do this: named statements land on whichever server the next
transaction gets ('prepared statement "_pg3_0" does not exist' / 'already
exists'). All usher_only; RUN_USHER_ONLY=1 POOLER=pgbouncer shows them fail."""

import asyncio

import pytest

from harness import clients

pytestmark = [pytest.mark.usher_only]


def test_protocol_level_named_statements_many_clients(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=2,
               extra_ini={"query_wait_timeout": 20})

    def work(n):
        with p.connect(prepare_threshold=0) as conn:  # prepare everything
            out = []
            for i in range(30):
                out.append(conn.execute("select %s::int + %s::int", (n, i)).fetchone()[0])
                if i % 7 == 0:
                    out.append(conn.execute("select %s::text || 'x'", (str(i),)).fetchone()[0])
            return out

    workers = [clients.start(work, n) for n in range(6)]
    results = [w.join_result(60) for w in workers]
    for n, out in enumerate(results):
        nums = [v for v in out if isinstance(v, int)]
        assert nums == [n + i for i in range(30)]


def test_sql_level_prepare_execute_deallocate(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=2)
    with p.connect() as a, p.connect() as b, p.connect(autocommit=False) as hog:
        hog.execute("select 1")  # pin one server so a and b must share/move
        a.execute("prepare s1(int) as select $1 * 10")
        b.execute("prepare s1(int) as select $1 * 100")  # same name, other client
        hog.commit()
        for i in range(5):
            assert a.execute(f"execute s1({i})").fetchone() == (i * 10,)
            assert b.execute(f"execute s1({i})").fetchone() == (i * 100,)
        a.execute("deallocate s1")
        with pytest.raises(Exception):
            a.execute("execute s1(1)")
        assert b.execute("execute s1(2)").fetchone() == (200,)


def test_asyncpg_transaction_mode(pooler):
    asyncpg = pytest.importorskip("asyncpg")
    p = pooler(pool_mode="transaction", default_pool_size=2)

    async def run():
        async def one(n):
            conn = await asyncpg.connect(host=p.host, port=p.port, user="app",
                                         password="apppass", database="appdb",
                                         timeout=10)
            try:
                total = 0
                for i in range(20):
                    total += await conn.fetchval("select $1::int * $2::int", n, i)
                return total
            finally:
                await conn.close()

        return await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(5))), 60)

    assert asyncio.run(run()) == [n * sum(range(20)) for n in range(5)]
