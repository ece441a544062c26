"""PostgreSQL's own regression suite (pg_regress, src/test/regress's
parallel_schedule of the installed server's version) through the pooler in
session mode: no test may fail through the pooler that does not also fail
when the same suite runs directly against the same server.

The suite comes from scripts/regress-suite (Debian's postgresql-15 source
package through apt, cached in build-regress/, with regress.so built against
postgresql-server-dev-15's headers; run here, a no-op when cached), pg_regress
from postgresql-client-15. Both runs take about 30 s each on 2 cores.
"""

import os
import re
import subprocess
import time

import pytest

from harness import util
from harness.pooler import REPO_ROOT
from harness.postgres import PG_BIN, SUPERUSER, SUPERUSER_PASSWORD

PG_REGRESS = "/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress"
SERVER_HEADER = "/usr/include/postgresql/15/server/postgres.h"
FETCH = os.path.join(REPO_ROOT, "scripts", "regress-suite")
SUITE_DIR = os.environ.get("REGRESS_DIR", os.path.join(REPO_ROOT, "build-regress"))
DBNAME = "regression"  # psql.sql names it literally: both runs use it, one after the other
RUN_TIMEOUT = 420  # seconds per pg_regress run

# pg_regress's client settings (PGDATESTYLE, PGTZ). The pooler gives each
# client its startup values with SET on a shared server, so RESET (and RESET
# ALL) goes back to the server connection's own startup value, which comes
# from the [databases] entry, as in PgBouncer; the entry names the same
# values, so date, timestamp, timestamptz, horology and guc, which RESET
# DateStyle and TimeZone, are compared in full.
REGRESS_DATESTYLE = "Postgres, MDY"
REGRESS_TIMEZONE = "America/Los_Angeles"
REGRESS_INTERVALSTYLE = "postgres_verbose"  # PGOPTIONS

# Differences that any pooler sharing server connections has (session mode:
# a client's server was used by earlier clients and reset with DISCARD ALL,
# which does not make it a new backend). test -> (reason, markers): the test
# may fail through the pooler only where every hunk of its diff contains one
# of the markers; any other hunk is a difference.
POOLER_INHERENT = {
    "guc": (
        "a reused backend already loaded plpgsql (DISCARD ALL does not unload "
        "libraries), so SET plpgsql.extra_foo_warnings fails before LOAD instead "
        "of warning at LOAD",
        ["plpgsql.extra_foo_warnings"],
    ),
    "stats": (
        "\\c - gets a server from the pool, not a new backend, so "
        "pg_stat_database.sessions does not grow",
        ["sessions > :db_stat_sessions"],
    ),
    "temp": (
        "\\c - is meant to start a backend without a temporary namespace; a "
        "reused backend still has one, so current_schema() does not create it and "
        "PREPARE TRANSACTION fails for max_prepared_transactions = 0 instead",
        ["'twophase_search'"],
    ),
}

RESULT_LINE = re.compile(
    r"^(?:test\s+|\s+)(?P<name>\S+)\s+\.\.\.\s+(?P<status>ok|FAILED|failed \(ignored\))"
)


def _suite():
    if not (os.path.exists(PG_REGRESS) and os.path.exists(SERVER_HEADER)):
        pytest.skip("TOOLCHAIN MISSING: pg_regress and the server headers "
                    "(Debian packages postgresql-client-15, postgresql-server-dev-15)")
    proc = subprocess.run([FETCH], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"scripts/regress-suite failed:\n{proc.stdout}"
    with open(os.path.join(SUITE_DIR, "SOURCE_VERSION")) as f:
        version = f.read().strip()
    return os.path.join(SUITE_DIR, "suite"), os.path.join(SUITE_DIR, "lib"), version


def _run_pg_regress(suite, lib, host, port, outdir):
    """Runs the whole schedule into a fresh `regression` database (pg_regress
    drops and creates it, connecting to `postgres`). Runs as the postgres
    account: the server writes into outdir (COPY TO) and reads the suite."""
    cmd = [
        PG_REGRESS,
        f"--inputdir={suite}",
        f"--outputdir={outdir}",
        f"--bindir={PG_BIN}",
        f"--dlpath={lib}",
        f"--schedule={suite}/parallel_schedule",
        f"--host={host}",
        f"--port={port}",
        f"--user={SUPERUSER}",
        f"--dbname={DBNAME}",
    ]
    env = {
        "PATH": f"{PG_BIN}:/usr/bin:/bin",
        "HOME": outdir,
        "LANG": "C.UTF-8",
        "PGPASSWORD": SUPERUSER_PASSWORD,
        "PGCONNECT_TIMEOUT": "10",
    }
    uid, gid = util.service_ids()
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=outdir, env=env, user=uid, group=gid, extra_groups=[],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=RUN_TIMEOUT)
    elapsed = time.monotonic() - start
    results = {}
    for line in proc.stdout.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            results[m["name"]] = m["status"]
    return proc, results, elapsed


