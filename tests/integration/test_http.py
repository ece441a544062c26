"""The HTTP endpoint (http_listen_port): health probes, Prometheus metrics
(checked by promtool and scraped by a real Prometheus), the JSON API of the
console's SHOW commands and actions, the bearer token and its reload, CORS,
and hostile HTTP clients, which must cost only their own socket: the other
HTTP clients and the PostgreSQL clients through Usher keep being served.

Everything is loopback: Usher's HTTP port, Prometheus' listen address and
scrape target are free ports on 127.0.0.1 picked through harness.util."""

import contextlib
import decimal
import os
import select
import socket
import subprocess
import time
import urllib.parse

import psycopg
import pytest

import http_util as hu
from harness import clients, util

pytestmark = pytest.mark.usher_only

TOKEN = hu.TOKEN
ORIGIN = "https://app.example.com"
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
MAX_CONNECTIONS = 64  # src/http/server.h kMaxConnections
MAX_HEADER = 8 * 1024  # kMaxHeaderBytes
REQUEST_TIMEOUT = 10  # kRequestTimeout, seconds


# ------------------------------------------------------------------ helpers
def _pool_row(p, db="appdb", user="app"):
    rows = [r for r in p.admin("show pools") if r["database"] == db and r["user"] == user]
    assert len(rows) == 1, rows
    return rows[0]


def _db_row(p, db):
    return [r for r in p.admin("show databases") if r["name"] == db][0]


def _plain(v):
    """A console value as JSON has it (numerics are numbers there)."""
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _assert_serving(p, token=TOKEN):
    """Usher is up, a fresh HTTP client is served (a public and an
    authenticated route), and so is a PostgreSQL client through Usher."""
    assert p.running(), "pooler died:\n" + p.output_text()[-3000:]
    r = hu.get(p, "/health/live")
    assert (r.status, r.json()) == (200, {"status": "live"}), r
    version = hu.get_json(p, "/api/v1/version", token=token)
    assert version[0]["version"].startswith("Usher"), version
    with p.connect(application_name="serving-check") as conn:
        assert conn.execute("select 6 * 7").fetchone() == (42,)


def _server_sockets(p, states=("01", "08")):
    """Usher's side of the HTTP connections (/proc/net/tcp, local port =
    the HTTP port), as {remote port: (state, tx_queue, rx_queue)}.
    01 ESTABLISHED, 08 CLOSE_WAIT (the client closed, Usher has not yet)."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            if int(local.split(":")[1], 16) != p.http_port or state not in states:
                continue
            tx, rx = (int(x, 16) for x in queues.split(":"))
            out[int(remote.split(":")[1], 16)] = (state, tx, rx)
    return out


def _listen_addresses(p):
    """The addresses Usher's HTTP port listens on (IPv4 and IPv6)."""
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                addr, port = fields[1].split(":")
                if fields[3] != "0A" or int(port, 16) != p.http_port:
                    continue
                raw = bytes.fromhex(addr)
                if v6:
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    out.append(socket.inet_ntop(socket.AF_INET6, raw))
                else:
                    out.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
    return out


def _wait_http_idle(p, timeout=15):
    """Until Usher holds no HTTP connection (every earlier one is closed on
    its side too), so that a test can count the connections it opens."""
    util.wait_until(lambda: not _server_sockets(p), timeout, what="no HTTP connection open")


def _connect_raw(p, timeout=10):
    return socket.create_connection((util.LOOPBACK, p.http_port), timeout=timeout)


