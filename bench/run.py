#!/usr/bin/python3
"""Side-by-side benchmark: PostgreSQL direct, PgBouncer and Usher.

Starts a throw-away PostgreSQL 15, PgBouncer and Usher (same pgbouncer.ini
settings, transaction mode), runs pgbench -S against each target interleaved
(A B C A B C ...) for several rounds and reports medians: TPS, the pooler's CPU
time per transaction, latency percentiles from pgbench's per-transaction log.
Then measures the poolers' memory per idle client connection. With
--baseline-usher-bin, a second Usher binary (target usher-base) is measured
in the same rounds, next to usher: an A/B of two builds. With --cache, only
the query cache scenarios run (cache_bench.py): a second Usher with
query_cache = on (target usher-cache) against the others. With
--http-scrape S, usher serves its HTTP endpoint and /metrics is fetched
every S seconds during each run against it. With --tls, the
pgbench -S scenarios run with TLS on both legs: pgbench to each target with
sslmode=require, both poolers to PostgreSQL with server_tls_sslmode = require
(PostgreSQL at ssl = on, certificates made with openssl for the run).

Standard library only; run with /usr/bin/python3 (as root: PostgreSQL and
PgBouncer are run as the `postgres` account). See bench/README.md; the parts:
fixtures.py (PostgreSQL and the poolers, on tests/integration/harness/),
scenarios.py, pgbench.py and idle.py (what is measured), report.py (tables).
"""

import argparse
import math
import os
import resource
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cache_bench  # noqa: E402  (bench/cache_bench.py, and so on)
import cache_report  # noqa: E402
import report  # noqa: E402
from fixtures import BASELINE, CACHED, REPO_ROOT, log  # noqa: E402
from scenarios import PROTOCOLS, TARGETS, Bench  # noqa: E402

NOFILE = 65536
# --cache: its own defaults (a full run in about 8 minutes on 2 cores).
CACHE_TARGETS = TARGETS + (CACHED,)
CACHE_CLIENTS, CACHE_SECONDS = "8,50", 4


