"""How close log() is to the floor of its design, in this interpreter, now.

The floor is a copy of the operations of log()'s common call with nothing
else around them: no run, no writer thread, no packing. The type check of
the values, the keys as a tuple compared with the block's, the lock, the
clock, three list appends and the step. Both are timed in one process, in
alternating rounds over the same rows, so that the machine's drift (up to
1.7x here over tens of minutes) applies to both. The copy is deliberate: when
log()'s common call changes, change ``Floor.log`` with it.

    python benchmarks/bench_floor.py [--keys 1,10,100] [--calls 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runship
from runship.schema.values import FLOAT_TYPES


class _Block:
    def __init__(self, keys: tuple) -> None:
        self.block_keys, self.block_type, self.block_rows = keys, dict, 1 << 62
        self.block_steps: list = []
        self.block_values: list = []
        self.block_times: list = []


class Floor:
    """log()'s common call and nothing else (runship/writer/run.py, Run.log)."""

    def __init__(self, keys: tuple) -> None:
        self._hot = self._fast = True
        self._lock = threading.Lock()
        self._step = 0
        self._run_stream = _Block(keys)

    def log(self, data, step=None, commit=None):
        if self._hot and type(data) is dict:
            if FLOAT_TYPES.issuperset(map(type, data.values())):
                vals = data.values()
                kind = dict
            else:
                raise TypeError("the floor takes floats only")
            if step is not None or commit is False:
                raise TypeError("the floor takes the common call only")
            st = self._run_stream
            keys = tuple(data)
            lock = self._lock
            lock.acquire()
            try:
                if self._fast:
                    steps = st.block_steps
                    if keys != st.block_keys or kind is not st.block_type or len(steps) >= st.block_rows:
                        raise RuntimeError("one block")
                    n = self._step
                    values, times = st.block_values, st.block_times
                    values.extend(vals)
                    times.append(time.time())
                    steps.append(n)
                    self._step = n + 1
                    return
            finally:
                lock.release()


def _time(log, rows: list, calls: int) -> float:
    t0 = time.perf_counter()
    for i in range(calls):
        log(rows[i % len(rows)])
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default="1,10,100")
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}; {args.rounds} alternating rounds of {args.calls} calls; medians")
    print(f"{'keys':>5} {'floor (us)':>11} {'log() (us)':>11} {'log() - floor':>14}")
    for k in (int(x) for x in args.keys.split(",")):
        names = [f"metric_{i}" for i in range(k)]  # the same key objects in every row, as in real code
        rows = [dict(zip(names, (i * 0.001 + j for j in range(k)))) for i in range(1000)]
        run = runship.init(project="floor", dir=tempfile.mkdtemp(), settings={"quiet": True})
        floors, logs = [], []
        for _ in range(args.rounds):
            floor = Floor(tuple(names))  # a new one a round: its lists grow without a writer
            floors.append(_time(floor.log, rows, args.calls))
            logs.append(_time(run.log, rows, args.calls))
        run.finish()
        f, g = statistics.median(floors), statistics.median(logs)
        print(f"{k:>5} {f:>11.2f} {g:>11.2f} {g - f:>14.2f}")


if __name__ == "__main__":
    main()