def _request_on(s, path, token=None, timeout=10):
    """One keep-alive GET on an open socket; (status, body)."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        assert time.monotonic() < deadline, data
        chunk = s.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        assert time.monotonic() < deadline
        chunk = s.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return hu.status_of(head), body


def _metrics(p, token=TOKEN):
    r = hu.get(p, "/metrics", token=token)
    assert r.status == 200, r
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return r


def _not_ready(p):
    """/health/ready's answer when it is 503, else None (for wait_until),
    as a reader sees it (the reasons are for readers only)."""
    r = hu.get(p, "/health/ready", token=TOKEN)
    return r if r.status == 503 else None


def _action(p, name, token=TOKEN, **params):
    query = urllib.parse.urlencode(params)
    return hu.post(p, f"/api/v1/actions/{name}" + (f"?{query}" if query else ""), token=token)


# ------------------------------------------------------------ 1. health
def test_health_live_and_ready(pooler):
    """Both probes answer without a token even where reads need one: a
    kubelet or load balancer has none. HEAD gets GET's headers and no body.
    http_listen_addr left out listens on loopback only."""
    p = hu.http_pooler(pooler, token=TOKEN, listen_addr=None)
    listening = _listen_addresses(p)
    assert listening == ["127.0.0.1"], listening
    cfg = {r["key"]: r["value"] for r in p.admin("show config")}
    assert cfg["http_listen_addr"] == "127.0.0.1"
    live = hu.get(p, "/health/live")
    assert (live.status, live.json()) == (200, {"status": "live"})
    assert live.headers["content-type"] == "application/json"
    assert live.headers["cache-control"] == "no-store"
    ready = hu.get(p, "/health/ready", token=TOKEN)
    assert (ready.status, ready.json()) == (200, {"status": "ready"})
    head = hu.request(p, "HEAD", "/health/ready")
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(ready.body)
    # The same routes behind a token would fail the probe: prove they need
    # none by contrast with /metrics on the same pooler.
    assert hu.get(p, "/metrics").status == 401
    assert hu.request(p, "POST", "/health/live").status == 405


def test_ready_follows_pause_and_resume(pooler):
    """PAUSE (of everything) makes Usher not ready, so that a load balancer
    sends no new clients to a pooler that would hold them; RESUME makes it
    ready again. PAUSE of one database leaves it ready (others are served)."""
    p = hu.http_pooler(pooler, token=TOKEN)
    with p.connect() as conn:
        conn.execute("select 1")
    assert p.admin("pause").rows == []
    try:
        r = hu.get(p, "/health/ready", token=TOKEN)
        assert r.status == 503, r
        assert r.json() == {"status": "not ready", "reasons": ["paused"]}
        head = hu.request(p, "HEAD", "/health/ready")
        assert head.status == 503 and head.body == b""
        assert hu.get(p, "/health/live").status == 200  # alive all the same
        samples = hu.parse_prometheus(_metrics(p).text())
        assert hu.sample(samples, "usher_paused") == 1
        assert dict(p.admin("show state").rows)["paused"] == "yes"
    finally:
        p.admin("resume")
    r = hu.get(p, "/health/ready", token=TOKEN)
    assert (r.status, r.json()) == (200, {"status": "ready"})
    assert hu.sample(hu.parse_prometheus(_metrics(p).text()), "usher_paused") == 0

    p.admin("pause appdb")
    try:
        assert _db_row(p, "appdb")["paused"] == 1
        assert hu.get(p, "/health/ready", token=TOKEN).status == 200
    finally:
        p.admin("resume appdb")
    _assert_serving(p)


def test_ready_names_unreachable_database(pooler):
    """A database whose every pool failed its last server connect and holds
    no server makes Usher not ready, naming it; one that is fine is not
    named. Pointed at the real server again (RELOAD), the next connect
    succeeds and Usher is ready again."""
    dead_port = util.free_port()
    p = hu.http_pooler(pooler, token=TOKEN, start=False,
                       extra_ini={"query_wait_timeout": 3, "server_login_retry": 1})
    dbs = p.default_databases()
    dbs["deaddb"] = f"host=127.0.0.1 port={dead_port} dbname=appdb"
    p.write_ini(databases=dbs)
    p.start()
    hu.wait_http(p)
    with p.connect() as conn:  # appdb reachable: a pool that is fine
        conn.execute("select 1")
    assert hu.get(p, "/health/ready", token=TOKEN).status == 200

    def try_dead():
        try:
            with p.connect(db="deaddb", connect_timeout=10) as conn:
                conn.execute("select 1")
        except psycopg.Error as e:
            return str(e)
        return "connected"

    worker = clients.start(try_dead)
    r = util.wait_until(lambda: _not_ready(p), 15, what="ready 503 for deaddb")
    body = r.json()
    assert body["status"] == "not ready"
    assert len(body["reasons"]) == 1, body
    reason = body["reasons"][0]
    assert reason.startswith("database deaddb: cannot reach a server: "), reason
    assert "appdb" not in reason
    assert worker.join_result(30) != "connected"

    # The same database pointed at the live server: ready once it connects.
    dbs["deaddb"] = f"host={p.pg.host} port={p.pg.port} dbname=appdb"
    p.write_ini(databases=dbs)
    p.admin("reload")

    def connects():
        # The failed pool refuses new logins for server_login_retry (1 s).
        try:
            with p.connect(db="deaddb") as conn:
                return conn.execute("select current_database()").fetchone()
        except psycopg.OperationalError as e:
            assert "server_login_retry" in str(e), e
            return None

    assert util.wait_until(connects, 10, interval=0.2, what="deaddb reachable") == ("appdb",)
    r = hu.get(p, "/health/ready", token=TOKEN)
    assert (r.status, r.json()) == (200, {"status": "ready"}), r


def test_ready_during_safe_shutdown(pooler):
    """SIGINT (safe shutdown: wait for open transactions) makes Usher not
    ready at once, so that no new client is sent to it, while it is still
    alive and serving the transaction it waits for."""
    p = hu.http_pooler(pooler, token=TOKEN)
    tx = p.connect(autocommit=False)
    try:
        tx.execute("select 1")
        p.sigint()
        r = util.wait_until(lambda: _not_ready(p), 10, what="ready 503 after SIGINT")
        assert r.json()["status"] == "not ready"
        assert "shutting down" in r.json()["reasons"], r
        assert hu.get(p, "/health/live").status == 200
        assert hu.sample(hu.parse_prometheus(_metrics(p).text()), "usher_shutting_down") == 1
        assert p.running()
        assert tx.execute("select 'still served'").fetchone() == ("still served",)
        tx.commit()
    finally:
        tx.close()
    assert p.wait_exit(15) == 0


@pytest.mark.slow
def test_ready_recovers_when_database_returns_without_traffic(pooler, pg_running):
    """PostgreSQL down while a client tries to connect: not ready. Once it
    is back, Usher must become ready again on its own: behind a load
    balancer that follows readiness, no client comes to make it retry."""
    pg = pg_running
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"server_login_retry": 1})
    pg.stop()
    try:
        with pytest.raises(psycopg.OperationalError):
            with p.connect(connect_timeout=10) as conn:
                conn.execute("select 1")
        r = hu.get(p, "/health/ready", token=TOKEN)
        assert r.status == 503, r
        assert r.json()["reasons"][0].startswith("database appdb: cannot reach a server")
    finally:
        pg.start()
    # Far longer than server_login_retry (1 s): time for a background retry.
    util.wait_until(lambda: hu.get(p, "/health/ready", token=TOKEN).status == 200, 10,
                    interval=0.25, what="ready again without client traffic")


# ------------------------------------------------------------ 2. metrics
def _traffic(p, autocommit_queries=25):
    """25 autocommit queries and a transaction of 3 as app, 7 as app2, all
    on appdb: 26 transactions for app, 7 for app2."""
    with p.connect() as conn:
        for i in range(autocommit_queries):
            assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
    with p.connect(autocommit=False) as conn:
        for i in range(3):
            conn.execute("select %s::int", (i,))
        conn.commit()
    with p.connect(user="app2") as conn:
        for i in range(7):
            assert conn.execute("select %s::int + 1", (i,)).fetchone() == (i + 1,)


def _appdb_totals(p):
    rows = [r for r in p.admin("show stats_totals") if r["database"] == "appdb"]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.skipif(not os.path.exists(PROMTOOL), reason="promtool (Debian prometheus) missing")
def test_metrics_after_traffic(pooler):
    """/metrics after real queries: promtool accepts the exposition, the
    counters are the console's (SHOW STATS_TOTALS) figures, the query
    histogram counts every query, SHOW POOLS is there as gauges, and the
    process metrics are this process's."""
    t0 = time.time()
    p = hu.http_pooler(pooler, token=TOKEN)
    _traffic(p)
    held = p.connect(application_name="held")  # an idle client: cl_active 1
    try:
        # Counters are updated as answers leave: wait until the last one is in.
        util.wait_until(lambda: _appdb_totals(p)["xact_count"] >= 33, 10, what="stats")
        body = _metrics(p).body
        latency = hu.get_json(p, "/api/v1/latency", token=TOKEN)
        totals = _appdb_totals(p)
        pools = _pool_row(p)
        rss = hu.rss_bytes(p.pid)
    finally:
        held.close()

    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                           capture_output=True, timeout=30)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()

    s = hu.parse_prometheus(body.decode())
    lab = {"database": "appdb", "user": "app"}
    lab2 = {"database": "appdb", "user": "app2"}

    def both(name):
        """The per-user series summed: the console's per-database figure."""
        return hu.sample(s, name, **lab) + hu.sample(s, name, **lab2)

    xacts = hu.sample(s, "usher_transactions_total", **lab)
    queries = hu.sample(s, "usher_queries_total", **lab)
    # 25 autocommit queries and one transaction of three (plus its BEGIN
    # and COMMIT, which the console counts as queries); app2: 7 and 7.
    assert xacts == 26
    assert hu.sample(s, "usher_transactions_total", **lab2) == 7
    assert hu.sample(s, "usher_queries_total", **lab2) == 7
    assert queries >= 28
    assert both("usher_transactions_total") == totals["xact_count"] == 33
    assert both("usher_queries_total") == totals["query_count"]
    assert both("usher_client_logins_total") == totals["client_login_count"] == 4
    assert both("usher_client_received_bytes_total") == totals["bytes_received"]
    assert both("usher_client_sent_bytes_total") == totals["bytes_sent"]
    assert both("usher_query_seconds_total") == pytest.approx(float(totals["query_time"]) / 1e6)
    assert both("usher_transaction_seconds_total") == pytest.approx(
        float(totals["xact_time"]) / 1e6)
    # The histogram counts the same queries; its buckets are cumulative.
    count = hu.sample(s, "usher_query_duration_seconds_count", **lab)
    assert count == queries
    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in s.items()
                      if k[0] == "usher_query_duration_seconds_bucket"
                      and dict(k[1])["database"] == "appdb" and dict(k[1])["user"] == "app"),
                     key=lambda b: b[0])
    assert buckets[-1] == (float("inf"), count)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
    assert hu.sample(s, "usher_transaction_duration_seconds_count", **lab) == xacts
    # /api/v1/latency: the same histograms summed over pools, per bucket.
    assert latency["bounds_seconds"] == [b for b, _ in buckets[:-1]]
    assert sum(latency["query"]["counts"]) == both("usher_queries_total")
    assert sum(latency["transaction"]["counts"]) == both("usher_transactions_total")
    assert latency["query"]["sum_seconds"] == pytest.approx(both("usher_query_seconds_total"))
    # SHOW POOLS as gauges, with the held client counted.
    for col in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "sv_login"):
        assert hu.sample(s, f"usher_pool_{col}", **lab) == pools[col], col
    assert pools["cl_active"] == 1
    assert hu.sample(s, "usher_clients", state="idle", **lab) == 1
    assert hu.sample(s, "usher_paused") == 0
    assert hu.sample(s, "usher_build_info", version=p.admin("show version").rows[0][0]) == 1
    # Process metrics of this very process.
    resident = hu.sample(s, "process_resident_memory_bytes")
    assert resident > 0
    assert rss / 2 < resident < rss * 2, (resident, rss)
    assert t0 - 5 < hu.sample(s, "process_start_time_seconds") < time.time() + 5
    assert hu.sample(s, "process_open_fds") > 3
    assert hu.sample(s, "process_threads") >= 2


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="prometheus (Debian) missing")
def test_prometheus_scrapes_usher(pooler):
    """A real Prometheus scrapes /metrics with the bearer token from a
    credentials_file: the target is up and the stored sample is Usher's
    transaction count. A second job with a wrong token is down with a 401,
    which shows that the first is up because of its token."""
    p = hu.http_pooler(pooler, token=TOKEN)
    _traffic(p)
    util.wait_until(lambda: _appdb_totals(p)["xact_count"] >= 33, 10, what="stats")
    xacts = int(_appdb_totals(p)["xact_count"]) - 7  # app's; app2 ran 7

    base = util.make_service_tempdir("uit-prom-")
    prom_port = util.free_port()
    wrong = os.path.join(base, "wrong-token")
    with open(wrong, "w") as f:
        f.write("not-the-token\n")
    target = f"{util.LOOPBACK}:{p.http_port}"
    config = os.path.join(base, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: usher
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {os.path.join(p.base_dir, hu.TOKEN_FILE)}
    static_configs:
      - targets: ["{target}"]
  - job_name: usher-wrong-token
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {wrong}
    static_configs:
      - targets: ["{target}"]
""")
    log = open(os.path.join(base, "prometheus.log"), "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={base}/data",
         f"--web.listen-address={util.LOOPBACK}:{prom_port}"],
        cwd=base, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()

    def api(path):
        r = hu.get(prom_port, path)
        return r.json() if r.status == 200 else None

    try:
        def scraped():
            assert proc.poll() is None, util.read_text(f"{base}/prometheus.log")[-3000:]
            with contextlib.suppress(OSError):
                q = urllib.parse.quote(
                    'usher_transactions_total{job="usher",database="appdb",user="app"}')
                res = api(f"/api/v1/query?query={q}")
                if res and res["status"] == "success" and res["data"]["result"]:
                    return res["data"]["result"]
            return None

        result = util.wait_until(scraped, 60, interval=0.5, what="a sample in Prometheus")
        assert len(result) == 1, result
        assert float(result[0]["value"][1]) == xacts

        def targets():
            res = api("/api/v1/targets")
            got = {t["labels"]["job"]: t for t in res["data"]["activeTargets"]}
            if all(got.get(j, {}).get("health") in ("up", "down") for j in
                   ("usher", "usher-wrong-token")):
                return got
            return None

        got = util.wait_until(targets, 30, interval=0.5, what="both targets scraped")
        assert got["usher"]["health"] == "up", got["usher"]
        assert got["usher"]["lastError"] == ""
        assert got["usher"]["scrapeUrl"] == f"http://{target}/metrics"
        assert got["usher-wrong-token"]["health"] == "down", got["usher-wrong-token"]
        assert "401" in got["usher-wrong-token"]["lastError"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        util.remove_tree(base)
    assert "not-the-token" not in p.log_text()


# ------------------------------------------------------------ 4. JSON API
def test_api_pools_matches_show_pools(pooler):
    """/api/v1/pools is SHOW POOLS: the same columns in the same order and
    the same values, integers as JSON numbers."""
    p = hu.http_pooler(pooler, token=TOKEN)
    a = p.connect(autocommit=False, application_name="in-tx")
    b = p.connect(application_name="idle")
    try:
        a.execute("select 1")  # holds its server: sv_active 1
        b.execute("select 1")
        console = p.admin("show pools")
        rows = hu.get_json(p, "/api/v1/pools", token=TOKEN)
        api = [r for r in rows if r["database"] == "appdb" and r["user"] == "app"]
        assert len(api) == 1, rows
        assert list(api[0]) == console.columns
        show = [r for r in console if r["database"] == "appdb"][0]
        assert api[0] == {k: _plain(v) for k, v in show.items()}
        assert api[0]["cl_active"] == 2 and api[0]["sv_active"] == 1
        assert isinstance(api[0]["cl_active"], int)
        assert api[0]["pool_mode"] == "transaction"
        # Numerics (SHOW STATS_TOTALS) are JSON numbers too.
        totals = [r for r in p.admin("show stats_totals") if r["database"] == "appdb"][0]
        api_totals = [r for r in hu.get_json(p, "/api/v1/stats_totals", token=TOKEN)
                      if r["database"] == "appdb"]
        assert api_totals == [{k: _plain(v) for k, v in totals.items()}]
        assert api_totals[0]["xact_count"] == 1  # b's; a's transaction is still open
    finally:
        a.rollback()
        a.close()
        b.close()


def test_api_clients_lists_a_connected_client(pooler):
    """A client connected through Usher is in /api/v1/clients with the
    console's id, database, user and application_name."""
    p = hu.http_pooler(pooler, token=TOKEN)
    with p.connect(application_name="api-listed") as conn:
        conn.execute("select 1")
        console = {c["application_name"]: c for c in p.admin("show clients")}
        listed = [c for c in hu.get_json(p, "/api/v1/clients", token=TOKEN)
                  if c["application_name"] == "api-listed"]
        assert len(listed) == 1, listed
        c = listed[0]
        assert (c["database"], c["user"], c["state"]) == ("appdb", "app", "idle")
        assert c["id"] == console["api-listed"]["id"] and isinstance(c["id"], int)
        assert c["addr"] == "127.0.0.1"
        assert c["port"] == console["api-listed"]["port"]
    rows = hu.get_json(p, "/api/v1/clients", token=TOKEN)
    assert not [c for c in rows if c["application_name"] == "api-listed"]


def test_api_config_index_and_unknown(pooler):
    """/api/v1/config is SHOW CONFIG (http_public_read included) with the
    token file's name and never the token; the index lists every endpoint
    and each listed GET answers a JSON array; an unknown one is 404; the
    token is never in the log either."""
    p = hu.http_pooler(pooler, token=TOKEN)
    with p.connect() as conn:
        conn.execute("select 1")
    cfg = hu.get(p, "/api/v1/config", token=TOKEN)
    assert cfg.status == 200
    assert TOKEN not in cfg.text()
    rows = {r["key"]: r for r in cfg.json()}
    console = {r["key"]: r for r in p.admin("show config")}
    assert rows["http_public_read"] == console["http_public_read"]
    assert rows["http_public_read"]["value"] == "0"
    assert rows["http_auth_token_file"]["value"] == hu.TOKEN_FILE
    assert rows["http_listen_port"]["value"] == str(p.http_port)
    assert set(rows) == set(console)

    index = hu.get_json(p, "/api/v1", token=TOKEN)
    shows = ["pools", "clients", "servers", "stats", "stats_totals", "stats_averages",
             "totals", "databases", "users", "peers", "peer_pools", "config", "lists",
             "version", "state", "dns_hosts", "dns_zones", "prepared_statements", "cache",
             "cache_queries"]
    assert sorted(index["get"]) == sorted([f"/api/v1/{s}" for s in shows] + ["/api/v1/latency"])
    actions = ["pause", "resume", "reload", "reconnect", "kill", "disable", "enable",
               "kill_client", "cache_flush"]
    assert sorted(index["post"]) == sorted(f"/api/v1/actions/{a}" for a in actions)
    for path in index["get"]:
        r = hu.get(p, path, token=TOKEN)
        assert r.status == 200, (path, r)
        assert isinstance(r.json(), dict if path == "/api/v1/latency" else list), path
        assert TOKEN not in r.text(), path
        assert hu.get(p, path).status == 401, path  # each one a reader's
    assert {d["name"] for d in hu.get_json(p, "/api/v1/databases", token=TOKEN)} >= {
        "appdb", "benchdb", "postgres", "pgbouncer"}

    for path in ("/api/v1/nosuch", "/api/v1/", "/api/v1/pools/", "/api/v1/POOLS",
                 "/api/v1/help", "/api/v1/fds", "/api/v2/pools", "/nothing"):
        r = hu.get(p, path, token=TOKEN)
        assert r.status == 404, (path, r)
        assert r.json() == {"error": "not found"}, path
    assert TOKEN not in hu.get(p, "/metrics", token=TOKEN).text()
    assert hu.get(p, "/api/v1/pools", token="x" + TOKEN).status == 401
    assert TOKEN not in p.log_text()


def test_dashboard_is_public_and_holds_no_data(pooler):
    """The dashboard's page and files are public (they hold no data: what
    they show is fetched with a reader's rights), under a strict
    Content-Security-Policy; no other path serves a file."""
    p = hu.http_pooler(pooler, token=TOKEN)
    with p.connect() as conn:
        conn.execute("select 1")
    page = hu.get(p, "/")
    assert page.status == 200, page
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for path, kind in (("/assets/dashboard.js", "text/javascript"),
                       ("/assets/dashboard.css", "text/css"),
                       ("/assets/chart.min.js", "text/javascript")):
        r = hu.get(p, path)
        assert r.status == 200 and r.headers["content-type"].startswith(kind), (path, r)
        assert len(r.body) > 100
        assert TOKEN not in r.text() and "appdb" not in r.text(), path
    assert TOKEN not in page.text() and "appdb" not in page.text()
    assert hu.request(p, "POST", "/").status == 405
    for path in ("/index.html", "/assets/", "/assets/../assets/dashboard.js",
                 "/assets/dashboard.js.map", "/assets/DASHBOARD.JS"):
        assert hu.get(p, path).status == 404, path


def test_api_integral_numerics_are_json_integers(pooler):
    """Counts the console sends as numeric are whole numbers: JSON should
    write them as integers (33, not 3.3E1)."""
    p = hu.http_pooler(pooler, token=TOKEN)
    with p.connect() as conn:
        for _ in range(33):
            conn.execute("select 1")
    util.wait_until(lambda: _appdb_totals(p)["xact_count"] == 33, 10, what="stats")
    text = hu.get(p, "/api/v1/stats_totals", token=TOKEN).text()
    assert '"xact_count":33,' in text, text
    row = [r for r in hu.get_json(p, "/api/v1/stats_totals", token=TOKEN)
           if r["database"] == "appdb"][0]
    assert all(isinstance(v, int) for k, v in row.items() if k != "database"), row


def test_every_answer_carries_no_store_and_nosniff(pooler):
    """docs/http.md promises both headers on every answer: the live state
    must not be cached by a proxy, and no answer sniffed as HTML, refusals
    included."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_cors_origins": ORIGIN})
    missing = []
    answers = {
        "preflight": b"OPTIONS /api/v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + ORIGIN.encode()
        + b"\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
        "400": b"\x16\x03\x01\x00\x05hello",
        "413": b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n",
        "431": b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (2 * MAX_HEADER) + b"\r\n\r\n",
    }
    for name, data in answers.items():
        raw, _ = hu.raw_exchange(p.http_port, data, timeout=5)
        head = raw.split(b"\r\n\r\n", 1)[0].lower()
        assert hu.status_of(raw) is not None, (name, raw)
        if (b"cache-control: no-store" not in head
                or b"x-content-type-options: nosniff" not in head):
            missing.append(name)
    _wait_http_idle(p)
    held = [_connect_raw(p) for _ in range(MAX_CONNECTIONS)]
    try:
        util.wait_until(lambda: len(_server_sockets(p)) == MAX_CONNECTIONS, 5, what="64 held")
        busy = hu.get(p, "/health/live")
        assert busy.status == 503, busy
        if busy.headers.get("cache-control") != "no-store":
            missing.append("503")
    finally:
        for s in held:
            s.close()
    assert missing == []


# ------------------------------------------------------------ 5. auth
def test_reads_without_token_file_need_public_read(pooler):
    """No token file and http_public_read off: nothing but health can be
    read, and any bearer token sent is wrong (there is none to match)."""
    p = hu.http_pooler(pooler)
    for path in ("/metrics", "/api/v1", "/api/v1/pools"):
        r = hu.get(p, path)
        assert r.status == 401, (path, r)
        assert r.headers["www-authenticate"].startswith("Bearer"), r
        assert "http_public_read" in r.json()["error"]
    assert hu.get(p, "/metrics", token=TOKEN).status == 401
    assert hu.get(p, "/health/live").status == 200
    assert hu.get(p, "/health/ready").status == 200


def test_reads_with_token_file(pooler):
    """With a token file and http_public_read off a read needs exactly that
    token: missing, wrong, a prefix or an extension of it are 401; the
    scheme is case-insensitive. A wrong token is logged as such, never its
    value (nor the right one)."""
    p = hu.http_pooler(pooler, token=TOKEN)
    r = hu.get(p, "/metrics")
    assert r.status == 401 and r.headers["www-authenticate"].startswith("Bearer"), r
    wrong = "Wr0ng-T0ken-zzz"
    for auth in (f"Bearer {wrong}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x",
                 f"Basic {TOKEN}", "Bearer", f"Bearer{TOKEN}", TOKEN, f"Bearer x{TOKEN}"):
        r = hu.get(p, "/metrics", headers={"Authorization": auth})
        assert r.status == 401, (auth, r)
        assert r.headers["www-authenticate"].startswith("Bearer"), r
    for auth in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}"):
        r = hu.get(p, "/metrics", headers={"Authorization": auth})
        assert r.status == 200, (auth, r)
        assert "usher_build_info" in r.text()
        assert hu.get(p, "/api/v1/version", headers={"Authorization": auth}).status == 200
    # The path is quoted in that log line: escaped, so it forges nothing.
    raw, _ = hu.raw_exchange(p.http_port, b"GET /api/v1/\xc2\x85FAKE\xe2\x80\xa8LINE HTTP/1.1\r\n"
                             b"Host: 127.0.0.1\r\nAuthorization: Bearer " + wrong.encode()
                             + b"\r\nConnection: close\r\n\r\n", timeout=5)
    assert hu.status_of(raw) == 401, raw
    log = p.log_text()
    assert "wrong bearer token" in log
    assert wrong not in log and TOKEN not in log and TOKEN[:-1] not in log
    assert "/api/v1/\\xc2\\x85FAKE\\xe2\\x80\\xa8LINE from 127.0.0.1:" in log
    assert "\u0085" not in log and "\u2028" not in log


def test_public_read(pooler):
    """http_public_read = on: reads need no token, but a token that is sent
    must still be right (a wrong one never half-works), and actions still
    need it."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_public_read": "on"})
    assert hu.get(p, "/metrics").status == 200
    assert hu.get_json(p, "/api/v1/pools")
    assert hu.get(p, "/metrics", token="wrong").status == 401
    assert hu.get(p, "/metrics", token=TOKEN).status == 200
    assert _action(p, "pause", token=None, database="appdb").status == 401
    assert _db_row(p, "appdb")["paused"] == 0

    q = hu.http_pooler(pooler, extra_ini={"http_public_read": "on"})  # no token file
    assert hu.get(q, "/metrics").status == 200
    assert hu.get(q, "/metrics", token="anything").status == 401


