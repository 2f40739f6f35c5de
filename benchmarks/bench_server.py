"""Ingest speed of `runship serve` on loopback: MB/s and appends/s with 1, 4
and 16 concurrent uploaders (processes), each appending its own run's
committed batches over HTTP with the uploader's HTTP target.

Usage:
    python benchmarks/bench_server.py [--rows 20000] [--small-rows 2000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import msgpack  # noqa: E402

import runship  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_run(root: str, run_id: str, rows: int, flush_every: int) -> tuple[str, bytes, list[int]]:
    run = runship.init(
        project="bench", id=run_id, dir=root, settings={"quiet": True, "flush_interval": 3600}, reinit="create_new"
    )
    for i in range(rows):
        run.log({f"metric_{k}": i * 0.001 + k for k in range(10)})
        if (i + 1) % flush_every == 0:
            run.flush()
    run.finish()
    (name,) = [n for n in os.listdir(run.run_dir) if n.endswith(".msgpack")]
    with open(os.path.join(run.run_dir, name), "rb") as f:
        data = f.read()
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    ends = [u.tell() for rec in u if rec["k"] == "commit"]
    return name, data, ends


def _push(args) -> tuple[int, int, float]:
    url, run_id, name, data, ends = args
    from runship.store.http import HttpBackend

    t = HttpBackend(url, token=TOKEN)
    t0 = time.perf_counter()
    pos = 0
    for end in ends:
        pos = t.push("bench", run_id, name, pos, data[pos:end])
    t.close()
    return len(data), len(ends), time.perf_counter() - t0


def measure(url: str, runs: list, clients: int) -> tuple[float, float]:
    jobs = [(url, *r) for r in runs]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(clients) as pool:
        results = pool.map(_push, jobs)
    elapsed = time.perf_counter() - t0
    total = sum(r[0] for r in results)
    appends = sum(r[1] for r in results)
    return total / elapsed / 1e6, appends / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000, help="rows per run, large batches (MB/s)")
    ap.add_argument("--small-rows", type=int, default=2000, help="rows per run, one row per batch (appends/s)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-server-")
    port = _free_port()
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{TOKEN} rw *\n")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runship.cli",
            "serve",
            "--root",
            os.path.join(work, "served"),
            "--port",
            str(port),
            "--token-file",
            tokens,
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, server and clients on this machine")
        print(f"{'uploaders':>10} {'MB/s (batches of 500 rows)':>28} {'appends/s (1 row a batch)':>27}")
        for clients in (1, 4, 16):
            big, small = [], []  # fresh runs for every measurement
            for i in range(clients):
                rid = f"b{clients}-{i}"
                big.append((rid, *_make_run(os.path.join(work, "big"), rid, args.rows, 500)))
                rid = f"s{clients}-{i}"
                small.append((rid, *_make_run(os.path.join(work, "small"), rid, args.small_rows, 1)))
            mbps, _ = measure(url, big, clients)
            _, aps = measure(url, small, clients)
            print(f"{clients:>10} {mbps:>28.1f} {aps:>27.0f}")
        print(
            f"batch sizes: {len(big[0][2]) / len(big[0][3]) / 1e3:.1f} kB and {len(small[0][2]) / len(small[0][3]):.0f} B"
        )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