def _failed(results):
    return {name for name, status in results.items() if status != "ok"}


def _diff_blocks(outdir):
    """{test: its block of regression.diffs}."""
    text = util.read_text(os.path.join(outdir, "regression.diffs"))
    blocks = {}
    for block in re.split(r"(?m)^(?=diff )", text):
        m = re.search(r"/results/(\S+)\.out", block.split("\n", 1)[0])
        if m:
            blocks[m.group(1)] = blocks.get(m.group(1), "") + block
    return blocks


def _hunks(block):
    return re.split(r"(?m)^(?=@@ )", block)[1:]


def _explained(block, markers):
    """True when every hunk of the diff shows one of the markers."""
    hunks = _hunks(block)
    return bool(hunks) and all(any(m in h for m in markers) for h in hunks)


@pytest.mark.slow
def test_pg_regress_session_mode(pg, pooler, kind):
    suite, lib, version = _suite()
    target = f"host={pg.host} port={pg.port}"
    settings = {
        "max_client_conn": 200,
        "query_wait_timeout": 120,
    }
    if kind == "pgbouncer":
        # 1.18 refuses a client sending `options` (pg_regress sets PGOPTIONS=
        # -c intervalstyle=postgres_verbose) unless told to ignore it, and
        # then the server never sees it: interval output would differ in ten
        # tests (alter_table, arrays, brin_multi, create_view, fast_default,
        # horology, timestamp, timestamptz, timetz, window). The role's
        # default stands in for it during the pooled run.
        settings["ignore_startup_parameters"] = "options"
    p = pooler(
        pool_mode="session",
        default_pool_size=40,
        extra_ini=settings,
        databases={
            DBNAME: f"{target} dbname={DBNAME} datestyle='{REGRESS_DATESTYLE}' "
                    f"timezone={REGRESS_TIMEZONE}",
            "postgres": f"{target} dbname=postgres",
        },
    )
    direct_dir = util.make_service_tempdir("uit-rg-direct-")
    pooled_dir = util.make_service_tempdir("uit-rg-pooled-")
    try:
        d_proc, direct, d_time = _run_pg_regress(suite, lib, pg.host, pg.port, direct_dir)
        if kind == "pgbouncer":
            pg.sql(f"alter role {SUPERUSER} set intervalstyle = {REGRESS_INTERVALSTYLE}")
        try:
            p_proc, pooled, p_time = _run_pg_regress(suite, lib, p.host, p.port, pooled_dir)
        finally:
            if kind == "pgbouncer":
                pg.sql(f"alter role {SUPERUSER} reset intervalstyle")
        server = pg.sql("show server_version")[0][0]
        print(f"\nserver {server}, suite from postgresql-15 source {version}: {len(direct)} tests; "
              f"direct {d_time:.0f}s, through {kind} {p_time:.0f}s")
        print(f"failed directly: {sorted(_failed(direct))}")
        print(f"failed through {kind}: {sorted(_failed(pooled))}")
        assert len(direct) > 150, f"pg_regress direct run:\n{d_proc.stdout[-6000:]}"
        assert set(pooled) == set(direct), (
            f"pg_regress through {kind} ran other tests:\n{p_proc.stdout[-6000:]}")
        allowed = POOLER_INHERENT
        blocks = _diff_blocks(pooled_dir)
        only_pooled = sorted(_failed(pooled) - _failed(direct))
        unexplained = [t for t in only_pooled
                       if t not in allowed or not _explained(blocks.get(t, ""), allowed[t][1])]
        for t in sorted(set(only_pooled) - set(unexplained)):
            print(f"{t}: fails through {kind} as expected: {allowed[t][0]}")
        assert not unexplained, (
            f"failed only through {kind}: {unexplained}\n"
            + "".join(blocks.get(t, f"(no diff for {t})\n") for t in unexplained)[-30000:])
    finally:
        p.stop()
        # The shared cluster goes on serving the other tests.
        pg.sql(f"drop database if exists {DBNAME} with (force)")
        util.remove_tree(direct_dir)
        util.remove_tree(pooled_dir)