def test_actions_without_token_file_are_forbidden(pooler):
    """Without a token file no action runs, even with reads public: 403."""
    p = hu.http_pooler(pooler, extra_ini={"http_public_read": "on"})
    r = _action(p, "pause", token=None, database="appdb")
    assert r.status == 403, r
    assert "http_auth_token_file" in r.json()["error"]
    assert _action(p, "reload", token=None).status == 403
    assert _db_row(p, "appdb")["paused"] == 0
    _assert_serving(p, token=None)


def test_pause_and_resume_actions(pooler):
    """POST pause with the token pauses the database as the console's PAUSE
    does (a client then waits for a server), resume lets it through; a
    missing or wrong token runs nothing."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"query_wait_timeout": 30})
    for token in (None, "wrong"):
        r = _action(p, "pause", token=token, database="appdb")
        assert r.status == 401, r
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert _db_row(p, "appdb")["paused"] == 0

    with p.connect() as conn:
        conn.execute("select 1")
        r = _action(p, "pause", database="appdb")
        assert r.status == 200, r
        assert r.json() == {"ok": True, "command": "PAUSE"}
        assert _db_row(p, "appdb")["paused"] == 1
        assert _db_row(p, "benchdb")["paused"] == 0
        waiter = clients.start(lambda: conn.execute("select 'after resume'").fetchone())
        util.wait_until(lambda: _pool_row(p)["cl_waiting"] == 1, 10, what="client waiting")
        assert waiter.is_alive()
        r = _action(p, "resume", database="appdb")
        assert (r.status, r.json()) == (200, {"ok": True, "command": "RESUME"}), r
        assert waiter.join_result(10) == ("after resume",)
    assert _db_row(p, "appdb")["paused"] == 0
    # The console's errors come through: not paused now.
    r = _action(p, "resume", database="appdb")
    assert r.status == 400 and r.json()["sqlstate"] == "08P01", r


def test_action_methods_and_parameters(pooler):
    """Wrong methods are 405 with Allow; an unknown action 404; a parameter
    the action does not take, a malformed or repeated one, a missing
    required one are 400; a database the console does not know is 400
    with the console's message. None of them runs anything."""
    p = hu.http_pooler(pooler, token=TOKEN)
    r = hu.get(p, "/api/v1/actions/pause?database=appdb", token=TOKEN)
    assert (r.status, r.headers.get("allow")) == (405, "POST"), r
    r = hu.post(p, "/metrics", token=TOKEN)
    assert (r.status, r.headers.get("allow")) == (405, "GET, HEAD"), r
    for method in ("PUT", "DELETE", "PATCH"):
        r = hu.request(p, method, "/api/v1/pools", headers=hu.bearer(TOKEN))
        assert (r.status, r.headers.get("allow")) == (405, "GET, HEAD"), (method, r)
    r = hu.request(p, "DELETE", "/api/v1/actions/kill", headers=hu.bearer(TOKEN))
    assert (r.status, r.headers.get("allow")) == (405, "POST"), r
    assert hu.post(p, "/health/ready").status == 405

    assert _action(p, "shutdown").status == 404
    assert _action(p, "nosuch").status == 404
    cases = {
        "/api/v1/actions/pause?database=appdb&user=app": "unknown parameter: user",
        "/api/v1/actions/pause?db=appdb": "unknown parameter: db",
        "/api/v1/actions/reload?database=appdb": "unknown parameter: database",
        "/api/v1/actions/pause?database=%zz": "malformed query string",
        "/api/v1/actions/pause?database=appdb&database=benchdb": "malformed query string",
        "/api/v1/actions/pause?database=app%00db": "malformed query string",
        "/api/v1/actions/disable": "parameter database is required",
        "/api/v1/actions/kill_client": "parameter id is required",
        "/api/v1/actions/cache_flush?table=t": "parameter table needs database",
        "/api/v1/actions/pause?database=nosuchdb": "no such database: nosuchdb",
        "/api/v1/actions/pause?database=pgbouncer": "cannot pause admin db: pgbouncer",
        "/api/v1/actions/kill_client?id=someone": "invalid client pointer supplied",
    }
    for path, message in cases.items():
        r = hu.post(p, path, token=TOKEN)
        assert r.status == 400, (path, r)
        assert r.json()["error"] == message, (path, r)
    # Parameters up to 256 bytes reach the console; longer ones do not.
    r = hu.post(p, "/api/v1/actions/pause?database=" + "a" * 256, token=TOKEN)
    assert (r.status, r.json()["error"]) == (400, "no such database: " + "a" * 256), r
    r = hu.post(p, "/api/v1/actions/pause?database=" + "a" * 257, token=TOKEN)
    assert (r.status, r.json()["error"]) == (400, "malformed query string"), r
    assert all(d["paused"] == 0 and d["disabled"] == 0 for d in p.admin("show databases"))
    assert dict(p.admin("show state").rows)["paused"] == "no"
    _assert_serving(p)


