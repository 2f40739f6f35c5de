"""Cost of logging: runship (and, with --vs wandb, wandb offline) side by side.

Each library runs in its own fresh subprocess. For a row of 10 floats named
metric_0..metric_9 it reports:

- import: seconds to ``import runship`` (or wandb) in a fresh interpreter
- init: seconds for ``init()``
- log mean / p99: microseconds per ``log()`` call, each call timed
- rows/s: rows per second over a whole run, including ``finish()``
- bytes/row: bytes on disk (all files of the run) per row
- peak RSS: for --rows rows, over a bare interpreter

Usage:
    python benchmarks/bench_log.py [--rows 1000000] [--timed 200000] [--vs wandb]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)


def _rows(n: int):
    rnd = random.Random(0)
    vals = [rnd.random() for _ in range(1000)]
    keys = [f"metric_{i}" for i in range(10)]
    for i in range(n):
        base = i % 990
        yield dict(zip(keys, vals[base : base + 10]))


def _dir_bytes(path: str) -> int:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


def _import(lib: str):
    if lib == "runship":
        import runship

        return runship
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    os.environ["WANDB_CONSOLE"] = "off"
    os.environ["WANDB_DISABLE_GIT"] = "true"
    os.environ["WANDB__DISABLE_STATS"] = "true"
    import wandb

    return wandb


def _init(mod, lib: str, d: str):
    if lib == "runship":
        return mod.init(project="bench", dir=d, settings={"quiet": True})
    return mod.init(project="bench", dir=d, mode="offline", settings=mod.Settings(x_disable_stats=True, console="off"))


def child(lib: str, phase: str, rows: int) -> dict:
    if phase == "bare":
        return {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    t0 = time.perf_counter()
    mod = _import(lib)
    t_import = time.perf_counter() - t0
    d = tempfile.mkdtemp(prefix=f"bench-{lib}-")
    try:
        t0 = time.perf_counter()
        run = _init(mod, lib, d)
        t_init = time.perf_counter() - t0
        out = {"import_s": t_import, "init_s": t_init}
        if phase == "timed":
            perf = time.perf_counter_ns
            samples = []
            append = samples.append
            log = run.log
            for row in _rows(rows):
                t = perf()
                log(row)
                append(perf() - t)
            run.finish()
            samples.sort()
            out["log_mean_us"] = sum(samples) / len(samples) / 1000
            out["log_p50_us"] = samples[len(samples) // 2] / 1000
            out["log_p99_us"] = samples[int(len(samples) * 0.99)] / 1000
        else:
            data = list(_rows(1000))
            log = run.log
            t0 = time.perf_counter()
            for i in range(rows):
                log(data[i % 1000])
            run.finish()
            elapsed = time.perf_counter() - t0
            out["rows_per_s"] = rows / elapsed
            out["bytes_per_row"] = _dir_bytes(d) / rows
            out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _spawn(lib: str, phase: str, rows: int) -> dict:
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, HERE, "--child", lib, "--phase", phase, "--rows", str(rows)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{lib} {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(lib: str, rows: int, timed: int) -> dict:
    bare = _spawn(lib, "bare", 0)["maxrss_kib"]
    imports = sorted(_spawn(lib, "import", 1)["import_s"] for _ in range(3))
    t = _spawn(lib, "timed", timed)
    full = _spawn(lib, "full", rows)
    return {
        "library": lib,
        "import_ms": imports[1] * 1000,
        "init_ms": t["init_s"] * 1000,
        "log_mean_us": t["log_mean_us"],
        "log_p50_us": t["log_p50_us"],
        "log_p99_us": t["log_p99_us"],
        "rows_per_s": full["rows_per_s"],
        "bytes_per_row": full["bytes_per_row"],
        "peak_rss_over_bare_mib": (full["maxrss_kib"] - bare) / 1024,
        "rows": rows,
        "timed_rows": timed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for rows/s, bytes/row and RSS")
    ap.add_argument("--timed", type=int, default=200_000, help="rows whose log() calls are timed one by one")
    ap.add_argument("--vs", choices=["wandb"], help="also measure wandb offline, in the same invocation")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.phase, args.rows)))
        return
    results = [measure("runship", args.rows, args.timed)]
    if args.vs == "wandb":
        wandb_rows = min(args.rows, 100_000)
        results.append(measure("wandb", wandb_rows, min(args.timed, wandb_rows)))
    if args.json:
        print(json.dumps(results, indent=1))
        return
    fields = [
        ("import_ms", "import (ms)", "{:.1f}"),
        ("init_ms", "init() (ms)", "{:.2f}"),
        ("log_mean_us", "log() mean (us)", "{:.2f}"),
        ("log_p50_us", "log() p50 (us)", "{:.2f}"),
        ("log_p99_us", "log() p99 (us)", "{:.2f}"),
        ("rows_per_s", "rows/s incl. finish", "{:,.0f}"),
        ("bytes_per_row", "bytes on disk per row", "{:.1f}"),
        ("peak_rss_over_bare_mib", "peak RSS over bare (MiB)", "{:.1f}"),
        ("rows", "rows (throughput/RSS)", "{:,}"),
    ]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    head = f"{'':28}" + "".join(f"{r['library']:>14}" for r in results)
    if len(results) == 2:
        head += f"{'ratio':>10}"
    print(head)
    for key, label, f in fields:
        line = f"{label:28}" + "".join(f"{f.format(r[key]):>14}" for r in results)
        if len(results) == 2 and key not in ("rows",):
            a, b = results[0][key], results[1][key]
            if a and b:
                ratio = b / a if key != "rows_per_s" else a / b
                line += f"{ratio:>9.1f}x"
        print(line)
    if len(results) == 2:
        print("ratio: how many times runship is better (wandb/runship; rows/s runship/wandb)")


if __name__ == "__main__":
    main()
