"""The --cache scenarios: Usher's query result cache against PostgreSQL
direct, PgBouncer and Usher with the cache off (docs/benchmarks.md, "Query
cache").

- reads, `pgbench -n -M simple` at each --clients count, every target in
  turn for --rounds rounds: `select` is pgbench's -S (100,000 distinct keys
  at scale 1), `hot` a script reading 1,000 accounts. Before each cache-on
  run the cache is flushed, so that every round starts alike: `select` runs
  from cold (a run is mostly the cache filling), `hot` after a read of each
  of its 1,000 accounts (every read of the run is a hit). SHOW CACHE's hits
  and misses over the run are kept with it;
- memory per entry and invalidation delay (cache_probe.py);
- writes: pgbench's TPC-B-like script, cache off against cache on.

Results go to bench.cache_results; cache_report.py renders them.
"""

import os
import time

import cache_probe
import pgbench
from fixtures import CACHED, log, util

READS = ("select", "hot")
WRITES = ("tpcb",)
HOT_ROWS = 1000
WRITE_TARGETS = ("usher", CACHED)
PAUSE_S = 0.5  # between two runs, as in scenarios.py
# The invalidation delay's writer: PostgreSQL's default, then the benchmark
# server's setting (off: the WAL reaches the stream at the WAL writer's
# next flush, every wal_writer_delay = 200 ms).
SYNCHRONOUS_COMMIT = ("on", "off")
# At off every sample waits for the WAL writer (about 200 ms): fewer of
# them keep the run short, and they hardly differ.
OFF_SAMPLES = 50


def hot_script(base):
    """The hot-set pgbench script: one of HOT_ROWS accounts at random."""
    d = os.path.join(base, "pgbench", "cache")
    os.makedirs(d, exist_ok=True)
    util.chown_service(d)
    path = os.path.join(d, "hot.sql")
    with open(path, "w") as f:
        f.write(f"\\set aid random(1, {HOT_ROWS})\n"
                "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n")
    return path


def workload_scripts(workload, hot_path):
    """pgbench.command's scripts for a workload (None: -S; []: TPC-B)."""
    return {"select": None, "hot": ["-f", hot_path], "tpcb": []}[workload]


def describe(workload, clients, jobs):
    j = min(jobs, clients)
    return {"select": f"pgbench -n -S -M simple -c {clients} -j {j}",
            "hot": f"pgbench -n -M simple -f hot.sql -c {clients} -j {j} "
                   f"(aid random(1, {HOT_ROWS}))",
            "tpcb": f"pgbench -n -M simple -c {clients} -j {j} (built-in TPC-B-like)"}[workload]


def log_run(name, rnd, t, r):
    if r["error"]:
        log(f"{name} round {rnd} {t}: FAILED: {r['error']}")
        return
    cpu = f"{r['cpu_us_per_txn']:.1f} us/txn" if r["cpu_us_per_txn"] is not None else ""
    lat = (f"p50 {r['p50'] * 1e3:.0f} p99 {r['p99'] * 1e3:.0f} us"
           if r["p50"] is not None else "")
    c = r.get("cache")
    hits = (f" hits {c['hits']} misses {c['misses']} ({c['hit_ratio']:.2f})"
            if c and c.get("hit_ratio") is not None else "")
    log(f"{name} round {rnd} {t}: {r['tps']:.0f} tps {cpu} {lat}{hits} failed {r['failed']}")


