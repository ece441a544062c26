"""Prepared statements in transaction mode, message by message, with a raw
protocol client. Pool size 1 makes clients share one server connection, so
every case below crosses clients on the same backend; each checks the exact
messages PostgreSQL itself would send. PgBouncer 1.18 has no support for
this, hence usher_only."""

import struct
import threading
import time

import pytest

from harness import wire

pytestmark = [pytest.mark.usher_only]

INT4, TEXT, INT8 = 23, 25, 20


def login(p):
    conn = wire.Conn(p.host, p.port)
    msgs = conn.startup("app", "appdb", password="apppass")
    assert wire.tags_of(msgs)[-1] == "Z", msgs
    return conn


def run(conn, *messages):
    """Sends the messages in one write; returns everything up to the
    ReadyForQuery of the last Sync/Query in them."""
    conn.send(b"".join(messages))
    expected = sum(1 for m in messages if m[:1] in (b"S", b"Q"))
    out = []
    for _ in range(expected):
        out += conn.read_until({b"Z"})
    return out


def value(msgs):
    rows = wire.rows_of(msgs)
    assert len(rows) == 1, msgs
    return rows[0][0]


def sqlstate(msgs):
    errs = wire.errors_of(msgs)
    assert len(errs) == 1, msgs
    return errs[0]["C"], errs[0]["M"]


@pytest.fixture
def p(pooler):
    return pooler(pool_mode="transaction", default_pool_size=1,
                  extra_ini={"max_prepared_statements": 5, "query_wait_timeout": 20})


def test_same_name_different_text_on_two_clients(p):
    with login(p) as a, login(p) as b:
        assert wire.tags_of(run(a, wire.parse("s1", "select $1::int * 10"), wire.sync())) == "1Z"
        assert wire.tags_of(run(b, wire.parse("s1", "select $1::int * 100"), wire.sync())) == "1Z"
        for i in range(3):
            assert value(run(a, wire.bind("s1", [i]), wire.execute(), wire.sync())) == str(i * 10)
            assert value(run(b, wire.bind("s1", [i]), wire.execute(), wire.sync())) == str(i * 100)


def test_same_text_different_parameter_types(p):
    with login(p) as a, login(p) as b:
        run(a, wire.parse("q", "select pg_typeof($1)::text", [INT4]), wire.sync())
        run(b, wire.parse("q", "select pg_typeof($1)::text", [INT8]), wire.sync())
        assert value(run(a, wire.bind("q", [1]), wire.execute(), wire.sync())) == "integer"
        assert value(run(b, wire.bind("q", [1]), wire.execute(), wire.sync())) == "bigint"


def test_describe_of_a_statement_never_executed(p):
    with login(p) as a, login(p) as b:
        run(a, wire.parse("d1", "select $1::text as greeting, 2 as two"), wire.sync())
        run(b, wire.query("select 1"))
        msgs = run(a, wire.describe("S", "d1"), wire.sync())
        assert wire.tags_of(msgs) == "tTZ", msgs
        (nparams, oid) = struct.unpack("!hI", msgs[0][1])
        assert (nparams, oid) == (1, TEXT)
        assert b"greeting\0" in msgs[1][1]


