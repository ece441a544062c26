"""Fixtures for the integration tier: a real PostgreSQL and a real pooler.

POOLER=usher (default; binary from USHER_BIN, default <repo>/build/usher) or
POOLER=pgbouncer (Debian's /usr/sbin/pgbouncer, the reference behaviour).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import util  # noqa: E402
from harness.pooler import Pooler, pooler_binary, pooler_kind  # noqa: E402
from harness.postgres import scratch_server  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "usher_only: behaviour PgBouncer 1.18 lacks; skipped when POOLER=pgbouncer"
    )
    config.addinivalue_line("markers", "slow: takes more than a few seconds (still run by default)")
    kind = pooler_kind()
    binary = pooler_binary(kind)
    if not os.path.exists(binary):
        raise pytest.UsageError(
            f"POOLER={kind}: binary {binary} does not exist. Build Usher "
            "(cmake --build build), set USHER_BIN, or run with POOLER=pgbouncer."
        )
    if os.geteuid() != 0:
        raise pytest.UsageError(
            "the integration tier runs initdb/postgres as the postgres account "
            "and must be started as root"
        )


def pytest_report_header(config):
    kind = pooler_kind()
    return f"pooler: {kind} ({pooler_binary(kind)})"


def pytest_collection_modifyitems(config, items):
    # RUN_USHER_ONLY=1 runs them against PgBouncer anyway, to show that they
    # fail there (i.e. that they test something PgBouncer 1.18 lacks).
    if pooler_kind() != "pgbouncer" or os.environ.get("RUN_USHER_ONLY") == "1":
        return
    skip = pytest.mark.skip(reason="usher_only: PgBouncer 1.18 lacks this behaviour")
    for item in items:
        if "usher_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture(scope="session")
def pg():
    with scratch_server("uit-pg-") as server:
        yield server


@pytest.fixture
def pg_running(pg):
    """pg, guaranteed up again after the test (for tests that stop it)."""
    yield pg
    if not pg.is_running():
        pg.start()


@pytest.fixture
def kind():
    return pooler_kind()


@pytest.fixture
def pooler(pg, request):
    """Factory: make_pooler(...) -> started Pooler. Stopped at teardown.

    make_pooler(pool_mode='transaction', default_pool_size=5, extra_ini=None,
                databases=None, userlist=None, users=None, auth_type=None,
                args=(), start=True)
    databases: {name: connstring}; None = appdb, benchdb, postgres on pg.
    userlist:  {user: secret}; None = every known user with its plain password.
    """
    made = []

    def make_pooler(pool_mode="transaction", default_pool_size=5, extra_ini=None,
                    databases=None, userlist=None, users=None, auth_type=None,
                    args=(), start=True):
        last_error = None
        for _attempt in range(3):  # a free port can be raced away: retry
            base = util.make_service_tempdir("uit-pl-")
            p = Pooler(pg, base)
            made.append(p)
            settings = p.default_settings()
            settings["pool_mode"] = pool_mode
            settings["default_pool_size"] = str(default_pool_size)
            if auth_type:
                settings["auth_type"] = auth_type
            if extra_ini:
                settings.update({k: str(v) for k, v in extra_ini.items()})
            p.write_ini(
                databases=p.default_databases() if databases is None else databases,
                settings=settings,
                users=users or {},
            )
            p.write_userlist(userlist)
            p.extra_args = list(args)
            if not start:
                return p
            try:
                return p.start()
            except RuntimeError as e:
                last_error = e
                p.stop()
                if "exited" not in str(e):
                    raise
        raise last_error

    yield make_pooler

    failed = _failed(request)
    for p in made:
        p.stop()
        if failed:
            log = util.read_text(p.log_path) or util.read_text(p.stdout_path)
            sys.stdout.write(f"\n----- {p.kind} log ({p.base_dir}) -----\n{log[-8000:]}\n")
        util.remove_tree(p.base_dir)
