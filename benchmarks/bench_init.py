"""init() and finish(): a fresh run against init(resume="allow") of a large
run, and finish() of a run that logged one row.

The large run is written once, by the writer itself (``runship.init`` and a
``log()`` loop, 2 floats a row), into a temporary directory (or ``--dir``,
kept and reused). Then, in this one process and in alternating rounds so that
the machine's drift applies to both: a fresh ``init()`` (a new id, one row,
``finish()``, whose time is taken too) and ``init(resume="allow")`` of the
large run (finished at once). Medians are printed; the target is resume at
most 3x fresh and finish() at most 10 ms.

    python benchmarks/bench_init.py [--rows 10000000] [--rounds 20] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runship

SETTINGS = {"quiet": True}


def make_big(root: str, rows: int) -> float:
    """The large run (``p/big``), unless it is there already; seconds taken."""
    if os.path.isdir(os.path.join(root, "p", "big")):
        return 0.0
    t0 = time.perf_counter()
    run = runship.init(project="p", id="big", dir=root, settings={**SETTINGS, "system_metrics": False})
    log = run.log
    for i in range(rows):
        log({"loss": 1.0 / (i + 1), "acc": i * 1e-7})
    run.finish()
    return time.perf_counter() - t0


def one_round(root: str, n: int) -> tuple[float, float, float, int]:
    """(fresh init, resume init, finish, the resumed run's step), seconds."""
    t0 = time.perf_counter()
    fresh = runship.init(project="p", id=f"fresh{n}", dir=root, reinit="finish_previous", settings=SETTINGS)
    t_fresh = time.perf_counter() - t0
    fresh.log({"loss": 1.0})
    t0 = time.perf_counter()
    fresh.finish()
    t_finish = time.perf_counter() - t0
    t0 = time.perf_counter()
    resumed = runship.init(project="p", id="big", dir=root, resume="allow", reinit="finish_previous", settings=SETTINGS)
    t_resume = time.perf_counter() - t0
    step = resumed.step
    resumed.finish()
    return t_fresh, t_resume, t_finish, step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--dir", default=None, help="where the large run is written (kept); default a temporary one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or tmp
        took = make_big(root, args.rows)
        if took:
            print(f"wrote a run of {args.rows:,} rows with the writer in {took:.1f} s")
        fresh, resume, finish = [], [], []
        for n in range(args.rounds):
            a, b, c, step = one_round(root, n)
            if step != args.rows:
                sys.exit(f"the resumed run would continue at step {step}, not {args.rows}")
            fresh.append(a)
            resume.append(b)
            finish.append(c)
        f, r, fin = (statistics.median(x) * 1000 for x in (fresh, resume, finish))
        print(f"fresh init():                {f:8.2f} ms (median of {args.rounds})")
        print(f"init(resume='allow'), {args.rows:,} rows: {r:8.2f} ms ({r / f:.2f}x fresh; target <= 3x)")
        print(f"finish() after one row:      {fin:8.2f} ms (target <= 10 ms)")


if __name__ == "__main__":
    main()
