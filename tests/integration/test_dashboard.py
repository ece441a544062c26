"""The dashboard at / in headless Chromium (Debian's chromium), against a
running Usher under real load: the page loads with no console message (our
script logs nothing, so any message is an error: an exception, a refused
resource, a Content-Security-Policy violation), the numbers it shows match
SHOW POOLS, and a screenshot is kept as an artifact
($USHER_ARTIFACTS, default /tmp/usher-artifacts/dashboard.png).

The load: in appdb, every server of a pool of 3 is held by an open
transaction and 2 more clients wait, a state that stays still while the
page and the console are read; in benchdb, threads run queries the whole
time, so the page has rates and latencies to show."""

import html.parser
import os
import re
import shutil
import subprocess
import tempfile
import threading

import pytest

from harness import util
from http_util import get, http_pooler

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.environ.get("USHER_ARTIFACTS", "/tmp/usher-artifacts")
POOL_SIZE = 3
WAITERS = 2
LOAD_THREADS = 2
# Enough virtual time for several polls (one every 2 s).
VIRTUAL_TIME_MS = 9000

pytestmark = [pytest.mark.usher_only, pytest.mark.slow]


def chromium(url, *args):
    """Runs headless Chromium on url; (stdout, the page's console lines)."""
    profile = tempfile.mkdtemp(prefix="uit-chromium-")
    try:
        r = subprocess.run(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr",
             "--v=0", f"--virtual-time-budget={VIRTUAL_TIME_MS}", "--window-size=1400,1100",
             *args, url],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return r.stdout, console


class PageReader(html.parser.HTMLParser):
    """The numbers the page shows: its cards by id, the pools table's cells
    by (database, user) and column, the problems list."""

    def __init__(self):
        super().__init__()
        self.ids = {}
        self.pools = {}
        self.problems = []
        self._id = None
        self._row = None
        self._column = None
        self._in_problems = False
        self._li = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-database" in a:
            self._row = (a["data-database"], a["data-user"])
            self.pools[self._row] = {}
        if tag == "td" and self._row and "data-column" in a:
            self._column = a["data-column"]
        if tag == "ul" and a.get("id") == "problems":
            self._in_problems = True
        if tag == "li" and self._in_problems:
            self._li = True
        if "id" in a:
            self._id = a["id"]

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag == "td":
            self._column = None
        if tag == "ul":
            self._in_problems = False
        if tag == "li":
            self._li = False
        self._id = None

    def handle_data(self, data):
        if self._row and self._column:
            self.pools[self._row][self._column] = data.strip()
        elif self._li:
            self.problems.append(data.strip())
        elif self._id:
            self.ids[self._id] = self.ids.get(self._id, "") + data.strip()


@pytest.fixture
def loaded(pooler, pg):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    p = http_pooler(pooler, default_pool_size=POOL_SIZE, extra_ini={"http_public_read": "on"})
    holders = [p.connect() for _ in range(POOL_SIZE)]
    for c in holders:
        c.execute("begin")
        c.execute("select 1")
    waiter_conns = [p.connect() for _ in range(WAITERS)]
    waiters = [threading.Thread(target=c.execute, args=("select 1",), daemon=True)
               for c in waiter_conns]
    for t in waiters:
        t.start()
    util.wait_until(lambda: pool_row(p, "appdb")["cl_waiting"] == WAITERS, timeout=20,
                    what="the waiters queued")
    stop = threading.Event()

    def load():
        with p.connect(db="benchdb") as c:
            for _ in range(200_000):  # bounded; stopped long before
                if stop.is_set():
                    return
                c.execute("select 1")

    threads = [threading.Thread(target=load, daemon=True) for _ in range(LOAD_THREADS)]
    for t in threads:
        t.start()
    yield p
    stop.set()
    for t in threads:
        t.join(timeout=30)
    for c in holders:
        c.execute("commit")
        c.close()
    for t in waiters:
        t.join(timeout=30)
    for c in waiter_conns:
        c.close()


def pool_row(p, db, user="app"):
    r = p.admin("SHOW POOLS")
    for row in r.dicts():
        if row["database"] == db and row["user"] == user:
            return row
    return None


def test_the_page_shows_what_show_pools_says_with_no_console_error(loaded):
    p = loaded
    url = f"http://{util.LOOPBACK}:{p.http_port}/"
    dom, console = chromium(url, "--dump-dom")
    assert console == [], "\n".join(console)
    page = PageReader()
    page.feed(dom)

    # The still pool: every figure as the console has it.
    row = pool_row(p, "appdb")
    shown = page.pools[("appdb", "app")]
    for column in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "sv_login"):
        assert shown[column] == str(row[column]), (column, shown, row)
    assert shown["cl_waiting"] == str(WAITERS) and shown["sv_active"] == str(POOL_SIZE)
    # The waiters have waited: the page's longest wait is no less than the
    # console's when the page was read, which came first.
    assert float(shown["maxwait"]) > 0

    # The cards add up the pools the page shows (the console's pool too).
    assert int(page.ids["cl-waiting"]) >= WAITERS
    assert int(page.ids["sv-active"]) >= POOL_SIZE
    assert ("benchdb", "app") in page.pools

    # The load shows as rates and as query percentiles.
    assert float(page.ids["tps"].replace(",", "")) > 0, page.ids
    m = re.search(r"p50 ([\d.]+) ms, p95 ([\d.]+) ms, p99 ([\d.]+) ms", page.ids["latency-latest"])
    assert m, page.ids["latency-latest"]
    p50, p95, p99 = map(float, m.groups())
    assert 0 < p50 <= p95 <= p99
    assert page.ids["status"] == "ready"
    assert page.problems == ["none"]


def test_a_screenshot_is_kept(loaded):
    p = loaded
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "dashboard.png")
    if os.path.exists(path):
        os.remove(path)
    _, console = chromium(f"http://{util.LOOPBACK}:{p.http_port}/", f"--screenshot={path}")
    assert console == [], "\n".join(console)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 20_000  # a drawn page, not a blank one
    print(f"dashboard screenshot: {path}")


def test_the_page_asks_for_the_token_and_shows_no_data_without_it(pooler):
    p = http_pooler(pooler, token="dash-token-1")
    assert get(p, "/").status == 200  # the page itself is public
    dom, console = chromium(f"http://{util.LOOPBACK}:{p.http_port}/", "--dump-dom")
    page = PageReader()
    page.feed(dom)
    # The form is shown (no hidden attribute) and no pool is listed.
    assert re.search(r'<form id="token-form"(?![^>]*hidden)', dom), dom[:2000]
    assert page.pools == {}
    assert page.ids["status"] == "needs the token"
    # A refusal is handled, not thrown at the console.
    assert console == [], "\n".join(console)