def test_kill_client_action(pooler):
    """kill_client with an id read from /api/v1/clients closes that client
    and no other; the same id again is 400 'client not found'."""
    p = hu.http_pooler(pooler, token=TOKEN)
    victim = p.connect(application_name="victim")
    bystander = p.connect(application_name="bystander")
    try:
        victim.execute("select 1")
        bystander.execute("select 1")
        listed = {c["application_name"]: c for c in hu.get_json(p, "/api/v1/clients", token=TOKEN)}
        victim_id = listed["victim"]["id"]
        assert victim_id != listed["bystander"]["id"]
        r = _action(p, "kill_client", id=victim_id)
        assert (r.status, r.json()["ok"]) == (200, True), r
        with pytest.raises(psycopg.OperationalError) as exc:
            victim.execute("select 1")
        assert "admin forced disconnect" in str(exc.value)
        assert bystander.execute("select 'still here'").fetchone() == ("still here",)
        names = {c["application_name"] for c in hu.get_json(p, "/api/v1/clients", token=TOKEN)}
        assert "victim" not in names and "bystander" in names
        r = _action(p, "kill_client", id=victim_id)
        assert (r.status, r.json()["error"]) == (400, "client not found"), r
    finally:
        victim.close()
        bystander.close()


def test_database_actions(pooler):
    """disable/enable, kill, reconnect, reload and cache_flush do what the
    console's commands do, as SHOW DATABASES and real clients see it."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"query_wait_timeout": 30})
    r = _action(p, "disable", database="appdb")
    assert (r.status, r.json()) == (200, {"ok": True, "command": "DISABLE"}), r
    assert _db_row(p, "appdb")["disabled"] == 1
    with pytest.raises(psycopg.OperationalError) as exc:
        p.connect().close()
    assert 'database "appdb" is disabled' in str(exc.value)
    assert _action(p, "enable", database="appdb").status == 200
    assert _db_row(p, "appdb")["disabled"] == 0

    victim = p.connect(application_name="kill-victim")
    other = p.connect(db="benchdb", application_name="other-db")
    try:
        victim.execute("select 1")
        backend = victim.execute("select pg_backend_pid()").fetchone()[0]
        assert _action(p, "reconnect", database="appdb").status == 200
        # RECONNECT closes the server once released: the next one is new.
        util.wait_until(lambda: victim.execute("select pg_backend_pid()").fetchone()[0]
                        != backend, 10, interval=0.2, what="a new server after RECONNECT")
        r = _action(p, "kill", database="appdb")
        assert (r.status, r.json()["command"]) == (200, "KILL"), r
        with pytest.raises(psycopg.OperationalError):
            victim.execute("select 1")
        assert other.execute("select 'other db'").fetchone() == ("other db",)
        assert _db_row(p, "appdb")["paused"] == 1  # KILL leaves it paused, as the console's
        assert _action(p, "resume", database="appdb").status == 200
    finally:
        victim.close()
        other.close()

    p.write_ini(extra_ini={"default_pool_size": 3})
    r = _action(p, "reload")
    assert (r.status, r.json()["command"]) == (200, "RELOAD"), r
    assert {c["key"]: c["value"] for c in p.admin("show config")}["default_pool_size"] == "3"
    r = _action(p, "cache_flush", database="appdb")
    assert (r.status, r.json()["ok"]) == (200, True), r
    _assert_serving(p)


def test_empty_database_parameter_is_refused(pooler):
    """?database= names no database: it must be refused, not widened to
    every database (a caller's empty variable would pause or kill all)."""
    p = hu.http_pooler(pooler, token=TOKEN)
    with p.connect(db="benchdb", application_name="bystander") as conn:
        conn.execute("select 1")
        for path in ("/api/v1/actions/pause?database=", "/api/v1/actions/kill?database",
                     "/api/v1/actions/reconnect?database="):
            r = hu.post(p, path, token=TOKEN)
            assert r.status == 400, (path, r)
        assert dict(p.admin("show state").rows)["paused"] == "no"
        assert all(d["paused"] == 0 for d in p.admin("show databases"))
        assert conn.execute("select 'not killed'").fetchone() == ("not killed",)


# ------------------------------------------------------------ 6. reload
def test_token_file_reload_and_set(pooler):
    """The token file is read again at RELOAD: the old token is refused at
    once and the new one accepted. A token file that became unusable fails
    the RELOAD, names the file and not its content, and the token in force
    stays. SET http_public_read and SET http_auth_token_file apply at once."""
    p = hu.http_pooler(pooler, token=TOKEN)
    assert hu.get(p, "/metrics", token=TOKEN).status == 200
    new = "n3w-T0ken_after.reload~"
    hu.write_token(p, new)
    assert hu.get(p, "/metrics", token=TOKEN).status == 200  # not before RELOAD
    p.admin("reload")
    assert hu.get(p, "/metrics", token=TOKEN).status == 401
    assert hu.get(p, "/metrics", token=new).status == 200
    assert _action(p, "pause", token=TOKEN, database="appdb").status == 401

    secret = "not a token: has spaces"
    hu.write_token(p, secret)
    with pytest.raises(psycopg.Error) as exc:
        p.admin("reload")
    assert secret not in str(exc.value)
    assert hu.get(p, "/metrics", token=new).status == 200
    r = _action(p, "reload", token=new)
    assert r.status == 500, r
    assert r.json()["error"] == "RELOAD failed, see logs for additional details"
    assert secret not in r.text()
    assert hu.get(p, "/metrics", token=new).status == 200
    log = p.log_text()
    assert hu.TOKEN_FILE in log and secret not in log and new not in log
    # The first line only, CR LF and trailing blanks ignored.
    with open(os.path.join(p.base_dir, hu.TOKEN_FILE), "w") as f:
        f.write(new + " \r\nsecond-line-is-not-a-token\n")
    p.admin("reload")
    assert hu.get(p, "/metrics", token=new).status == 200
    assert hu.get(p, "/metrics", token="second-line-is-not-a-token").status == 401

    assert hu.get(p, "/api/v1/pools").status == 401
    p.admin("set http_public_read = on")
    assert hu.get(p, "/api/v1/pools").status == 200
    assert {r["key"]: r["value"] for r in hu.get_json(p, "/api/v1/config")}[
        "http_public_read"] == "1"
    p.admin("set http_public_read = off")
    assert hu.get(p, "/api/v1/pools").status == 401

    other = "0ther-token-from-set"
    hu.write_token(p, other, "other-token.txt")
    p.admin("set http_auth_token_file = 'other-token.txt'")
    assert hu.get(p, "/metrics", token=new).status == 401
    assert hu.get(p, "/metrics", token=other).status == 200
    with pytest.raises(psycopg.Error):
        p.admin("set http_auth_token_file = 'no-such-token-file.txt'")
    assert hu.get(p, "/metrics", token=other).status == 200
    assert new not in p.log_text() and other not in p.log_text()
    # The port is a restart-only setting.
    with pytest.raises(psycopg.Error):
        p.admin(f"set http_listen_port = {util.free_port()}")
    assert "cannot change http_listen_port online" in p.log_text()
    assert hu.get(p, "/metrics", token=other).status == 200


# ------------------------------------------------------------ 7. CORS
def test_cors_listed_unlisted_and_lookalike_origins(pooler):
    """Only an exactly listed origin gets Access-Control-Allow-Origin (its
    own, with Vary: Origin); an unlisted one, or one that differs by a
    suffix, a prefix, the scheme or the port, gets no Access-Control-*
    header at all. No credentials header unless allowed."""
    other = "http://localhost:3000"
    p = hu.http_pooler(pooler, token=TOKEN,
                       extra_ini={"http_cors_origins": f"{ORIGIN}, {other}"})
    for path, token in (("/api/v1/pools", TOKEN), ("/health/live", None), ("/metrics", None)):
        r = hu.get(p, path, token=token, headers={"Origin": ORIGIN})
        assert r.headers["access-control-allow-origin"] == ORIGIN, (path, r)
        assert r.headers["vary"] == "Origin"
        assert r.cors_headers() == {"access-control-allow-origin": ORIGIN}, r
    r = hu.get(p, "/health/live", headers={"Origin": other})
    assert r.cors_headers() == {"access-control-allow-origin": other}
    for origin in ("https://evil.example.net", "https://app.example.com.evil.net",
                   "http://app.example.com", "https://app.example.co",
                   "https://xapp.example.com", "https://app.example.com:8443",
                   "https://app.example.com/", "null", f"{ORIGIN} {other}",
                   "http://localhost:30001", "http://localhost"):
        r = hu.get(p, "/api/v1/pools", token=TOKEN, headers={"Origin": origin})
        assert r.status == 200
        assert r.cors_headers() == {}, (origin, r)
        assert "vary" not in r.headers, (origin, r)
    r = hu.get(p, "/api/v1/pools", token=TOKEN)  # same-origin: no Origin header
    assert r.cors_headers() == {}

    q = hu.http_pooler(pooler, token=TOKEN, extra_ini={
        "http_cors_origins": ORIGIN, "http_cors_allow_credentials": "on"})
    r = hu.get(q, "/api/v1/pools", token=TOKEN, headers={"Origin": ORIGIN})
    assert r.cors_headers() == {"access-control-allow-origin": ORIGIN,
                                "access-control-allow-credentials": "true"}, r
    r = hu.get(q, "/api/v1/pools", token=TOKEN, headers={"Origin": "https://evil.example.net"})
    assert r.cors_headers() == {}


def test_cors_any_origin(pooler):
    """http_cors_origins = *: every origin gets '*', never credentials nor
    Vary (the answer does not depend on the origin)."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_cors_origins": "*"})
    for origin in (ORIGIN, "https://evil.example.net", "null"):
        r = hu.get(p, "/api/v1/pools", token=TOKEN, headers={"Origin": origin})
        assert r.cors_headers() == {"access-control-allow-origin": "*"}, (origin, r)
    assert hu.get(p, "/api/v1/pools", token=TOKEN).cors_headers() == {}
    # Credentials can be switched on neither at run time...
    with pytest.raises(psycopg.Error) as exc:
        p.admin("set http_cors_allow_credentials = on")
    assert str(exc.value) == "SET failed"  # PgBouncer's words; the log says why
    assert ("SET http_cors_allow_credentials failed: http_cors_origins = * cannot go with "
            "http_cors_allow_credentials = on") in p.log_text()
    assert {r["key"]: r["value"] for r in p.admin("show config")}[
        "http_cors_allow_credentials"] == "0"
    r = hu.get(p, "/api/v1/pools", token=TOKEN, headers={"Origin": ORIGIN})
    assert r.cors_headers() == {"access-control-allow-origin": "*"}


@pytest.mark.parametrize("ini, words", [
    ({"http_cors_origins": "*", "http_cors_allow_credentials": "on"},
     "http_cors_origins = * cannot go with http_cors_allow_credentials = on"),
    ({"http_cors_origins": "app.example.com"}, "http_cors_origins"),
    ({"http_cors_origins": "null"}, "http_cors_origins"),
], ids=["star-with-credentials", "no-scheme", "null"])
def test_cors_bad_config_fails_to_start(pooler, ini, words):
    """...nor at start: '*' with credentials (the Fetch standard refuses the
    pair; answering the caller's origin instead would hand every site the
    user's access), and origins a browser never sends, fail the load."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini=ini, start=False)
    p.start(wait=False)
    assert p.wait_exit(10) not in (None, 0)
    assert words in p.output_text()
    assert not util.port_open(p.http_port)


def test_cors_preflight(pooler):
    """A preflight (OPTIONS with Origin and Access-Control-Request-Method)
    is answered 204 without a token; the CORS headers only for a listed
    origin asking for an allowed method and headers."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_cors_origins": ORIGIN})

    def preflight(origin, method, req_headers=None, path="/api/v1/pools"):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if req_headers:
            h["Access-Control-Request-Headers"] = req_headers
        return hu.request(p, "OPTIONS", path, headers=h)

    full = {"access-control-allow-origin": ORIGIN,
            "access-control-allow-methods": "GET, HEAD, POST",
            "access-control-allow-headers": "Authorization, Content-Type",
            "access-control-max-age": "600"}
    for method, req_headers, path in (("GET", "authorization", "/api/v1/pools"),
                                      ("POST", "Authorization, content-type",
                                       "/api/v1/actions/pause"),
                                      ("HEAD", None, "/metrics")):
        r = preflight(ORIGIN, method, req_headers, path)
        assert r.status == 204, r
        assert r.body == b""
        assert r.cors_headers() == full, (method, r)
        assert r.headers["vary"] == "Origin"
    for origin, method, req_headers in (
            ("https://evil.example.net", "GET", "authorization"),
            ("https://app.example.com.evil.net", "GET", None),
            (ORIGIN, "PUT", None), (ORIGIN, "DELETE", "authorization"),
            (ORIGIN, "GET", "authorization, x-custom"), (ORIGIN, "GET, PUT", None)):
        r = preflight(origin, method, req_headers)
        assert r.status == 204, r
        assert r.cors_headers() == {}, (origin, method, req_headers, r)
    # A preflight ran nothing: the pause it announced was not sent.
    assert _db_row(p, "appdb")["paused"] == 0


def test_preflight_answer_has_no_content_length(pooler):
    """A 204 must not carry Content-Length (RFC 9110, 8.6)."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_cors_origins": ORIGIN})
    raw, _ = hu.raw_exchange(
        p.http_port, b"OPTIONS /api/v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + ORIGIN.encode()
        + b"\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n", timeout=5)
    assert hu.status_of(raw) == 204, raw
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"access-control-allow-origin" in head
    assert b"content-length" not in head, raw


