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
                                   [--values floats|numpy32|numpy64|int64|torch|mixed] [--keys 10] [--repeat 5]
    python benchmarks/bench_log.py --baseline ../other-checkout [--values ...] [--keys ...] [--repeat ...]
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


VALUES = ("floats", "numpy32", "numpy64", "int64", "torch", "mixed")


def _values(kind: str, count: int) -> list:
    """``count`` values of a kind, made before any is timed."""
    rnd = random.Random(0)
    vals: list = [rnd.random() for _ in range(count)]
    if kind == "floats":
        return vals
    if kind == "torch":
        import torch

        return [torch.tensor(v) for v in vals]
    import numpy as np

    if kind == "numpy32":
        return [np.float32(v) for v in vals]
    if kind == "numpy64":
        return [np.float64(v) for v in vals]
    if kind == "int64":
        return [np.int64(int(v * 1000)) for v in vals]
    import torch  # mixed: what a real loop logs, a bit of everything

    makers = [float, np.float32, np.float64, torch.tensor, lambda v: int(v * 1000)]
    return [makers[i % len(makers)](v) for i, v in enumerate(vals)]


def _rows(n: int, kind: str = "floats", keys: int = 10):
    vals = _values(kind, 1000 + keys)
    names = [f"metric_{i}" for i in range(keys)]
    for i in range(n):
        base = i % 990
        yield dict(zip(names, vals[base : base + keys]))


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


