"""The benchmark's scenarios and the state they share (Bench).

- `pgbench -n -S` with -M simple, extended and prepared at each --clients
  count, every target in turn (A B C A B C ...) for --rounds rounds, after a
  warm-up that opens the pools and measures pgbench's connection time;
  with --baseline-usher-bin a second Usher, usher-base, is one more target;
- many-statements: 1,000 distinct prepared statements from 100 clients,
  direct and through Usher (and usher-base), with the server backends'
  private memory;
- idle-memory (idle.py): memory per idle client connection of each pooler.

A failing pooler fails its rows, not the run: one that died is restarted
before its next run.
"""

import os
import shutil
import signal
import subprocess
import time

import idle
import pgbench
import report
from fixtures import (BASELINE, CACHED, PGBOUNCER_BIN, PROCS, BenchPooler, BenchPostgres,
                      first_line, log, parse_pgbench, run_cmd, stop_process, tail, util)

PROTOCOLS = ("simple", "extended", "prepared")
TARGETS = ("direct", "pgbouncer", "usher")  # the default targets, in this order
# What runs for each pooler target (CACHED: --cache only).
POOLER_KINDS = {"pgbouncer": "pgbouncer", "usher": "usher", BASELINE: "usher", CACHED: "usher"}


class Bench:
    MANY_SCRIPTS, MANY_PER_SCRIPT, MANY_CLIENTS = 100, 10, 100

    def __init__(self, args):
        self.args = args
        self.base = None
        self.pg = None
        self.runner = None  # pgbench.Runner
        self.poolers = {}
        self.scram_secret = None
        self.restarts = {}  # pooler target -> restarts after it died
        self.results = []
        self.idle_results = []
        self.many_results = []
        self.cache_results = None  # --cache: cache_bench.CacheScenarios
        self.info = {}

    @staticmethod
    def protocol_for(proto, target):
        """PgBouncer 1.18 cannot run -M prepared in transaction mode; its users
        fall back to -M simple, which is what Usher's prepared run is compared
        with."""
        return "simple" if proto == "prepared" and target == "pgbouncer" else proto

    # ------------------------------------------------------------- setup
    def setup(self):
        a = self.args
        self.base = util.make_service_tempdir("usher-bench-")
        log(f"work dir {self.base}")
        dirs = ["pg", "pgbouncer", "usher", "pgbench"]
        dirs += [t for t in (BASELINE, CACHED) if t in a.targets]
        for d in dirs:
            os.makedirs(os.path.join(self.base, d))
        for d in ("pg", "pgbouncer"):
            util.chown_service(os.path.join(self.base, d))
        # Room for every direct client, both pools and a margin.
        max_conn = max(max(a.clients) + 4 * a.pool_size + 100, 200)
        self.pg = BenchPostgres(os.path.join(self.base, "pg"), max_conn)
        self.runner = pgbench.Runner(self.pg, os.path.join(self.base, "pgbench"), a.jobs,
                                     scrape_every=a.http_scrape)
        if a.tls:
            a.tls_files = self.make_certificate()
            self.pg.use_tls(a.tls_files["cert"], a.tls_files["key"])
        log(f"initdb + start PostgreSQL (max_connections={max_conn})")
        self.pg.init()
        log(f"pgbench -i -s {a.scale}")
        self.scram_secret = self.pg.setup_bench(a.scale)
        # Copy Usher so that a rebuild elsewhere cannot swap it mid-run.
        bins = {"pgbouncer": PGBOUNCER_BIN,
                "usher": self.copy_binary(a.usher_bin, "usher")}
        if BASELINE in a.targets:
            bins[BASELINE] = self.copy_binary(a.baseline_usher_bin, BASELINE)
        bins[CACHED] = bins["usher"]  # the same binary, another ini
        for name, kind in POOLER_KINDS.items():
            if name in a.targets or (name in ("pgbouncer", "usher") and a.idle_clients > 0):
                self.poolers[name] = BenchPooler(kind, bins[name],
                                                 os.path.join(self.base, name), self.pg, a,
                                                 name=name)
        self.info = report.machine_info(a)
        for p in self.poolers.values():
            self.try_start(p)

    def make_certificate(self):
        """A self-signed certificate for PostgreSQL and both poolers (which
        check nothing: require), readable by the postgres account."""
        d = os.path.join(self.base, "tls")
        os.makedirs(d)
        cert, key = os.path.join(d, "bench.crt"), os.path.join(d, "bench.key")
        run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                 "-keyout", key, "-out", cert])
        os.chmod(key, 0o600)
        for path in (d, cert, key):
            util.chown_service(path)
        return {"cert": cert, "key": key}

    def copy_binary(self, path, target):
        copy = os.path.join(self.base, target, "usher")
        shutil.copy2(path, copy)
        return copy

    def try_start(self, p):
        try:
            log(f"start {p.name}")
            p.launch(self.scram_secret)
            return None
        except (RuntimeError, OSError) as e:
            log(f"{p.name} failed to start: {e}")
            return first_line(str(e))

    def ensure_alive(self, target):
        """None if the pooler is up (restarting it if it died), else why not."""
        p = self.poolers[target]
        if p.alive():
            return None
        if p.proc is not None:
            log(f"{target} is not running (exit {p.proc.returncode}); restarting; log tail:\n"
                f"{tail(p.log_path)}")
            PROCS.discard(p.proc)
            self.restarts[target] = self.restarts.get(target, 0) + 1
        return self.try_start(p)

    def stop_pooler(self, target):
        """Stop on purpose: ensure_alive() starts it again, not counted as a restart."""
        p = self.poolers[target]
        p.stop()
        p.proc = None

    def target_port(self, target):
        return self.pg.port if target == "direct" else self.poolers[target].port

    # ------------------------------------------------------------- pgbench runs
    def pgbench(self, target, protocol, clients, tag, seconds=None, per_client=None,
                with_log=True, scripts=None):
        """One pgbench -S run (or scripts, as pgbench.command takes them); a
        result dict with 'error' set on any failure. If the connection phase
        outlasted -T (a load spike), the run is repeated once with the
        connection time just seen."""
        res = self._pgbench_once(target, protocol, clients, tag, seconds, per_client, with_log,
                                 scripts)
        if res.get("no_transactions") and seconds is not None:
            log(f"{tag}: connecting took longer than -T (load spike?); running it again")
            res = self._pgbench_once(target, protocol, clients, tag, seconds, per_client,
                                     with_log, scripts)
        return res

    def _pgbench_once(self, target, protocol, clients, tag, seconds, per_client, with_log,
                      scripts):
        res = pgbench.new_result(target, protocol, clients)
        pooler = None
        if target != "direct":
            before = self.restarts.get(target, 0)
            why = self.ensure_alive(target)
            res["restarted"] = self.restarts.get(target, 0) > before
            if why:
                res["error"] = f"{target} not running: {why}"
                return res
            pooler = self.poolers[target]
        return self.runner.run(res, self.target_port(target), pooler, tag, seconds,
                               per_client, with_log, scripts)

    def warmup(self, clients=None):
        """Per target and client count (those of the scenarios selected, or
        `clients`): one transaction per client, which opens the pools' server
        connections and measures pgbench's connection time (used to extend
        -T); then a short run at the smallest client count."""
        a = self.args
        needed = sorted(set(clients) if clients else {c for _, _, c in self.scenarios()})
        for target in a.targets:
            for c in needed:
                r = self.pgbench(target, "simple", c, f"connect-{target}-{c}", per_client=1,
                                 with_log=False)
                log(f"connect {target} x{c}: " + (
                    f"error: {r['error']}" if r["error"] else
                    f"initial connection time {r['connect_s']:.2f} s"))
            if a.warmup > 0 and needed:
                r = self.pgbench(target, "simple", needed[0], f"warmup-{target}",
                                 seconds=a.warmup, with_log=False)
                log(f"warm-up {target}: " + (f"error: {r['error']}" if r["error"]
                                             else f"{r['tps']:.0f} tps"))

    def scenarios(self):
        """(name, protocol, clients) of the pgbench -S scenarios selected."""
        a = self.args
        out = []
        for proto in PROTOCOLS:
            for c in a.clients:
                name = f"{proto}-{c}"
                if a.scenarios is None or name in a.scenarios or proto in a.scenarios:
                    out.append((name, proto, c))
        return out

    def run_scenario(self, name, proto, clients):
        a = self.args
        targets = list(a.targets)
        runs = {t: [] for t in targets}
        for rnd in range(1, a.rounds + 1):
            for t in targets:
                r = self.pgbench(t, self.protocol_for(proto, t), clients, f"{name}-{t}-r{rnd}",
                                 seconds=a.seconds)
                r["round"] = rnd
                runs[t].append(r)
                if r["error"]:
                    log(f"{name} round {rnd} {t}: FAILED: {r['error']}")
                else:
                    cpu = (f"{r['cpu_us_per_txn']:.1f} us/txn" if r["cpu_us_per_txn"] is not None
                           else "")
                    lat = (f"p50 {r['p50']:.2f} p99 {r['p99']:.2f} ms" if r["p50"] is not None
                           else "")
                    scr = (f", /metrics GETs {r['scrapes']} ok {r['scrape_errors']} failed"
                           if "scrapes" in r else "")
                    log(f"{name} round {rnd} {t}: {r['tps']:.0f} tps {cpu} {lat} "
                        f"failed {r['failed']} (connect {r['connect_s'] or 0:.1f} s, "
                        f"measured {r.get('window_s', 0):.1f} s{scr})")
                time.sleep(0.5)
        entry = {"scenario": name, "protocol": proto, "clients": clients, "runs": runs,
                 "skipped": {}}
        self.results.append(entry)
        return entry

    # ------------------------------------------------------ many statements
    def many_statements(self):
        """1,000 distinct statements (100 pgbench scripts of 10) from 100
        clients with -M prepared, direct and through Usher: every direct
        backend ends up holding all 1,000, each of Usher's pool holds at most
        max_prepared_statements. Reports TPS and the private memory of the
        backends serving the run (from /proc/PID/smaps_rollup)."""
        a = self.args
        d = os.path.join(self.base, "pgbench", "many")
        os.makedirs(d, exist_ok=True)
        util.chown_service(d)
        files = []
        for i in range(self.MANY_SCRIPTS):
            path = os.path.join(d, f"s{i}.sql")
            with open(path, "w") as f:
                f.write("\\set aid random(1, 100000 * :scale)\n")
                for k in range(self.MANY_PER_SCRIPT):
                    n = i * self.MANY_PER_SCRIPT + k
                    f.write(f"SELECT abalance + {n} FROM pgbench_accounts WHERE aid = :aid;\n")
            files += ["-f", path]
        if "pgbouncer" in self.poolers:  # its idle servers would count as the bench user's
            self.poolers["pgbouncer"].stop()
        for target in ["direct"] + [t for t in ("usher", BASELINE) if t in a.targets]:
            res = {"target": target, "clients": self.MANY_CLIENTS, "error": None}
            # Usher's idle servers are not part of a direct run.
            before = set(self.pg.backend_pids()) if target == "direct" else set()
            self.many_results.append(res)
            if target != "direct":
                # One Usher at a time: the other's idle servers would count.
                other = BASELINE if target == "usher" else "usher"
                if other in self.poolers:
                    self.stop_pooler(other)
                if self.ensure_alive(target):
                    res["error"] = f"{target} not running"
                    continue
            pooler = self.poolers.get(target)
            cmd = pgbench.command(self.target_port(target), "prepared", self.MANY_CLIENTS,
                                  a.jobs, ["-T", str(a.seconds + 5)], scripts=files)
            proc = PROCS.add(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True,
                                              env=self.pg.bench_env()))
            cpu0 = report.proc_cpu_ticks(pooler.pid) if pooler else None
            # Measure while the clients are still connected (direct backends
            # exit with them).
            time.sleep(a.seconds + 2)
            pids = [pid for pid in self.pg.backend_pids() if pid not in before]
            res["backends"] = len(pids)
            res["backend_private_mib"] = sum(report.private_bytes(pid) for pid in pids) / 2**20
            out, _ = proc.communicate(timeout=120)
            PROCS.discard(proc)
            stats = parse_pgbench(out)
            res["tps"] = stats["tps"]
            res["failed"] = stats["failed"]
            processed = stats["processed"] or 0
            if proc.returncode != 0 or not processed:
                res["error"] = f"pgbench rc {proc.returncode}: {first_line(out[-500:])}"
            if pooler and processed:
                res["cpu_us_per_txn"] = report.cpu_us_per_txn(
                    cpu0, report.proc_cpu_ticks(pooler.pid), processed)
            log(f"many-statements {target}: {res}")

    def idle_memory(self):
        idle.idle_memory(self)

    # -------------------------------------------------------------- teardown
    def cleanup(self):
        if self.runner is not None:
            self.runner.stop()
        for p in self.poolers.values():
            if p.proc is not None:
                try:
                    p.stop()
                except Exception as e:  # keep tearing down the rest
                    log(f"stopping {p.name}: {e}")
        for p in list(PROCS.live):
            stop_process(p, signal.SIGKILL, timeout=5)
        if self.pg is not None:
            log("stop PostgreSQL")
            self.pg.stop()
        if self.base and not self.args.keep:
            shutil.rmtree(self.base, ignore_errors=True)
        elif self.base:
            log(f"kept {self.base}")
