#!/usr/bin/python3
"""User-space instructions per transaction, under callgrind: the sharper A/B.

CPU time per transaction on a shared 2-core machine drifts by several per
cent between runs; the instructions a pooler executes per transaction do
not. This starts one PostgreSQL (bench/fixtures.py's), then each Usher binary
given, under `valgrind --tool=callgrind` with instrumentation off; warms it
up with pgbench, switches instrumentation on for a fixed number of
transactions (`pgbench -S -c 20 -j 1 -t N`, a pool of 20 or --pool-size, one
worker), and prints the instructions counted divided by the transactions.

    /usr/bin/python3 bench/callgrind.py --bin base=/tmp/base/build-rel/usher \\
        --bin new=build/usher --modes simple,extended,prepared

Run as root (PostgreSQL runs as the postgres account). Everything on
127.0.0.1, in a temp dir removed at the end.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402  (PostgreSQL and Usher, on the test harness)
import pgbench as bench_pgbench  # noqa: E402  (the pgbench command line)


def wrapper(base, name, binary):
    """A script that runs `binary` under callgrind (same pid, via exec)."""
    out = os.path.join(base, f"callgrind.{name}.out")
    path = os.path.join(base, f"usher-{name}")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file={out} "
                f"{binary} \"$@\"\n")
    os.chmod(path, 0o755)
    return path, out


def total_ir(path):
    """The Ir count of a callgrind dump: its 'totals:' line (the 'summary:'
    line in the header can read 0 when instrumentation starts off)."""
    with open(path) as f:
        for line in f:
            m = re.match(r"totals:\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError(f"no totals in {path}")


def pgbench(pg, port, mode, clients, per_client):
    cmd = bench_pgbench.command(port, mode, clients, 1, ["-t", str(per_client)])
    out = fixtures.run_cmd(cmd, timeout=900, env=pg.bench_env())
    processed = fixtures.parse_pgbench(out.stdout)["processed"]
    if processed is None:
        raise RuntimeError(f"pgbench: {out.stdout[-500:]}")
    return processed


def measure(pg, secret, base, name, binary, mode, a):
    script, out = wrapper(base, name, binary)
    for old in glob.glob(out + "*"):
        os.unlink(old)
    args = SimpleNamespace(server_transport="tcp", clients=[a.clients], idle_clients=0,
                           pool_size=a.pool_size or a.clients, workers=1,
                           userlist_secret="scram")
    p = fixtures.BenchPooler("usher", script, base, pg, args)
    p.launch(secret, timeout=180)
    try:
        pgbench(pg, p.port, mode, a.clients, 50)  # warm-up: pool opened, statements prepared
        ctl = ["callgrind_control", "-i", "on", str(p.pid)]
        subprocess.run(ctl, check=True, capture_output=True, timeout=60)
        n = pgbench(pg, p.port, mode, a.clients, a.per_client)
        subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True,
                       capture_output=True, timeout=60)
    finally:
        p.stop()
    time.sleep(0.5)
    dumps = sorted(glob.glob(out + "*"))
    if not dumps:
        raise RuntimeError(f"no callgrind output for {name}")
    return sum(total_ir(d) for d in dumps) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", action="append", required=True, metavar="NAME=PATH",
                    help="an Usher binary to measure (repeat)")
    ap.add_argument("--modes", default="simple,extended,prepared")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--per-client", type=int, default=400)
    ap.add_argument("--pool-size", type=int, default=0,
                    help="default_pool_size (default: --clients, so no client waits; fewer "
                         "makes every transaction go through the pool's queue)")
    ap.add_argument("--rounds", type=int, default=1, help="measurements per binary and mode")
    a = ap.parse_args()
    bins = [b.split("=", 1) for b in a.bin]
    base = fixtures.util.make_service_tempdir("usher-callgrind-")
    pg = fixtures.BenchPostgres(os.path.join(base, "pg"), max_connections=200)
    os.makedirs(pg.base_dir)
    fixtures.util.chown_service(pg.base_dir)
    try:
        pg.init()
        secret = pg.setup_bench(1)
        print(f"| mode | {' | '.join(name for name, _ in bins)} |")
        print(f"|---|{'---|' * len(bins)}")
        for mode in a.modes.split(","):
            cells = []
            for name, binary in bins:
                vals = [measure(pg, secret, base, name, os.path.abspath(binary), mode, a)
                        for _ in range(a.rounds)]
                cells.append(" / ".join(f"{v:,.0f}" for v in vals))
                fixtures.log(f"{mode} {name}: {cells[-1]} instructions per transaction")
            print(f"| {mode} | {' | '.join(cells)} |", flush=True)
    finally:
        pg.stop()
        if os.environ.get("KEEP"):
            print(base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