# ------------------------------------------------------------ 8. hostile clients
def _hostile_pooler(pooler):
    return hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_public_read": "on"})


def test_oversized_header_is_431(pooler):
    """A 20 KiB header is refused with 431 and the connection closed; one
    just under 8 KiB is served."""
    p = _hostile_pooler(pooler)
    fits = b"GET /health/live HTTP/1.1\r\nConnection: close\r\nX-Pad: "
    fits += b"f" * (MAX_HEADER - len(fits) - 4) + b"\r\n\r\n"
    raw, _ = hu.raw_exchange(p.http_port, fits)
    assert hu.status_of(raw) == 200, raw[:300]
    raw, closed = hu.raw_exchange(
        p.http_port, b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        + b"a" * (20 * 1024) + b"\r\n\r\n")
    assert hu.status_of(raw) == 431, raw[:300]
    assert closed
    # Many small headers over the limit in all, too.
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(200))
    raw, closed = hu.raw_exchange(p.http_port, b"GET /metrics HTTP/1.1\r\n" + many + b"\r\n")
    assert hu.status_of(raw) == 431, raw[:300]
    _assert_serving(p)


def test_oversized_body_is_refused(pooler):
    """A 100 KiB body is refused (413, or the connection closed) and its
    request not run; one that only announces 100 KiB is refused at once."""
    p = _hostile_pooler(pooler)
    raw, closed = hu.raw_exchange(
        p.http_port, b"POST /api/v1/actions/pause?database=appdb HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {100 * 1024}\r\n\r\n".encode()
        + b"x" * (100 * 1024))
    assert hu.status_of(raw) in (413, None), raw[:300]
    assert closed
    raw, closed = hu.raw_exchange(
        p.http_port, b"POST /api/v1/actions/pause?database=appdb HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {100 * 1024}\r\n\r\n".encode(),
        timeout=5)
    assert hu.status_of(raw) == 413, raw[:300]
    assert closed
    chunk = b"%x\r\n%s\r\n" % (8192, b"y" * 8192)
    raw, closed = hu.raw_exchange(
        p.http_port, b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk * 12 + b"0\r\n\r\n")
    assert hu.status_of(raw) in (413, None), raw[:300]
    assert _db_row(p, "appdb")["paused"] == 0
    # A body up to 4 KiB is tolerated (no route reads one); a byte more is not.
    r = hu.request(p, "GET", "/health/live", body=b"z" * 4096)
    assert r.status == 200
    raw, closed = hu.raw_exchange(
        p.http_port, b"GET /health/live HTTP/1.1\r\nContent-Length: 4097\r\n\r\n" + b"z" * 4097)
    assert hu.status_of(raw) == 413 and closed, raw[:300]
    _assert_serving(p)


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(256)),  # a TLS hello
    b"\x00\x00\x00\x08\x04\xd2\x16\x2f",  # a PostgreSQL SSLRequest
    bytes((i * 131 + 7) % 256 for i in range(4000)),
    b"GET /health/live HTTP/9.9\r\n\r\n",
    b"GET\r\n\r\n",
    b"GE T /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /health/live HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET /health/live HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"GET /health/live HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
], ids=["tls", "sslrequest", "bytes", "version", "no-target", "bad-method", "bad-header",
        "negative-length", "two-lengths"])
