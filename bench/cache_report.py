"""The --cache report: the markdown tables of docs/benchmarks.md's "Query
cache" section, and whether each requirement is met on this run."""

import json
import os

from cache_bench import HOT_ROWS
from fixtures import CACHED
from report import fmt, med

# The requirements (issue 14), checked on the medians of this run.
TPS_VS_DIRECT = 3.0
TPS_VS_OFF = 2.0
HIT_P99_US = 200.0
HIT_P99_CLIENTS = 8
WRITE_TPS_VS_OFF = 0.95
OFF = "usher"  # the cache-off Usher


def ok_runs(e, t):
    return [r for r in e["runs"].get(t, []) if not r["error"]]


def median_of(e, t, key):
    return med(r[key] for r in ok_runs(e, t))


def ratio(e, t, base, key="tps"):
    a, b = median_of(e, t, key), median_of(e, base, key)
    return a / b if a is not None and b else None


def status(e, t):
    runs = e["runs"][t]
    errs = [r for r in runs if r["error"]]
    if not errs:
        return "ok"
    return f"FAILED {len(errs)}/{len(runs)} rounds: {errs[0]['error']}".replace("|", "/")


def per_round(e, t, key="tps", spec=".0f"):
    return " / ".join(fmt(r.get(key), spec, "x") if not r["error"] else "x"
                      for r in e["runs"][t])


def hit_ratios(e):
    vals = [fmt((r.get("cache") or {}).get("hit_ratio"), ".2f", "x") for r in e["runs"][CACHED]]
    return " / ".join(vals)


def us(v):
    return None if v is None else v * 1e3


def header(a, info):
    return [
        "# Usher query cache benchmark: PostgreSQL direct, PgBouncer, Usher cache off, "
        "Usher cache on", "",
        f"- date: {info.get('date')}",
        f"- command: `{info.get('command')}`",
        f"- machine: {info.get('nproc')} cores ({info.get('cpu')}), {info.get('kernel')}, "
        f"{info.get('memory_gib')} GiB RAM, load average at start {info.get('loadavg_start')}",
        f"- versions: {info.get('postgresql')}; {info.get('pgbouncer')}; {info.get('usher')}; "
        f"{info.get('pgbench')}",
        f"- settings: pool_mode transaction, default_pool_size {a.pool_size}, Usher workers "
        f"{a.workers or 'default (half the cores)'}; {CACHED} is a second Usher process from "
        "the same ini plus `query_cache = on` and `query_cache_replication_user = postgres` "
        "(replication invalidation, `wal_level = logical`, default `query_cache_size` "
        f"256MB); pgbench scale {a.scale} over TCP 127.0.0.1; {a.rounds} round(s) x "
        f"{a.seconds} s per target, interleaved, medians; before each cache-on read run the "
        f"cache is flushed (and for hot, filled with its {HOT_ROWS} accounts)",
        "",
    ]