class CacheScenarios:
    def __init__(self, bench):
        self.bench = bench
        self.a = bench.args
        self.hot_path = None
        self.results = bench.cache_results = {"reads": [], "writes": [], "delay": None,
                                              "memory": None}

    def run(self):
        self.hot_path = hot_script(self.bench.base)
        self.ready(CACHED)
        for workload in READS:
            for c in self.a.clients:
                self.scenario(workload, c, list(self.a.targets), self.results["reads"])
        log("cache: memory per entry")
        self.results["memory"] = cache_probe.memory_per_entry(self.bench, CACHED,
                                                              self.a.cache_entries)
        log("cache: invalidation delay")
        self.results["delay"] = self.delay()
        for c in self.a.clients:
            targets = [t for t in self.a.targets if t in WRITE_TARGETS]
            self.scenario("tpcb", c, targets, self.results["writes"])

    def ready(self, target):
        """None once target is up and, for the cache-on Usher, its stream is
        live; else why not."""
        why = self.bench.ensure_alive(target)
        if why or target != CACHED:
            return why
        try:
            cache_probe.wait_live(self.bench.poolers[target].port)
            return None
        except Exception as e:
            return f"{type(e).__name__}: {e}"

    def delay(self):
        """Invalidation delay with each synchronous_commit of the writer."""
        out = []
        try:
            cache_probe.make_probe_table(self.bench.pg)
        except Exception as e:
            return [{"error": f"{type(e).__name__}: {e}"}]
        for sc in SYNCHRONOUS_COMMIT:
            why = self.ready(CACHED)
            if why:
                out.append({"synchronous_commit": sc, "error": why})
                continue
            try:
                r = cache_probe.invalidation_delay(self.bench.pg,
                                                   self.bench.poolers[CACHED].port,
                                                   self.samples(sc), self.a.cache_cap, sc)
            except Exception as e:
                out.append({"synchronous_commit": sc, "error": f"{type(e).__name__}: {e}"})
                continue
            log(f"invalidation delay (writer synchronous_commit={sc}): p50 {r['p50_ms']:.2f} "
                f"p99 {r['p99_ms']:.2f} max {r['max_ms']:.2f} ms, {r['with_stale']}/"
                f"{r['samples']} samples read stale first")
            out.append(r)
        return out

    def samples(self, synchronous_commit):
        n = self.a.cache_samples
        return n if synchronous_commit == "on" else min(n, OFF_SAMPLES)

    def scenario(self, workload, clients, targets, out):
        a = self.a
        name = f"{workload}-{clients}"
        log(f"scenario cache {name}")
        runs = {t: [] for t in targets}
        for rnd in range(1, a.rounds + 1):
            for t in targets:
                r = self.one_run(workload, t, clients, f"cache-{name}-{t}-r{rnd}")
                r["round"] = rnd
                runs[t].append(r)
                log_run(name, rnd, t, r)
                time.sleep(PAUSE_S)
        out.append({"scenario": name, "workload": workload, "clients": clients,
                    "command": describe(workload, clients, a.jobs), "targets": targets,
                    "runs": runs})

    def one_run(self, workload, target, clients, tag):
        """One pgbench run; for the cache-on Usher in a read workload, the
        cache flushed first (and, for hot, filled with its accounts), and
        SHOW CACHE's counters over the run in res['cache']."""
        port = None
        if target == CACHED:
            why = self.ready(target)
            if why:
                res = pgbench.new_result(target, "simple", clients)
                res["error"] = f"cache not ready: {why}"
                return res
            port = self.bench.poolers[target].port
            try:
                if workload in READS:
                    cache_probe.flush(port)
                if workload == "hot":
                    cache_probe.prefill(port, HOT_ROWS)
            except Exception as e:
                res = pgbench.new_result(target, "simple", clients)
                res["error"] = f"flush or prefill failed: {type(e).__name__}: {e}"
                return res
            before = cache_probe.counters(port)
        r = self.bench.pgbench(target, "simple", clients, tag, seconds=self.a.seconds,
                               scripts=workload_scripts(workload, self.hot_path))
        if port is not None and not r["error"]:
            try:
                after = cache_probe.counters(port)
                hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
                r["cache"] = {"hits": hits, "misses": misses, "entries": after["entries"],
                              "hit_ratio": hits / (hits + misses) if hits + misses else None}
            except Exception as e:
                r["cache"] = {"error": f"{type(e).__name__}: {e}"}
        return r