def test_garbage_is_400_or_closed(pooler, garbage):
    """Bytes that are not HTTP get a 400 or a close, quickly (not only at
    the request deadline), and nothing else is disturbed."""
    p = _hostile_pooler(pooler)
    t0 = time.monotonic()
    raw, closed = hu.raw_exchange(p.http_port, garbage, timeout=REQUEST_TIMEOUT + 5)
    assert closed
    assert hu.status_of(raw) in (400, None), raw[:300]
    if raw:
        assert raw.count(b"HTTP/1.") == 1
    assert time.monotonic() - t0 < REQUEST_TIMEOUT / 2, "closed only at the request deadline"
    _assert_serving(p)


def test_connection_limit(pooler):
    """64 idle connections are all served when they finally ask; the 65th
    gets a 503 and is closed; PostgreSQL clients are not affected; once
    the 64 leave a fresh connection is served again."""
    p = _hostile_pooler(pooler)
    _wait_http_idle(p)
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(_connect_raw(p))
        util.wait_until(lambda: len(_server_sockets(p)) == MAX_CONNECTIONS, 5,
                        what="64 connections accepted")
        extra = [_connect_raw(p) for _ in range(3)]
        for s in extra:
            raw, closed = hu.read_to_close(s, timeout=5)
            assert hu.status_of(raw) == 503, raw
            assert closed
            s.close()
        # A real client that sends its request at once reads the 503 too.
        r = hu.get(p, "/health/live")
        assert (r.status, r.headers.get("connection")) == (503, "close"), r
        with p.connect() as conn:
            assert conn.execute("select 'pg unaffected'").fetchone() == ("pg unaffected",)
        # Every one of the 64 is a real connection: each is answered.
        for s in held:
            assert _request_on(s, "/health/live") == (200, b'{"status":"live"}\n')
        assert _request_on(held[0], "/api/v1/version")[0] == 200
    finally:
        for s in held:
            s.close()
    util.wait_until(lambda: hu.get(p, "/health/live").status == 200, 10,
                    what="served again after the 64 left")
    _assert_serving(p)


