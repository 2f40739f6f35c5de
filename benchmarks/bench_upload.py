"""What uploading costs.

1. Upload amplification: bytes uploaded / bytes of the run, for a run logged
   while an uploader pass runs every N seconds, to a local directory
   (appends) and to an object store (memory://: chunks, then one whole object
   per closed segment). wandb's `sync` of a growing offline run re-uploads the
   whole history each time: O(n^2).
2. Throughput: MB/s of one pass of a finished run to a file:// target.
3. Idle rescan: one pass over 10,000 finished, fully uploaded runs.

Usage:
    python benchmarks/bench_upload.py [--seconds 20] [--every 1] [--runs 10000] [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import runship  # noqa: E402
from runship import store  # noqa: E402
from runship.uploader import State, Uploader  # noqa: E402


def _pass(url: str, roots: list[str], state: str):
    st = State(state)
    try:
        return Uploader(store.open(url), st, roots, stable_seconds=0).run_pass()
    finally:
        st.close()


def _run_bytes(run_dir: str) -> int:
    return sum(os.path.getsize(os.path.join(run_dir, n)) for n in os.listdir(run_dir) if n.endswith(".msgpack"))


def amplification(seconds: float, every: float, work: str) -> list[tuple[str, float, int, int, int]]:
    out = []
    for name, url in (
        ("file:// (append)", f"file://{work}/remote-file"),
        ("memory:// (object store)", "memory://bench-amp"),
    ):
        root = os.path.join(work, f"amp-{len(out)}")
        code = textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {os.path.dirname(HERE)!r})
            import runship
            run = runship.init(project="p", id="amp", dir={root!r}, settings={{"quiet": True}})
            end = time.time() + {seconds}
            i = 0
            while time.time() < end:
                run.log({{f"metric_{{k}}": i * 0.001 + k for k in range(10)}})
                i += 1
                if i % 1000 == 0:
                    time.sleep(0.01)  # a training step's worth of work
            run.finish()
            """
        )
        writer = subprocess.Popen([sys.executable, "-c", code])
        sent = passes = 0
        state = os.path.join(work, f"state-{len(out)}")
        while writer.poll() is None:
            time.sleep(every)
            if os.path.isdir(root):
                sent += _pass(url, [root], state).bytes
                passes += 1
        sent += _pass(url, [root], state).bytes
        passes += 1
        data = _run_bytes(os.path.join(root, "p", "amp"))
        json_bytes = os.path.getsize(os.path.join(root, "p", "amp", "run.json"))
        out.append((name, (sent - json_bytes) / data, data, sent, passes))
    return out


def throughput(rows: int, work: str) -> tuple[float, int, float]:
    root = os.path.join(work, "tp")
    run = runship.init(project="p", id="big", dir=root, settings={"quiet": True})
    for i in range(rows):
        run.log({f"metric_{k}": i * 0.001 + k for k in range(10)})
    run.finish()
    data = _run_bytes(run.run_dir)
    t0 = time.perf_counter()
    _pass(f"file://{work}/remote-tp", [root], os.path.join(work, "state-tp"))
    elapsed = time.perf_counter() - t0
    return data / elapsed / 1e6, data, elapsed


def rescan(n_runs: int, work: str) -> tuple[float, float]:
    root = os.path.join(work, "many")
    run = runship.init(project="p", id="seed", dir=root, settings={"quiet": True})
    run.log({"x": 1})
    run.finish()
    for i in range(n_runs - 1):
        shutil.copytree(run.run_dir, os.path.join(root, "p", f"r{i:05d}"))
    state = os.path.join(work, "state-many")
    t0 = time.perf_counter()
    first = _pass(f"file://{work}/remote-many", [root], state)
    first_s = time.perf_counter() - t0
    assert first.failures == [] and first.runs_seen == n_runs
    t0 = time.perf_counter()
    second = _pass(f"file://{work}/remote-many", [root], state)
    second_s = time.perf_counter() - t0
    assert second.runs_skipped == n_runs and second.bytes == 0
    return first_s, second_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20, help="how long the run logs while being uploaded")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between upload passes")
    ap.add_argument("--rows", type=int, default=200_000, help="rows of the run for the throughput figure")
    ap.add_argument("--runs", type=int, default=10_000, help="finished runs for the rescan figure")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-upload-")
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        for name, ratio, data, sent, passes in amplification(args.seconds, args.every, work):
            print(
                f"amplification {name:26} {ratio:5.2f}  ({sent:,} bytes sent for {data:,} bytes of run, {passes} passes every {args.every:g} s)"
            )
        mbps, data, elapsed = throughput(args.rows, work)
        print(f"throughput to file://        {mbps:7.1f} MB/s  ({data:,} bytes in {elapsed:.2f} s)")
        first_s, second_s = rescan(args.runs, work)
        print(f"rescan of {args.runs:,} finished runs  {second_s:.3f} s  (first pass, uploading them: {first_s:.1f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
