"""What the automatic records cost: system metrics sampling, console
capture and the environment record, on versus off.

1. CPU of an idle training process over --idle seconds (after init), as a
   share of the machine (all cores) and of one core.
2. log() mean and p99 for a row of 10 floats, with everything on and off.

Each case runs in its own fresh process.

Usage:
    python benchmarks/bench_overhead.py [--idle 30] [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, os, resource, sys, tempfile, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import runship
on = sys.argv[2] == "on"
settings = {"quiet": True}
if not on:
    settings.update(system_metrics=False, console="off", environment=False)
else:
    settings.update(stats_interval=float(sys.argv[5]))
run = runship.init(project="bench", dir=tempfile.mkdtemp(), settings=settings)
mode, amount = sys.argv[3], float(sys.argv[4])
if mode == "idle":
    time.sleep(2)  # init's environment thread finishes
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    time.sleep(amount)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = {"cpu_s": cpu, "wall_s": time.perf_counter() - t0}
else:
    if run._env_thread is not None:
        run._env_thread.join()  # what init() started off the caller's thread is done
    row = {f"metric_{k}": 0.25 * k for k in range(10)}
    perf = time.perf_counter_ns
    samples = []
    for _ in range(int(amount)):
        t = perf()
        run.log(row)
        samples.append(perf() - t)
    samples.sort()
    out = {"mean_us": sum(samples) / len(samples) / 1000, "p99_us": samples[int(len(samples) * 0.99)] / 1000}
run.finish()
print(json.dumps(out))
"""


def child(on: bool, mode: str, amount: float, interval: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, HERE, "on" if on else "off", mode, str(amount), str(interval)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument(
        "--interval", type=float, default=15.0, help="stats_interval for the 'on' case (default: runship's default)"
    )
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"python {sys.version.split()[0]}, {cores} CPUs; 'on' = system metrics every {args.interval:g} s + console capture + environment record"
    )
    for on in (False, True):
        idle = child(on, "idle", args.idle, args.interval)
        pct_core = 100 * idle["cpu_s"] / idle["wall_s"]
        log = child(on, "log", args.rows, args.interval)
        print(
            f"{'on ' if on else 'off'}  idle CPU {pct_core:.3f}% of a core ({pct_core / cores:.3f}% of the machine) over {idle['wall_s']:.0f} s;"
            f"  log() mean {log['mean_us']:.2f} us, p99 {log['p99_us']:.2f} us"
        )


if __name__ == "__main__":
    main()