@pytest.mark.slow
def test_slowloris_is_closed_at_the_request_deadline(pooler):
    """A client that sends its header one byte a second is closed about 10 s
    after it connected (the request deadline), with no answer; so is a
    kept-alive connection left idle after one answer. Meanwhile the other
    HTTP clients and a PostgreSQL client are served."""
    p = _hostile_pooler(pooler)
    request = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 40
    idle = _connect_raw(p)
    assert _request_on(idle, "/health/live")[0] == 200
    idle_t0 = time.monotonic()
    s = _connect_raw(p)
    t0 = time.monotonic()
    closed_at = {}
    got = {s: b"", idle: b""}
    served = 0

    def note_closed(sock):
        closed_at.setdefault(sock, time.monotonic())

    with p.connect() as conn:
        try:
            for i, byte in enumerate(request):
                if len(closed_at) == 2 or time.monotonic() - t0 > REQUEST_TIMEOUT + 8:
                    break
                if s not in closed_at:
                    try:
                        s.send(bytes([byte]))
                    except (BrokenPipeError, ConnectionResetError):
                        note_closed(s)
                step_end = time.monotonic() + 1.0
                while time.monotonic() < step_end:
                    open_ = [x for x in (s, idle) if x not in closed_at]
                    if not open_:
                        break
                    readable, _, _ = select.select(open_, [], [], step_end - time.monotonic())
                    for x in readable:
                        try:
                            chunk = x.recv(4096)
                        except ConnectionResetError:
                            chunk = b""
                        got[x] += chunk
                        if not chunk:
                            note_closed(x)
                if i % 3 == 0:
                    assert hu.get(p, "/health/live").status == 200
                    assert conn.execute("select %s::int", (i,)).fetchone() == (i,)
                    served += 1
        finally:
            s.close()
            idle.close()
    assert s in closed_at, "slow client still open after 18 s"
    assert idle in closed_at, "idle kept-alive connection still open after 18 s"
    slow_elapsed = closed_at[s] - t0
    idle_elapsed = closed_at[idle] - idle_t0
    assert REQUEST_TIMEOUT - 1 <= slow_elapsed <= REQUEST_TIMEOUT + 5, slow_elapsed
    assert REQUEST_TIMEOUT - 1 <= idle_elapsed <= REQUEST_TIMEOUT + 5, idle_elapsed
    assert got == {s: b"", idle: b""}, got
    assert served >= 3
    _assert_serving(p)