def child(lib: str, phase: str, rows: int, kind: str = "floats", keys: int = 10) -> dict:
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
            made = list(_rows(min(rows, 1000), kind, keys))
            for i in range(rows):
                row = made[i % len(made)]
                t = perf()
                log(row)
                append(perf() - t)
            run.finish()
            samples.sort()
            out["log_mean_us"] = sum(samples) / len(samples) / 1000
            out["log_p50_us"] = samples[len(samples) // 2] / 1000
            out["log_p99_us"] = samples[int(len(samples) * 0.99)] / 1000
        else:
            data = list(_rows(1000, kind, keys))
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


def _spawn(lib: str, phase: str, rows: int, kind: str = "floats", keys: int = 10, code: str | None = None) -> dict:
    env = dict(os.environ)
    if code is not None:  # another checkout's runship (--baseline)
        env["PYTHONPATH"] = code + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run(
        [
            sys.executable,
            HERE,
            "--child",
            lib,
            "--phase",
            phase,
            "--rows",
            str(rows),
            "--values",
            kind,
            "--keys",
            str(keys),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{lib} {phase} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(lib: str, rows: int, timed: int, kind: str = "floats", keys: int = 10, repeat: int = 5) -> dict:
    """Each figure from fresh processes; the timed log() figures the median of ``repeat`` runs, with their spread."""
    bare = _spawn(lib, "bare", 0)["maxrss_kib"]
    imports = sorted(_spawn(lib, "import", 1)["import_s"] for _ in range(3))
    times = [_spawn(lib, "timed", timed, kind, keys) for _ in range(repeat)]
    full = _spawn(lib, "full", rows, kind, keys)

    def median(key: str) -> float:
        got = sorted(t[key] for t in times)
        return got[len(got) // 2]

    def spread(key: str) -> str:
        got = sorted(t[key] for t in times)
        return f"{got[0]:.2f}-{got[-1]:.2f}"

    t = times[0]
    return {
        "library": lib,
        "import_ms": imports[1] * 1000,
        "init_ms": median("init_s") * 1000,
        "log_mean_us": median("log_mean_us"),
        "log_mean_spread": spread("log_mean_us"),
        "log_p50_us": median("log_p50_us"),
        "log_p99_us": median("log_p99_us"),
        "log_p99_spread": spread("log_p99_us"),
        "rows_per_s": full["rows_per_s"],
        "bytes_per_row": full["bytes_per_row"],
        "peak_rss_over_bare_mib": (full["maxrss_kib"] - bare) / 1024,
        "rows": rows,
        "timed_rows": timed,
        "values": kind,
        "keys": keys,
        "repeat": repeat,
        "init_s_first": t["init_s"],
    }


def _cpu_times() -> list[int] | None:
    """The machine's CPU time counters (/proc/stat's first line), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def _steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    if not before or not after or len(before) < 8:
        return None
    total = sum(after[:8]) - sum(before[:8])
    return (after[7] - before[7]) / total if total > 0 else None


def compare(baseline: str, timed: int, kind: str, keys: int, repeat: int) -> None:
    """This checkout's log() against another checkout's (``--baseline DIR``),
    their processes alternating, so that both meet the machine in the same
    state (a virtual machine's speed drifts over minutes)."""
    pairs = []
    for _ in range(repeat):
        now = _spawn("runship", "timed", timed, kind, keys)
        base = _spawn("runship", "timed", timed, kind, keys, code=baseline)
        pairs.append((base, now))

    def med(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    print(f"values: {kind}, {keys} a row; {repeat} pairs of fresh processes, alternating; baseline {baseline}")
    print(f"{'':22}{'baseline':>12}{'this':>12}{'this/baseline':>15}")
    for key, label in (
        ("log_mean_us", "log() mean (us)"),
        ("log_p50_us", "log() p50 (us)"),
        ("log_p99_us", "log() p99 (us)"),
    ):
        b = med([p[0][key] for p in pairs])
        n = med([p[1][key] for p in pairs])
        ratio = med([p[1][key] / p[0][key] for p in pairs])
        print(f"{label:22}{b:>12.2f}{n:>12.2f}{ratio:>15.2f}")
    spread = [f"{p[0]['log_mean_us']:.2f}/{p[1]['log_mean_us']:.2f}" for p in pairs]
    print("means, pair by pair (baseline/this): " + " ".join(spread))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for rows/s, bytes/row and RSS")
    ap.add_argument("--timed", type=int, default=200_000, help="rows whose log() calls are timed one by one")
    ap.add_argument("--vs", choices=["wandb"], help="also measure wandb offline, in the same invocation")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--values", choices=VALUES, default="floats", help="what each row holds")
    ap.add_argument("--keys", type=int, default=10, help="values a row")
    ap.add_argument("--repeat", type=int, default=5, help="fresh processes for the timed log() figures")
    ap.add_argument("--baseline", help="another checkout's root: compare log() with it, processes alternating")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.phase, args.rows, args.values, args.keys)))
        return
    if args.baseline:
        compare(os.path.abspath(args.baseline), args.timed, args.values, args.keys, args.repeat)
        return
    load_before = os.getloadavg()
    cpu_before = _cpu_times()
    results = [measure("runship", args.rows, args.timed, args.values, args.keys, args.repeat)]
    if args.vs == "wandb":
        wandb_rows = min(args.rows, 100_000)
        results.append(
            measure("wandb", wandb_rows, min(args.timed, wandb_rows), args.values, args.keys, min(args.repeat, 3))
        )
    load_after = os.getloadavg()
    steal = _steal_share(cpu_before, _cpu_times())
    if args.json:
        print(json.dumps(results, indent=1))
        return
    fields = [
        ("import_ms", "import (ms)", "{:.1f}"),
        ("init_ms", "init() (ms)", "{:.2f}"),
        ("log_mean_us", "log() mean (us)", "{:.2f}"),
        ("log_mean_spread", "  spread of the means", "{}"),
        ("log_p50_us", "log() p50 (us)", "{:.2f}"),
        ("log_p99_us", "log() p99 (us)", "{:.2f}"),
        ("log_p99_spread", "  spread of the p99s", "{}"),
        ("rows_per_s", "rows/s incl. finish", "{:,.0f}"),
        ("bytes_per_row", "bytes on disk per row", "{:.1f}"),
        ("peak_rss_over_bare_mib", "peak RSS over bare (MiB)", "{:.1f}"),
        ("rows", "rows (throughput/RSS)", "{:,}"),
    ]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=os.path.dirname(HERE)
        ).stdout.strip()
    except OSError:
        commit = "?"
    versions = [f"python {sys.version.split()[0]}", f"msgpack {__import__('msgpack').version}"]
    for name in ("numpy", "torch"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            pass
    print(f"{', '.join(versions)}; {os.cpu_count()} CPUs; commit {commit}")
    print(f"values: {args.values}, {args.keys} a row; timed log() figures: median of {args.repeat} fresh processes")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}", end="")
    # on a virtual machine, time the hypervisor gave to others: the figures are only comparable
    # with figures measured at a similar steal
    print("" if steal is None else f"; CPU steal during the runs {steal:.1%}")
    head = f"{'':28}" + "".join(f"{r['library']:>14}" for r in results)
    if len(results) == 2:
        head += f"{'ratio':>10}"
    print(head)
    for key, label, f in fields:
        line = f"{label:28}" + "".join(f"{f.format(r[key]):>14}" for r in results)
        if len(results) == 2 and key not in ("rows", "log_mean_spread", "log_p99_spread"):
            a, b = results[0][key], results[1][key]
            if a and b:
                ratio = b / a if key != "rows_per_s" else a / b
                line += f"{ratio:>9.1f}x"
        print(line)
    if len(results) == 2:
        print("ratio: how many times runship is better (wandb/runship; rows/s runship/wandb)")


if __name__ == "__main__":
    main()
