"""Claiming trials of a sweep with no server: 32 agent processes claim a
grid of 200 trials at once on local disk (each finishes its trial as soon
as it has it, so that claims contend as much as they can). Prints claim
latency (median, p99, max), and checks no trial was claimed twice and
none was lost.

Usage:
    python benchmarks/bench_sweep.py [--agents 32] [--trials 200] [--method grid|random]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from runship.sweep import Sweep  # noqa: E402

AGENT = """
import json, sys, time
from runship.sweep import Sweep
sweep = Sweep.open(sys.argv[1], sys.argv[2])
sys.stdin.readline()  # every agent starts at once
got = []
while True:
    t0 = time.perf_counter()
    trial = sweep.claim()
    took = time.perf_counter() - t0
    if trial is None:
        break
    got.append((trial.index, took))
    sweep.finish(trial, {"state": "finished", "metric": float(trial.index)})
print(json.dumps(got))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=32)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--method", default="grid", choices=["grid", "random"])
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="runship-bench-sweep-")
    if args.method == "grid":
        spec = {"method": "grid", "parameters": {"i": {"values": list(range(args.trials))}}}
    else:
        spec = {"method": "random", "run_cap": args.trials, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    sweep = Sweep.create(root, "bench", spec)
    env = {**os.environ, "PYTHONPATH": ROOT}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(AGENT), root, f"bench/{sweep.id}"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.agents)
    ]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    claims = []
    for p in procs:
        out, _ = p.communicate()
        claims += json.loads(out)
    indexes = sorted(i for i, _ in claims)
    lat = sorted(t for _, t in claims)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(
        f"sweep claims, {args.method}, {args.trials} trials, {args.agents} agent processes, {os.cpu_count()} CPUs, local disk"
    )
    print(
        f"  trials claimed: {len(indexes)}; claimed twice: {len(indexes) - len(set(indexes))}; "
        f"never claimed: {len(set(range(args.trials)) - set(indexes))}"
    )
    print(
        f"  claim latency: median {statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {lat[-1] * 1000:.1f} ms (target p99 <= 100 ms)"
    )


if __name__ == "__main__":
    main()
