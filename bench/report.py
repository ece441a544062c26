"""What the benchmarks report, and the readings it is made of.

/proc readings of a pooler (CPU time from /proc/PID/stat, RSS, private
memory), per-transaction CPU, percentiles and medians, the machine and
version header, and the markdown tables that docs/benchmarks.md records
(plus the --markdown and --json files).
"""

import datetime
import hashlib
import json
import math
import os
import platform
import resource
import statistics
import sys

from fixtures import BASELINE, PG_BIN, PGBOUNCER_BIN, REPO_ROOT, first_line, run_cmd

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- readings
def proc_cpu_ticks(pid):
    """utime + stime of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of proc(5)


def cpu_us_per_txn(ticks_before, ticks_after, transactions):
    """A pooler's CPU time per transaction over a run, in microseconds."""
    return (ticks_after - ticks_before) / CLK_TCK * 1e6 / transactions


def proc_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def private_bytes(pid):
    """Memory only this process uses (not shared buffers), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f
                       if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except OSError:
        return 0


# -------------------------------------------------------------- statistics
def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec, none="n/a"):
    return none if v is None else format(v, spec)


# ------------------------------------------------------------------ header
def machine_info(a):
    def cpu_model():
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "unknown"

    def mem_gib():
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 1024 / 1024, 1)

    def out(args):
        try:
            return first_line(run_cmd(args, timeout=10, check=False).stdout)
        except (OSError, RuntimeError):
            return "unknown"

    def sha(path):  # tells two Usher builds apart (both print the same --version)
        if not a.baseline_usher_bin:
            return ""
        with open(path, "rb") as f:
            return f", sha256 {hashlib.sha256(f.read()).hexdigest()[:12]}"

    git = out(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"])
    dirty = run_cmd(["git", "-C", REPO_ROOT, "status", "--porcelain", "--untracked-files=no"],
                    timeout=10, check=False).stdout.strip()
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "kernel": f"{platform.system()} {platform.release()}",
        "memory_gib": mem_gib(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "postgresql": out([f"{PG_BIN}/postgres", "--version"]),
        "pgbench": out([f"{PG_BIN}/pgbench", "--version"]),
        "pgbouncer": out([PGBOUNCER_BIN, "--version"]),
        "usher": out([a.usher_bin, "--version"])
        + f" ({a.usher_bin}{sha(a.usher_bin)}; repo at git {git}{'+dirty' if dirty else ''})",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
    if a.baseline_usher_bin:
        info["usher_base"] = (out([a.baseline_usher_bin, "--version"])
                              + f" ({a.baseline_usher_bin}{sha(a.baseline_usher_bin)})")
    return info


# ------------------------------------------------------------------ tables
def header(a, info):
    base = info.get("usher_base")
    return [
        "# Usher benchmark: PostgreSQL direct vs PgBouncer vs Usher"
        + (f" (and {BASELINE}, a second Usher binary)" if base else ""), "",
        f"- date: {info.get('date')}",
        f"- command: `{info.get('command')}`",
        f"- machine: {info.get('nproc')} cores ({info.get('cpu')}), {info.get('kernel')}, "
        f"{info.get('memory_gib')} GiB RAM, fd limit {info.get('nofile')}, load average at start "
        f"{info.get('loadavg_start')}",
        f"- versions: {info.get('postgresql')}; {info.get('pgbouncer')}; {info.get('usher')}; "
        + (f"{BASELINE}: {base}; " if base else "") + f"{info.get('pgbench')}",
        f"- settings: pool_mode transaction, default_pool_size {a.pool_size}, Usher workers "
        f"{a.workers or 'default (half the cores)'}, auth scram-sha-256 (userlist: {a.userlist_secret} secret), poolers to "
        f"PostgreSQL over {'TCP 127.0.0.1' if a.server_transport == 'tcp' else 'Unix socket'}, "
        f"pgbench over TCP 127.0.0.1; pgbench scale {a.scale}, `-n -S -j {a.jobs}`; "
        f"{a.rounds} round(s) x {a.seconds} s per target, interleaved, medians"
        + ("; **TLS on both legs** (pgbench sslmode=require to every target, poolers to "
           "PostgreSQL with server_tls_sslmode = require, TLS 1.3)" if a.tls else "")
        + (f"; **HTTP endpoint on** for usher (http_listen_port on loopback, "
           f"http_public_read = on), `GET /metrics` every {a.http_scrape:g} s during each run "
           f"against it" + (f" ({BASELINE}: no endpoint)" if base else "")
           if getattr(a, "http_scrape", 0) else ""),
        "",
    ]


def scenario_table(a, e, protocol_for):
    """One pgbench -S scenario: a row per target, medians over its rounds."""
    lines = [f"## {e['scenario']}: `pgbench -n -S -M {e['protocol']} -c {e['clients']} "
             f"-j {min(a.jobs, e['clients'])}`, {a.seconds} s per run", "",
             "| target | TPS (median) | TPS per round | CPU µs/txn | p50 ms | p99 ms "
             "| p99.9 ms | p99/p50 | p99.9/p50 | failed txns | status |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for t in a.targets:
        if t in e["skipped"]:
            lines.append(f"| {t} | skipped | | | | | | | | | {e['skipped'][t]} |")
            continue
        runs = e["runs"][t]
        if protocol_for(e["protocol"], t) != e["protocol"]:
            t = f"{t} (`-M {protocol_for(e['protocol'], t)}`)"
        ok = [r for r in runs if not r["error"]]
        errs = [r for r in runs if r["error"]]
        restarts = sum(1 for r in runs if r.get("restarted"))
        status = ("ok" if not restarts else f"ok (pooler restarted {restarts}x, after "
                  "dying in an earlier run)") if not errs else (
            f"FAILED {len(errs)}/{len(runs)} rounds: {errs[0]['error']}".replace("|", "/"))
        per_round = " / ".join(fmt(r["tps"], ".0f", "x") if not r["error"] else "x"
                               for r in runs)
        if not ok:
            lines.append(f"| {t} | FAILED | {per_round} | | | | | | | | {status} |")
            continue
        tps = med(r["tps"] for r in ok)
        cpu = med(r["cpu_us_per_txn"] for r in ok)
        p50, p99, p999 = (med(r[k] for r in ok) for k in ("p50", "p99", "p999"))
        failed = sum(r["failed"] or 0 for r in runs)
        r99 = p99 / p50 if p50 and p99 is not None else None
        r999 = p999 / p50 if p50 and p999 is not None else None
        lines.append(
            f"| {t} | {fmt(tps, '.0f')} | {per_round} | {fmt(cpu, '.1f')} | "
            f"{fmt(p50, '.3f')} | {fmt(p99, '.3f')} | {fmt(p999, '.3f')} | "
            f"{fmt(r99, '.2f')} | {fmt(r999, '.2f')} | {failed} | {status} |")
    scraped = [(t, r) for t in a.targets for r in e["runs"][t] if "scrapes" in r]
    if scraped:
        lines += ["", "`GET /metrics` during the runs: " + "; ".join(
            f"{t} round {r.get('round')}: {r['scrapes']} ok, {r['scrape_errors']} failed"
            + (f", {r['scrape_bytes']} bytes each" if r.get("scrape_bytes") else "")
            + (f" ({r['scrape_error']})" if r.get("scrape_error") else "")
            for t, r in scraped).replace("|", "/") + "."]
    lines.append("")
    return lines


def idle_table(a, results):
    lines = [f"## idle-memory: {a.idle_clients} idle client connections (TCP, "
             "SCRAM login, then idle)", "",
             "| target | connections open | RSS before MiB | RSS after MiB "
             "| bytes per idle client | seconds to open | status |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        status = "ok" if not r["error"] else f"FAILED: {r['error']}".replace("|", "/")
        mib = lambda k: fmt(r.get(k) / 2**20 if r.get(k) is not None else None, ".1f")
        lines.append(f"| {r['target']} | {r.get('opened', 0)} | {mib('rss_before')} | "
                     f"{mib('rss_after')} | {fmt(r.get('bytes_per_client'), '.0f')} | "
                     f"{fmt(r.get('seconds_to_open'), '.1f')} | {status} |")
    lines.append("")
    return lines


def many_table(a, results, clients):
    lines = [f"## many-statements: 1,000 distinct statements (100 scripts of 10), "
             f"`pgbench -n -M prepared -c {clients}`, {a.seconds} s", "",
             "| target | TPS | CPU µs/txn | failed txns | server backends "
             "| their private memory MiB | status |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        status = "ok" if not r["error"] else f"FAILED: {r['error']}".replace("|", "/")
        lines.append(f"| {r['target']} | {fmt(r.get('tps'), '.0f')} | "
                     f"{fmt(r.get('cpu_us_per_txn'), '.1f')} | {r.get('failed')} | "
                     f"{r.get('backends')} | {fmt(r.get('backend_private_mib'), '.1f')} | "
                     f"{status} |")
    lines.append("")
    return lines


def ab_table(a, results, idle_results):
    """usher against usher-base: medians and their difference, per-round CPU."""
    def delta(new, old):
        return "n/a" if new is None or not old else f"{(new / old - 1) * 100:+.1f} %"

    lines = [f"## usher against {BASELINE}: difference of the medians (usher / {BASELINE} - 1)",
             "", f"| scenario | CPU µs/txn usher per round | CPU µs/txn {BASELINE} per round "
             "| CPU µs/txn | TPS | p50 | p99 |", "|---|---|---|---:|---:|---:|---:|"]
    for e in results:
        ok = {t: [r for r in e["runs"][t] if not r["error"]] for t in ("usher", BASELINE)}
        rounds = {t: " / ".join(fmt(r["cpu_us_per_txn"], ".1f", "x") if not r["error"] else "x"
                                for r in e["runs"][t]) for t in ok}
        cells = [delta(med(r[k] for r in ok["usher"]), med(r[k] for r in ok[BASELINE]))
                 for k in ("cpu_us_per_txn", "tps", "p50", "p99")]
        lines.append(f"| {e['scenario']} | {rounds['usher']} | {rounds[BASELINE]} | "
                     + " | ".join(cells) + " |")
    idle = {r["target"]: r.get("bytes_per_client") for r in idle_results if not r["error"]}
    if "usher" in idle or BASELINE in idle:
        lines += ["", f"Bytes per idle client: usher {fmt(idle.get('usher'), '.0f')}, "
                  f"{BASELINE} {fmt(idle.get(BASELINE), '.0f')} "
                  f"({delta(idle.get('usher'), idle.get(BASELINE))})."]
    lines.append("")
    return lines


def render(bench):
    """The whole report (markdown) of a Bench (scenarios.py) after its runs."""
    a = bench.args
    lines = header(a, bench.info)
    for e in bench.results:
        lines += scenario_table(a, e, bench.protocol_for)
    if bench.idle_results:
        lines += idle_table(a, bench.idle_results)
    if bench.many_results:
        lines += many_table(a, bench.many_results, bench.MANY_CLIENTS)
    if "usher" in a.targets and BASELINE in a.targets and (bench.results or bench.idle_results):
        lines += ab_table(a, bench.results, bench.idle_results)
    lines.append(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(lines) + "\n"


def write_json(path, bench):
    """Every run's raw numbers, with the machine info and the options."""
    args = {k: v if not isinstance(v, set) else sorted(v) for k, v in vars(bench.args).items()}
    with open(path, "w") as f:
        json.dump({"info": bench.info, "args": args,
                   "scenarios": bench.results, "idle_memory": bench.idle_results,
                   "many_statements": bench.many_results},
                  f, indent=1, default=str)