def test_client_that_never_reads(pooler):
    """A client that pipelines many requests for a large answer and never
    reads stalls only itself: Usher's socket to it is full (its answers are
    queued), and others are served meanwhile; Usher's memory stays bounded
    (it reads one request at a time)."""
    p = _hostile_pooler(pooler)
    size = len(hu.get(p, "/api/v1/config").body)
    assert size > 4000
    rss0 = hu.rss_bytes(p.pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((util.LOOPBACK, p.http_port))
    local_port = s.getsockname()[1]
    try:
        n = 2000  # 2000 answers of ~9 KB: far more than any socket buffer
        s.sendall(b"GET /api/v1/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * n)

        def stuck():
            state = _server_sockets(p).get(local_port)
            return state if state and state[1] > 64 * 1024 else None

        state = util.wait_until(stuck, 10, what="Usher's socket to the reader full")
        assert state[0] == "01"
        for _ in range(3):
            assert hu.get(p, "/health/live").status == 200
            assert "usher_build_info" in hu.get(p, "/metrics").text()
            assert hu.get_json(p, "/api/v1/pools")
            with p.connect() as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        # Still stuck: Usher did not drop the requests nor answer them all.
        assert _server_sockets(p)[local_port][1] > 0
        # Generous, as in test_isolation.py: the CI's Usher is an ASan build
        # whose allocator keeps freed memory in quarantine (35 MiB of growth
        # seen there). What is bounded is "not proportional to the 2000
        # answers asked for" (18 MB), which the queued socket shows too.
        assert hu.rss_bytes(p.pid) - rss0 < 48 * 1024 * 1024
        # It reads only what it answers: the rest of the pipeline waits in
        # the kernel, not in Usher.
        got = s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200 OK"), got[:200]
    finally:
        s.close()
    _assert_serving(p)


def test_dot_dot_and_nul_paths_are_404(pooler):
    """Paths are routes, never files: '..', encoded dots, NUL and the like
    are 404 (or 400 where the request line itself is not HTTP)."""
    p = _hostile_pooler(pooler)
    paths = ["/../../../../etc/passwd", "/health/../../etc/passwd", "/api/v1/../../etc/passwd",
             "/api/v1/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
             "/metrics/../etc/passwd", "/metrics%00", "/api/v1/pools%00",
             "/api/v1/pools%00.json", "/health/live/..", "/health/live%00", "/api/v1/config/..",
             "/api/v1/./pools", "/etc/passwd", "/proc/self/environ", "//etc/passwd",
             "/api/v1/%2e%2e/pools", "/api/v1/pools/../config"]
    for path in paths:
        raw, _ = hu.raw_exchange(
            p.http_port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            .encode(), timeout=5)
        assert hu.status_of(raw) == 404, (path, raw[:300])
        assert b"root:" not in raw and b"PATH=" not in raw, path
        assert raw.endswith(b'{"error":"not found"}\n'), (path, raw[-200:])
    raw, _ = hu.raw_exchange(p.http_port, b"GET /api/v1/pools\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                             timeout=5)
    assert hu.status_of(raw) in (400, 404, None), raw[:300]
    assert b"root:" not in raw
    r = hu.request(p, "POST", "/api/v1/actions/../pause?database=appdb", headers=hu.bearer(TOKEN))
    assert r.status == 404
    assert _db_row(p, "appdb")["paused"] == 0
    _assert_serving(p)


# ------------------------------------------------------------ 9. memory
def test_memory_bounded_under_partial_headers(pooler):
    """64 connections each holding an 8 KiB header that never ends (just
    under the limit, so none is refused) cost Usher less than 16 MiB,
    three rounds in a row; a 65th connection is still refused with 503."""
    p = _hostile_pooler(pooler)
    _assert_serving(p)
    rss0 = hu.rss_bytes(p.pid)
    partial = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"p" * (MAX_HEADER - 200)
    peak = rss0
    for _round in range(3):
        _wait_http_idle(p)
        held = []
        try:
            for _ in range(MAX_CONNECTIONS):
                s = _connect_raw(p)
                s.sendall(partial)
                held.append(s)

            def all_read():
                socks = _server_sockets(p)
                return (len(socks) == MAX_CONNECTIONS
                        and all(rx == 0 for _, _, rx in socks.values()))

            util.wait_until(all_read, 5, what="Usher read every partial header")
            peak = max(peak, hu.rss_bytes(p.pid))
            raw, closed = hu.raw_exchange(p.http_port, b"GET /health/live HTTP/1.1\r\n\r\n",
                                          timeout=5)
            assert hu.status_of(raw) == 503 and closed, raw
        finally:
            for s in held:
                s.close()
    growth = peak - rss0
    assert growth < 16 * 1024 * 1024, f"RSS grew by {growth} bytes"
    util.wait_until(lambda: hu.get(p, "/health/live").status == 200, 10, what="served again")
    _assert_serving(p)


def test_anonymous_readiness_says_only_the_status(pooler):
    """The reasons name databases and quote server errors: a probe without
    the token (kubelet) gets the status alone."""
    p = hu.http_pooler(pooler, token=TOKEN)
    assert p.admin("pause").rows == []
    try:
        anonymous = hu.get(p, "/health/ready")
        assert (anonymous.status, anonymous.json()) == (503, {"status": "not ready"})
        reader = hu.get(p, "/health/ready", token=TOKEN)
        assert reader.json() == {"status": "not ready", "reasons": ["paused"]}
    finally:
        p.admin("resume")


def test_public_reads_refuse_a_rebound_host_name(pooler):
    """DNS rebinding: a page of evil.example whose name now points at
    127.0.0.1 is "same origin" to the browser; only Host tells. Public
    reads answer an address or localhost, and a request with the token any
    name (a scrape by DNS name)."""
    p = hu.http_pooler(pooler, token=TOKEN, extra_ini={"http_public_read": "on"})

    def status(host, token=None):
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        raw, _ = hu.raw_exchange(p.http_port, (f"GET /api/v1/config HTTP/1.1\r\nHost: {host}\r\n"
                                               f"{auth}Connection: close\r\n\r\n").encode(),
                                 timeout=5)
        return hu.status_of(raw)

    assert status("evil.example") == 421
    assert status(f"evil.example:{p.http_port}") == 421
    assert status("") == 421
    assert status("evil.example", token=TOKEN) == 200
    assert status(f"127.0.0.1:{p.http_port}") == 200
    assert status(f"localhost:{p.http_port}") == 200
    assert status(f"[::1]:{p.http_port}") == 200
    # The page itself holds no data and loads under any name; the probes
    # answer too (without reasons).
    raw, _ = hu.raw_exchange(p.http_port, b"GET /health/live HTTP/1.1\r\nHost: evil.example\r\n"
                             b"Connection: close\r\n\r\n", timeout=5)
    assert hu.status_of(raw) == 200