def read_table(e):
    lines = [f"## {e['scenario']}: `{e['command']}`", "",
             "| target | TPS (median) | TPS per round | x direct | x cache off | CPU µs/txn "
             "| p50 µs | p99 µs | p99.9 µs | hit ratio per round | failed txns | status |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for t in e["targets"]:
        if not ok_runs(e, t):
            lines.append(f"| {t} | FAILED | {per_round(e, t)} | | | | | | | | | {status(e, t)} |")
            continue
        vs_direct = ratio(e, t, "direct") if t != "direct" and "direct" in e["runs"] else None
        vs_off = ratio(e, t, OFF) if t == CACHED and OFF in e["runs"] else None
        failed = sum(r["failed"] or 0 for r in e["runs"][t])
        lines.append(
            f"| {t} | {fmt(median_of(e, t, 'tps'), '.0f')} | {per_round(e, t)} | "
            f"{fmt(vs_direct, '.2f', '')} | {fmt(vs_off, '.2f', '')} | "
            f"{fmt(median_of(e, t, 'cpu_us_per_txn'), '.1f')} | "
            f"{fmt(us(median_of(e, t, 'p50')), '.0f')} | "
            f"{fmt(us(median_of(e, t, 'p99')), '.0f')} | "
            f"{fmt(us(median_of(e, t, 'p999')), '.0f')} | "
            f"{hit_ratios(e) if t == CACHED else ''} | {failed} | {status(e, t)} |")
    lines.append("")
    return lines


def write_table(e):
    lines = [f"## {e['scenario']}: `{e['command']}`", "",
             "| target | TPS (median) | TPS per round | x cache off | CPU µs/txn "
             "| CPU µs/txn per round | p50 ms | p99 ms | failed txns | status |",
             "|---|---:|---|---:|---:|---|---:|---:|---:|---|"]
    for t in e["targets"]:
        if not ok_runs(e, t):
            lines.append(f"| {t} | FAILED | {per_round(e, t)} | | | | | | | {status(e, t)} |")
            continue
        vs_off = ratio(e, t, OFF) if t == CACHED and OFF in e["runs"] else None
        failed = sum(r["failed"] or 0 for r in e["runs"][t])
        lines.append(
            f"| {t} | {fmt(median_of(e, t, 'tps'), '.0f')} | {per_round(e, t)} | "
            f"{fmt(vs_off, '.2f', '')} | {fmt(median_of(e, t, 'cpu_us_per_txn'), '.1f')} | "
            f"{per_round(e, t, 'cpu_us_per_txn', '.1f')} | {fmt(median_of(e, t, 'p50'), '.3f')} | "
            f"{fmt(median_of(e, t, 'p99'), '.3f')} | {failed} | {status(e, t)} |")
    lines.append("")
    return lines


def delay_table(a, variants):
    lines = [f"## invalidation delay: a cached row updated directly on PostgreSQL, read "
             f"through Usher until fresh ({a.cache_cap:g} s cap per sample)", "",
             "| writer's synchronous_commit | samples | p50 ms | p99 ms | max ms "
             "| samples with a stale read first | timeouts | hit read p50 ms (this client) "
             "| hits / misses over the loop | status |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for d in variants or []:
        sc = d.get("synchronous_commit", "?")
        if d.get("p50_ms") is None:
            lines.append(f"| {sc} | | | | | | | | | FAILED: {d.get('error')} |")
            continue
        lines.append(
            f"| {sc} | {d['samples']} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} | "
            f"{d['max_ms']:.2f} | "
            f"{d['with_stale']} of {len(d['stale_reads'])} | {d['timeouts']} | "
            f"{d['hit_read_p50_ms']:.3f} | {d['hits']} / {d['misses']} | "
            f"{'ok' if not d['error'] else d['error']} |")
    lines.append("")
    return lines


def memory_table(m):
    lines = ["## memory per entry: a fresh cache-on Usher, RSS before and after one read of "
             "each aid (distinct entries)", ""]
    if not m or m.get("rss_per_entry") is None:
        return lines + [f"FAILED: {(m or {}).get('error')}", ""]
    mib = lambda v: f"{v / 2**20:.1f}"
    lines += ["| entries added | RSS before MiB | RSS after MiB | RSS B/entry | value B "
              "| key B (estimate) | overhead B/entry (RSS) | SHOW CACHE bytes/entry "
              "| overhead B/entry (charged) | fill s | status |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
              f"| {m['entries']} | {mib(m['rss_before'])} | {mib(m['rss_after'])} | "
              f"{m['rss_per_entry']:.0f} | {m['value_bytes']:.0f} | {m['key_bytes']:.0f} | "
              f"{m['overhead_rss']:.0f} | {m['charged_per_entry']:.0f} | "
              f"{m['overhead_charged']:.0f} | {m['fill_s']:.1f} | "
              f"{'ok' if not m['error'] else m['error']} |", ""]
    return lines


def verdict(value, ok):
    return "n/a" if value is None else ("met" if ok else "**not met**")


def requirements(reads, writes):
    lines = ["## requirements on this run", "",
             "| requirement | scenario | measured | verdict |", "|---|---|---:|---|"]
    for e in reads:
        if CACHED not in e["runs"]:
            continue
        for base, want in (("direct", TPS_VS_DIRECT), (OFF, TPS_VS_OFF)):
            if base in e["runs"]:
                x = ratio(e, CACHED, base)
                lines.append(f"| TPS cache on >= {want:g}x {base} | {e['scenario']} | "
                             f"{fmt(x, '.2f')}x | {verdict(x, x is not None and x >= want)} |")
        if e["workload"] == "hot" and e["clients"] == HIT_P99_CLIENTS:
            p99 = us(median_of(e, CACHED, "p99"))
            lines.append(f"| p99 of hits < {HIT_P99_US:g} µs at {HIT_P99_CLIENTS} clients "
                         f"| {e['scenario']} (the cache holds its {HOT_ROWS} accounts) | "
                         f"{fmt(p99, '.0f')} µs | "
                         f"{verdict(p99, p99 is not None and p99 < HIT_P99_US)} |")
    for e in writes:
        if CACHED in e["runs"] and OFF in e["runs"]:
            x = ratio(e, CACHED, OFF)
            met = x is not None and x >= WRITE_TPS_VS_OFF
            lines.append(f"| TPS cache on >= {WRITE_TPS_VS_OFF:g}x cache off | {e['scenario']} | "
                         f"{fmt(x, '.2f')}x | {verdict(x, met)} |")
    lines.append("")
    return lines


def render(bench):
    a = bench.args
    res = getattr(bench, "cache_results", None) or {}
    reads, writes = res.get("reads", []), res.get("writes", [])
    lines = header(a, bench.info)
    for e in reads:
        lines += read_table(e)
    if res.get("memory") is not None:
        lines += memory_table(res["memory"])
    if res.get("delay") is not None:
        lines += delay_table(a, res["delay"])
    for e in writes:
        lines += write_table(e)
    lines += requirements(reads, writes)
    lines.append(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(lines) + "\n"


def write_json(path, bench):
    args = {k: v if not isinstance(v, set) else sorted(v) for k, v in vars(bench.args).items()}
    with open(path, "w") as f:
        json.dump({"info": bench.info, "args": args,
                   "cache": getattr(bench, "cache_results", None)}, f, indent=1, default=str)
