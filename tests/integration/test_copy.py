"""COPY through the pooler: ~10 MB each way, errors inside COPY."""

import hashlib

import psycopg
import pytest

ROWS = 100_000  # ~10.5 MB of COPY text


def _row(i):
    return f"{i}\t{'r' * 90}{i % 10}\t{i * 3}\n"


def _payload():
    return "".join(_row(i) for i in range(ROWS)).encode()


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_copy_in_and_out_10mb(pooler, pool_mode):
    p = pooler(pool_mode=pool_mode)
    payload = _payload()
    assert len(payload) > 10_000_000
    with p.connect() as conn:
        conn.execute("drop table if exists copy_big")
        conn.execute("create table copy_big (id int primary key, pad text, n bigint)")
        with conn.cursor() as cur:
            with cur.copy("copy copy_big from stdin") as copy:
                # Send in uneven chunks so frames straddle pooler buffers.
                step = 65_537
                for off in range(0, len(payload), step):
                    copy.write(payload[off:off + step])
            assert cur.rowcount == ROWS
        assert conn.execute("select count(*), sum(n) from copy_big").fetchone() == (
            ROWS, 3 * sum(range(ROWS)),
        )
        out = bytearray()
        with conn.cursor() as cur:
            with cur.copy("copy (select * from copy_big order by id) to stdout") as copy:
                for chunk in copy:
                    out += chunk
        assert hashlib.sha256(out).hexdigest() == hashlib.sha256(payload).hexdigest()
        conn.execute("drop table copy_big")


def test_copy_bad_data_reports_error_and_connection_survives(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as conn:
        conn.execute("drop table if exists copy_bad")
        conn.execute("create table copy_bad (id int)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as exc:
            with conn.cursor() as cur:
                with cur.copy("copy copy_bad from stdin") as copy:
                    copy.write(b"1\n2\nnot-a-number\n4\n")
        assert exc.value.sqlstate == "22P02"
        assert conn.execute("select count(*) from copy_bad").fetchone() == (0,)
    # Same single server, next client: clean state.
    with p.connect() as conn:
        assert conn.execute("select count(*) from copy_bad").fetchone() == (0,)
        conn.execute("drop table copy_bad")


def test_copy_fail_from_client(pooler):
    """The client aborts COPY IN (CopyFail); the server reports 57014."""
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as conn:
        conn.execute("drop table if exists copy_abort")
        conn.execute("create table copy_abort (id int)")
        with pytest.raises(psycopg.errors.QueryCanceled):
            with conn.cursor() as cur:
                with cur.copy("copy copy_abort from stdin") as copy:
                    copy.write(b"1\n2\n")
                    raise psycopg.errors.QueryCanceled("client gave up")
        assert conn.execute("select count(*) from copy_abort").fetchone() == (0,)
        conn.execute("drop table copy_abort")


def test_copy_inside_transaction_then_rollback(pooler):
    p = pooler(pool_mode="transaction", default_pool_size=1)
    with p.connect() as setup:
        setup.execute("drop table if exists copy_tx")
        setup.execute("create table copy_tx (id int)")
    with p.connect(autocommit=False) as conn:
        with conn.cursor() as cur:
            with cur.copy("copy copy_tx from stdin") as copy:
                for i in range(1000):
                    copy.write_row((i,))
        assert conn.execute("select count(*) from copy_tx").fetchone() == (1000,)
        conn.rollback()
        assert conn.execute("select count(*) from copy_tx").fetchone() == (0,)
        conn.rollback()
    with p.connect() as other:
        assert other.execute("select count(*) from copy_tx").fetchone() == (0,)
        other.execute("drop table copy_tx")
