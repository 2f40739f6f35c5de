"""A stalled disk: how long log() is held up, and what memory it costs, under
the "wait" and "drop" policies.

    python benchmarks/bench_stall.py [--stall 2.0] [--rows 200000]

The writer thread is blocked (its I/O lock held, as on a write that does not
return) for --stall seconds while the training loop logs --rows rows of 10
floats; max_buffer_bytes is 4 MB. Figures only, nothing asserted (the tests
in tests/reliability/test_resources.py assert the behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import json, threading, time, runship
run = runship.init(project="p", id="stall", dir={root!r},
                   settings={{"quiet": True, "max_buffer_bytes": 4_000_000, "on_buffer_full": {policy!r},
                              "flush_interval": 0.05, "environment": False, "console": "off"}})
row = {{f"metric_{{k}}": 0.5 for k in range(10)}}
def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
for i in range(1000):
    run.log(row)
run.flush()
base = hwm()
io = run._writer._io
io.acquire()
threading.Timer({stall}, io.release).start()
t0 = time.perf_counter()
for i in range({rows}):
    run.log(row)
held = time.perf_counter() - t0
peak = hwm()
run.finish()
print(json.dumps({{"seconds": held, "rss_growth_mib": (peak - base) / 1024, "dropped": run._run_stream.dropped_records}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stall", type=float, default=2.0)
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    for policy in ("wait", "drop"):
        with tempfile.TemporaryDirectory() as root:
            code = CHILD.format(root=root, policy=policy, stall=args.stall, rows=args.rows)
            env = {**os.environ, "PYTHONPATH": ROOT}
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{policy}: {args.rows} rows logged in {r['seconds']:.2f} s during a {args.stall:g} s stall; "
                f"RSS grew {r['rss_growth_mib']:.1f} MiB; {r['dropped']} rows dropped"
            )


if __name__ == "__main__":
    main()