def test_close_then_parse_again_in_one_batch(p):
    with login(p) as a:
        run(a, wire.parse("c1", "select 1"), wire.sync())
        msgs = run(a, wire.close("S", "c1"), wire.parse("c1", "select 2"), wire.bind("c1"),
                   wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "312DCZ", msgs
        assert value(msgs) == "2"


def test_protocol_errors_have_postgres_semantics(p):
    with login(p) as a:
        run(a, wire.parse("dup", "select 1"), wire.sync())
        # Parse of a name the client already has: 42P05, and the session lives.
        msgs = run(a, wire.parse("dup", "select 2"), wire.bind("dup"), wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "EZ"
        assert sqlstate(msgs) == ("42P05", 'prepared statement "dup" already exists')
        assert value(run(a, wire.bind("dup"), wire.execute(), wire.sync())) == "1"
        # Bind and Describe of an unknown name: 26000 with the client's name.
        msgs = run(a, wire.bind("nope"), wire.execute(), wire.sync())
        assert sqlstate(msgs) == ("26000", 'prepared statement "nope" does not exist')
        msgs = run(a, wire.describe("S", "nope"), wire.sync())
        assert sqlstate(msgs) == ("26000", 'prepared statement "nope" does not exist')
        # Close of an unknown name is not an error.
        assert wire.tags_of(run(a, wire.close("S", "nope"), wire.sync())) == "3Z"
        # A failed Parse registers nothing.
        msgs = run(a, wire.parse("bad", "selec 1"), wire.sync())
        assert sqlstate(msgs)[0] == "42601"
        msgs = run(a, wire.bind("bad"), wire.execute(), wire.sync())
        assert sqlstate(msgs)[0] == "26000"


def test_duplicate_parse_in_a_transaction_aborts_it(p):
    with login(p) as a:
        run(a, wire.parse("t1", "select 1"), wire.sync())
        run(a, wire.query("begin"))
        msgs = run(a, wire.parse("t1", "select 2"), wire.sync())
        assert sqlstate(msgs)[0] == "42P05"
        assert msgs[-1][1] == b"E"  # ReadyForQuery: failed transaction, as PostgreSQL
        assert sqlstate(run(a, wire.query("select 1")))[0] == "25P02"
        assert run(a, wire.query("rollback"))[-1][1] == b"I"


def test_pipeline_with_errors_before_and_after_sync(p):
    with login(p) as a:
        msgs = run(a,
                   wire.parse("e1", "select 1/0"), wire.bind("e1"), wire.execute(),
                   wire.parse("e2", "select 2"),  # skipped: never prepared
                   wire.sync(),
                   wire.parse("e3", "select 3"), wire.bind("e3"), wire.execute(), wire.sync(),
                   wire.bind("e3"), wire.execute(), wire.parse("e4", "select 4"), wire.sync())
        # PostgreSQL folds 1/0 when planning, so the Bind is what fails.
        assert wire.tags_of(msgs) == "1EZ" + "12DCZ" + "2DC1Z", msgs
        assert sqlstate(msgs[:4])[0] == "22012"
        assert [r[0] for r in wire.rows_of(msgs)] == ["3", "3"]
        assert sqlstate(run(a, wire.bind("e2"), wire.execute(), wire.sync()))[0] == "26000"
        assert value(run(a, wire.bind("e4"), wire.execute(), wire.sync())) == "4"


def test_flush_without_sync_and_several_syncs_in_one_write(p):
    with login(p) as a:
        a.send(wire.parse("f1", "select 41 + 1") + wire.flush())
        assert a.read_message()[0] == b"1"
        a.send(wire.bind("f1") + wire.execute() + wire.flush())
        msgs = [a.read_message() for _ in range(3)]
        assert wire.tags_of(msgs) == "2DC" and value(msgs) == "42"
        msgs = run(a, wire.sync(), wire.bind("f1"), wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "Z2DCZ"


def test_more_statements_than_max_prepared_statements(p, pg):
    with login(p) as a:
        for i in range(20):
            run(a, wire.parse(f"m{i}", f"select {i} + $1::int"), wire.sync())
            assert value(run(a, wire.bind(f"m{i}", [1]), wire.execute(), wire.sync())) == str(i + 1)
        # Older statements were evicted from the server; using them again
        # re-prepares them transparently.
        for i in range(20):
            assert value(run(a, wire.bind(f"m{i}", [2]), wire.execute(), wire.sync())) == str(i + 2)
        msgs = run(a, wire.query("select count(*) from pg_prepared_statements"))
        assert int(value(msgs)) <= 5


def test_long_names_and_messages_larger_than_the_read_buffer(p):
    name = "n" * 200
    big = "x" * 300_000
    with login(p) as a, login(p) as b:
        run(a, wire.parse(name, f"select length($1::text) + length('{big}')"), wire.sync())
        run(b, wire.parse(name, "select 'b'"), wire.sync())
        param = "y" * 500_000
        msgs = run(a, wire.bind(name, [param]), wire.execute(), wire.sync())
        assert value(msgs) == str(len(param) + len(big))
        assert value(run(b, wire.bind(name), wire.execute(), wire.sync())) == "b"


def test_unnamed_statement_survives_a_server_change(p):
    with login(p) as a, login(p) as b:
        run(a, wire.parse("", "select $1::int * 2"), wire.describe("S", ""), wire.sync())
        run(b, wire.parse("", "select 'other'"), wire.sync())  # replaces the server's unnamed
        assert value(run(a, wire.bind("", [21]), wire.execute(), wire.sync())) == "42"
        run(b, wire.query("select 1"))  # a simple query also replaces it
        assert value(run(a, wire.bind("", [5]), wire.execute(), wire.sync())) == "10"


def test_statement_prepared_in_a_rolled_back_transaction_stays(p):
    with login(p) as a:
        run(a, wire.query("begin"))
        run(a, wire.parse("rb", "select 7"), wire.sync())
        run(a, wire.query("rollback"))
        assert value(run(a, wire.bind("rb"), wire.execute(), wire.sync())) == "7"


def test_copy_through_a_named_statement(p, pg):
    pg.sql("create table if not exists prep_copy (v int)", db="appdb")
    pg.sql("truncate prep_copy", db="appdb")
    pg.sql("grant all on prep_copy to app", db="appdb")
    with login(p) as a:
        run(a, wire.parse("cp", "copy prep_copy from stdin"), wire.sync())
        a.send(wire.bind("cp") + wire.execute())
        msgs = [a.read_message(), a.read_message()]
        assert wire.tags_of(msgs) == "2G", msgs
        a.send(wire.message(b"d", b"1\n2\n3\n") + wire.message(b"c") + wire.sync())
        msgs = a.read_until({b"Z"})
        assert wire.tags_of(msgs) == "CZ", msgs
    assert pg.sql("select sum(v) from prep_copy", db="appdb")[0][0] == 6


def test_cancel_during_a_prepared_execute(p):
    with login(p) as a:
        run(a, wire.parse("slow", "select pg_sleep(30)"), wire.sync())
        a.send(wire.bind("slow") + wire.execute() + wire.sync())
        time.sleep(0.5)
        with wire.Conn(p.host, p.port) as c:
            c.send(wire.cancel_request(a.backend_pid, a.backend_key))
        msgs = a.read_until({b"Z"}, timeout=10)
        assert sqlstate(msgs)[0] == "57014"
        assert value(run(a, wire.parse("after", "select 'alive'"), wire.bind("after"),
                         wire.execute(), wire.sync())) == "alive"


def test_sql_prepare_execute_deallocate_on_a_shared_server(p):
    with login(p) as a, login(p) as b:
        assert wire.tags_of(run(a, wire.query("PREPARE s1(int) AS select $1 * 10"))) == "CZ"
        run(b, wire.query('prepare "S1"(int) as select $1 * 100'))
        assert value(run(a, wire.query("/* hi */ execute S1(4)"))) == "40"
        assert value(run(b, wire.query('EXECUTE "S1"(4)'))) == "400"
        # Protocol Bind of an SQL-prepared statement works too.
        assert value(run(a, wire.bind("s1", [5]), wire.execute(), wire.sync())) == "50"
        msgs = run(a, wire.query("deallocate prepare s1"))
        assert wire.tags_of(msgs) == "CZ" and msgs[0][1] == b"DEALLOCATE\0"
        assert sqlstate(run(a, wire.query("execute s1(1)"))) == (
            "26000", 'prepared statement "s1" does not exist')
        assert value(run(b, wire.query('execute "S1"(1)'))) == "100"
        msgs = run(b, wire.query("deallocate all"))
        assert msgs[0][1] == b"DEALLOCATE ALL\0"
        assert sqlstate(run(b, wire.query('execute "S1"(1)')))[0] == "26000"


def test_sql_deallocate_in_a_transaction_does_not_abort_it(p):
    with login(p) as a:
        run(a, wire.query("prepare d(int) as select $1"))
        run(a, wire.query("begin"))
        assert run(a, wire.query("deallocate d"))[-1][1] == b"T"
        assert value(run(a, wire.query("select 5"))) == "5"
        run(a, wire.query("commit"))


def test_sql_prepare_combined_with_other_statements_is_refused(p):
    with login(p) as a, login(p) as b:
        msgs = run(a, wire.query("select 1; PREPARE hidden AS select 2"))
        assert sqlstate(msgs)[0] == "0A000"
        assert msgs[-1][1] == b"I"
        # Nothing reached the server: no statement under the client's name
        # for another client to stumble on.
        assert sqlstate(run(b, wire.query("execute hidden")))[0] == "26000"
        # The session lives on; inside a transaction block the error aborts
        # it, as any error would.
        run(a, wire.query("begin"))
        assert sqlstate(run(a, wire.query("prepare x as select 1; execute x")))[0] == "0A000"
        assert run(a, wire.query("rollback"))[-1][1] == b"I"
        assert wire.rows_of(run(a, wire.query("select 1; select 'prepare'"))) == [("1",), ("prepare",)]


def test_usher_names_never_reach_another_clients_statement(p):
    with login(p) as a, login(p) as b:
        # a's statement is usher_<n> on the shared server; b guesses names.
        run(a, wire.parse("mine", "select 'secret'"), wire.sync())
        assert value(run(a, wire.bind("mine"), wire.execute(), wire.sync())) == "secret"
        for n in range(1, 50):
            name = f"usher_{n}"
            assert sqlstate(run(b, wire.bind(name), wire.execute(), wire.sync())) == (
                "26000", f'prepared statement "{name}" does not exist')
            assert sqlstate(run(b, wire.describe("S", name), wire.sync()))[0] == "26000"
            assert sqlstate(run(b, wire.query(f"execute {name}")))[0] == "26000"
            assert sqlstate(run(b, wire.query(f"deallocate {name}")))[0] == "26000"
        # Nothing was deallocated behind a's back; b may use the name itself.
        assert value(run(a, wire.bind("mine"), wire.execute(), wire.sync())) == "secret"
        run(b, wire.query("prepare usher_1 as select 'own'"))
        assert value(run(b, wire.query("execute usher_1"))) == "own"


def test_show_stats_counts_parses_and_binds(p):
    with login(p) as a, login(p) as b:
        run(a, wire.parse("x", "select 1"), wire.sync())
        run(b, wire.parse("y", "select 1"), wire.sync())  # same text: shared, not parsed again
        for _ in range(3):
            run(a, wire.bind("x"), wire.execute(), wire.sync())
    rows = {r["database"]: r for r in p.admin("show stats").dicts()}
    assert int(rows["appdb"]["total_client_parse_count"]) == 2
    assert int(rows["appdb"]["total_server_parse_count"]) == 1
    assert int(rows["appdb"]["total_bind_count"]) == 3


def test_deallocate_through_the_extended_protocol(p):
    """psycopg 3 evicts with DEALLOCATE sent as Parse/Bind/Describe/Execute."""
    def deallocate(conn, sql):
        return run(conn, wire.parse("", sql), wire.bind(""), wire.describe("P", ""),
                   wire.execute(), wire.sync())

    with login(p) as a, login(p) as b:
        run(a, wire.parse("_pg3_0", "select 1"), wire.sync())
        run(b, wire.parse("_pg3_0", "select 2"), wire.sync())
        msgs = deallocate(a, "DEALLOCATE _pg3_0")
        assert wire.tags_of(msgs) == "12nCZ", msgs
        assert msgs[3][1] == b"DEALLOCATE\0"
        assert sqlstate(run(a, wire.bind("_pg3_0"), wire.execute(), wire.sync()))[0] == "26000"
        assert value(run(b, wire.bind("_pg3_0"), wire.execute(), wire.sync())) == "2"
        msgs = deallocate(a, "DEALLOCATE _pg3_0")
        assert wire.tags_of(msgs) == "12nEZ", msgs
        assert sqlstate(msgs) == ("26000", 'prepared statement "_pg3_0" does not exist')
        assert wire.tags_of(deallocate(b, "DEALLOCATE ALL")) == "12nCZ"
        assert sqlstate(run(b, wire.bind("_pg3_0"), wire.execute(), wire.sync()))[0] == "26000"


def test_show_prepared_statements(p):
    with login(p) as a:
        for i in range(8):  # more than max_prepared_statements (5)
            run(a, wire.parse(f"s{i}", f"select {i}"), wire.sync())
        rows = [r for r in p.admin("show prepared_statements").dicts()
                if r["database"] == "appdb" and r["user"] == "app"]
        assert len(rows) == 1
        row = rows[0]
        assert int(row["statements"]) == 8
        assert int(row["client_parse_count"]) == 8
        assert int(row["server_parse_count"]) == 8
        assert int(row["evictions"]) == 3


def test_errors_quote_the_clients_statement_name(p):
    with login(p) as a:
        run(a, wire.parse("mine", "select $1::int"), wire.sync())
        msgs = run(a, wire.bind("mine", []), wire.execute(), wire.sync())
        assert sqlstate(msgs) == (
            "08P01", 'bind message supplies 0 parameters, but prepared statement "mine" requires 1')
        run(a, wire.query("prepare sq(int, int) as select $1 + $2"))
        msgs = run(a, wire.query("execute sq(1)"))
        assert sqlstate(msgs) == ("42601", 'wrong number of parameters for prepared statement "sq"')


def test_error_positions_point_into_the_clients_text(p):
    """EXECUTE reaches the server under Usher's name for the statement; an
    error position past the name is moved back into the client's own text
    (in characters, as PostgreSQL counts them)."""
    with login(p) as a:
        run(a, wire.query("prepare q(int) as select $1"))
        for sql in ("execute q('abc')", "/* é */ EXECUTE   q ('abc')"):
            err = wire.errors_of(run(a, wire.query(sql)))[0]
            assert err["C"] == "22P02", err
            assert int(err["P"]) == sql.index("'abc'") + 1, (sql, err)


def test_large_simple_query_streams_through(p):
    """Queries are inspected for PREPARE & co. only when small; a large one
    (a multi-megabyte INSERT) is forwarded as it arrives."""
    big = "z" * 3_000_000
    with login(p) as a:
        assert value(run(a, wire.query(f"select length('{big}')"))) == str(len(big))
        run(a, wire.query("prepare after_big as select 'ok'"))
        assert value(run(a, wire.query("execute after_big"))) == "ok"


def _ddl_table(pg, name):
    pg.sql(f"drop table if exists {name}", db="appdb")
    pg.sql(f"create table {name} (a int)", db="appdb")
    pg.sql(f"insert into {name} values (1)", db="appdb")
    pg.sql(f"grant all on {name} to app", db="appdb")


def test_result_type_change_after_ddl_is_retried_transparently(p, pg):
    """0A000 'cached plan must not change result type': PostgreSQL gives it to
    the client; Usher prepares the statement again and runs the exchange once
    more, since nothing reached the client and no transaction was open."""
    _ddl_table(pg, "prep_ddl")
    with login(p) as a:
        run(a, wire.parse("star", "select * from prep_ddl"), wire.sync())
        msgs = run(a, wire.bind("star"), wire.describe("P", ""), wire.execute(), wire.sync())
        assert wire.rows_of(msgs) == [("1",)]
        pg.sql("alter table prep_ddl add column b int default 7", db="appdb")
        msgs = run(a, wire.bind("star"), wire.describe("P", ""), wire.execute(), wire.sync())
        assert wire.tags_of(msgs) == "2TDCZ", msgs
        assert wire.rows_of(msgs) == [("1", "7")]
        pg.sql("alter table prep_ddl add column c text default 'x'", db="appdb")
        msgs = run(a, wire.bind("star"), wire.execute(), wire.sync())
        assert wire.rows_of(msgs) == [("1", "7", "x")]
    rows = [r for r in p.admin("show prepared_statements").dicts() if r["database"] == "appdb"]
    assert int(rows[0]["retries"]) == 2


def test_sql_execute_after_ddl_is_retried_transparently(p, pg):
    """The same for SQL EXECUTE, of a statement made by SQL PREPARE and of one
    made by a Parse message: each is prepared again the way it was made."""
    _ddl_table(pg, "prep_ddl_sql")
    with login(p) as a:
        run(a, wire.query("prepare star as select * from prep_ddl_sql"))
        assert wire.rows_of(run(a, wire.query("execute star"))) == [("1",)]
        run(a, wire.parse("pstar", "select * from prep_ddl_sql where a > $1"), wire.sync())
        assert wire.rows_of(run(a, wire.query("execute pstar(0)"))) == [("1",)]
        pg.sql("alter table prep_ddl_sql add column b int default 7", db="appdb")
        msgs = run(a, wire.query("execute star"))
        assert wire.tags_of(msgs) == "TDCZ", msgs
        assert wire.rows_of(msgs) == [("1", "7")]
        msgs = run(a, wire.query("execute pstar(0)"))
        assert wire.tags_of(msgs) == "TDCZ", msgs
        assert wire.rows_of(msgs) == [("1", "7")]
        # Both still work as the client named them.
        assert wire.rows_of(run(a, wire.query("execute star"))) == [("1", "7")]
        assert wire.rows_of(run(a, wire.bind("pstar", [b"0"]), wire.execute(), wire.sync())) == [
            ("1", "7")]
    rows = [r for r in p.admin("show prepared_statements").dicts() if r["database"] == "appdb"]
    assert int(rows[0]["retries"]) == 2


def test_result_type_change_inside_a_transaction_reaches_the_client(p, pg):
    _ddl_table(pg, "prep_ddl_tx")
    with login(p) as a:
        run(a, wire.parse("star", "select * from prep_ddl_tx"), wire.sync())
        run(a, wire.bind("star"), wire.execute(), wire.sync())
        pg.sql("alter table prep_ddl_tx add column b int", db="appdb")
        run(a, wire.query("begin"))
        msgs = run(a, wire.bind("star"), wire.execute(), wire.sync())
        assert sqlstate(msgs) == ("0A000", "cached plan must not change result type")
        assert msgs[-1][1] == b"E"
        run(a, wire.query("rollback"))