# ----------------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Examples: see bench/README.md.")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per scenario (default 3)")
    ap.add_argument("--seconds", type=int, default=None,
                    help="benchmark seconds per run, pgbench -T (default 10)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: defaults become 1 round of 3 s and a 2 s warm-up")
    ap.add_argument("--scenarios", default=None,
                    help="comma list of scenarios: simple-50, extended-500, ..., a protocol "
                         "name (simple, extended, prepared) for all its client counts, "
                         "and idle-memory (alias idle); default all")
    ap.add_argument("--clients", default=None,
                    help="comma list of pgbench client counts (default 50,500; 8,50 with --cache)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="pgbench -j (default: number of cores)")
    ap.add_argument("--pool-size", type=int, default=20, help="default_pool_size for both poolers (default 20)")
    ap.add_argument("--workers", type=int, default=0,
                    help="Usher's workers setting (default 0: Usher's own default, "
                         "half the cores)")
    ap.add_argument("--usher-bin", default=os.path.join(REPO_ROOT, "build", "usher"),
                    help="Usher binary, copied into the work dir at start (default build/usher)")
    ap.add_argument("--baseline-usher-bin", metavar="PATH",
                    help=f"a second Usher binary, measured as target {BASELINE} right after "
                         "usher in every round and in idle-memory (an A/B of two builds)")
    ap.add_argument("--targets", default=None,
                    help="comma list of targets (default direct,pgbouncer,usher; "
                         f"{BASELINE} is added after usher by --baseline-usher-bin)")
    ap.add_argument("--scale", type=int, default=1, help="pgbench -i scale (default 1)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds of warm-up per target before the scenarios (default 3; 2 "
                         "with --quick)")
    ap.add_argument("--server-transport", choices=("tcp", "unix"), default="tcp",
                    help="how both poolers reach PostgreSQL (default tcp, 127.0.0.1)")
    ap.add_argument("--userlist-secret", choices=("scram", "plain"), default="scram",
                    help="userlist.txt holds the SCRAM secret from pg_authid (default), or "
                         "the plain-text password")
    ap.add_argument("--idle-clients", type=int, default=10000,
                    help="connections for the idle-memory scenario (default 10000)")
    ap.add_argument("--idle-concurrency", type=int, default=64,
                    help="handshakes in flight while opening idle connections (default 64)")
    ap.add_argument("--cache", action="store_true",
                    help="run the query cache scenarios only, with target usher-cache (a second "
                         "Usher, query_cache = on); defaults become 3 rounds of 4 s at 8 and 50 "
                         "clients, targets direct,pgbouncer,usher,usher-cache")
    ap.add_argument("--cache-entries", type=int, default=100000,
                    help="--cache: distinct entries filled for memory per entry (default 100000)")
    ap.add_argument("--cache-samples", type=int, default=200,
                    help="--cache: invalidation delay samples with the writer at "
                         "synchronous_commit = on (default 200; at off, at most 50)")
    ap.add_argument("--cache-cap", type=float, default=5.0,
                    help="--cache: seconds a delay sample waits for the fresh value (default 5)")
    ap.add_argument("--tls", action="store_true",
                    help="TLS on both legs (client and server side); pgbench -S scenarios only")
    ap.add_argument("--http-scrape", type=float, default=0, metavar="SECONDS",
                    help="turn on the HTTP endpoint of usher (and usher-cache; not usher-base) "
                         "on a free loopback port with http_public_read = on, and GET its "
                         "/metrics every SECONDS seconds during each pgbench run against it "
                         "(default 0: no endpoint)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    ap.add_argument("--json", metavar="FILE", help="write every run's raw numbers to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    a = ap.parse_args(argv)
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    if a.seconds is None:
        a.seconds = 3 if a.quick else (CACHE_SECONDS if a.cache else 10)
    if a.clients is None:
        a.clients = CACHE_CLIENTS if a.cache else "50,500"
    if a.cache and a.targets is None:
        a.targets = ",".join(CACHE_TARGETS)
    elif a.targets is None:
        a.targets = ",".join(TARGETS)
    if a.warmup is None:
        a.warmup = 2.0 if a.quick else 3.0
    a.warmup = int(math.ceil(a.warmup))
    a.clients = [int(x) for x in a.clients.split(",") if x.strip()]
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    known = TARGETS + ((BASELINE,) if a.baseline_usher_bin else ()) + ((CACHED,) if a.cache else ())
    bad = [t for t in a.targets if t not in known]
    if bad:
        ap.error(f"unknown targets {bad}; choose from {', '.join(known)}"
                 + ("" if a.baseline_usher_bin else f" ({BASELINE} needs --baseline-usher-bin)"))
    if a.baseline_usher_bin and BASELINE not in a.targets:
        at = a.targets.index("usher") + 1 if "usher" in a.targets else len(a.targets)
        a.targets.insert(at, BASELINE)
    a.run_idle = True
    a.run_many = True
    if a.cache:
        if a.baseline_usher_bin or a.scenarios is not None:
            ap.error("--cache runs its own scenarios, without --baseline-usher-bin")
        if CACHED not in a.targets:
            ap.error(f"--cache needs target {CACHED}")
        if a.cache_entries < 1 or a.cache_samples < 1 or a.cache_cap <= 0:
            ap.error("--cache-entries, --cache-samples and --cache-cap must be positive")
        a.run_idle = a.run_many = False
        a.scenarios = set()  # none of the pgbench -S scenarios
    elif a.scenarios is not None:
        names = {s.strip() for s in a.scenarios.split(",") if s.strip()}
        a.run_idle = bool(names & {"idle", "idle-memory"})
        a.run_many = "many-statements" in names
        names -= {"idle", "idle-memory", "many-statements"}
        known = set(PROTOCOLS) | {f"{p}-{c}" for p in PROTOCOLS for c in a.clients}
        if names - known:
            ap.error(f"unknown scenarios {sorted(names - known)}; known: "
                     f"{', '.join(sorted(known))}, idle-memory, many-statements")
        a.scenarios = names
    if a.tls:
        if a.cache:
            ap.error("--tls and --cache are separate runs")
        a.run_idle = a.run_many = False
    if not a.run_idle:
        a.idle_clients = 0
    if a.http_scrape < 0 or (a.http_scrape and a.http_scrape < 0.05):
        ap.error("--http-scrape must be 0 (off) or at least 0.05 seconds")
    if a.rounds < 1 or a.seconds < 1 or not a.clients:
        ap.error("--rounds, --seconds and --clients must be positive")
    if ("usher" in a.targets or CACHED in a.targets) and not os.access(a.usher_bin, os.X_OK):
        ap.error(f"Usher binary {a.usher_bin} is not executable (--usher-bin)")
    if a.baseline_usher_bin and not os.access(a.baseline_usher_bin, os.X_OK):
        ap.error(f"Usher binary {a.baseline_usher_bin} is not executable (--baseline-usher-bin)")
    return a


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    # Inherited by PostgreSQL, both poolers, pgbench and the idle clients here.
    nofile = raise_nofile()
    if nofile < a.idle_clients + 1000:
        log(f"warning: RLIMIT_NOFILE is {nofile}, too low for {a.idle_clients} idle clients")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    bench = Bench(a)
    rc = 0
    try:
        bench.setup()
        bench.warmup(a.clients if a.cache else None)
        if a.cache:
            cache_bench.CacheScenarios(bench).run()
        for name, proto, clients in bench.scenarios():
            log(f"scenario {name}")
            bench.run_scenario(name, proto, clients)
        if a.run_many and ("usher" in a.targets or BASELINE in a.targets):
            log("scenario many-statements")
            bench.many_statements()
        if a.run_idle and a.idle_clients > 0:
            log("scenario idle-memory")
            bench.idle_memory()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        rc = 130
    except Exception as e:
        log(f"error: {type(e).__name__}: {e}")
        rc = 1
    finally:
        try:
            bench.cleanup()
        except KeyboardInterrupt:
            log("interrupted again during cleanup; some processes may remain")
    out = (cache_report if a.cache and bench.cache_results else
           report if bench.results or bench.idle_results or bench.many_results else None)
    if out is not None:
        text = out.render(bench)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(text)
        if a.json:
            out.write_json(a.json, bench)
        try:
            print(text, flush=True)
        except BrokenPipeError:
            pass
    return rc


if __name__ == "__main__":
    sys.exit(main())
