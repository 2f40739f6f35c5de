"""What the worst content costs: a runship server ingesting a 64 MiB body,
and `runship history` reading the stored run back, with peak RSS measured.

    python benchmarks/bench_hostile.py [--mib 64]

Bodies (each a whole committed batch with a valid checksum, so that only the
content is hostile):

- "tiny maps": 7-byte records ``{"k": "", "t": 0}``, the most records a body
  can hold that pass the framing checks (about 9.6 million in 64 MiB);
- "empty maps": ``\\x80`` bytes (64 million records that cannot be records),
  which the server refuses;
- "rows": ordinary rows of 10 floats, for comparison.

Figures go to stdout; nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import msgpack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from runship.schema import format as fmt  # noqa: E402

SESSION = "20260101T000000000Zabcdef"


def body(kind: str, size: int, run: str) -> bytes:
    header = msgpack.packb(fmt.header_record(t=1.7e9, project="p", run=run, session=SESSION, stream="run", segment=0))
    room = size - len(header) - fmt.COMMIT_SIZE
    if kind == "tiny maps":
        records = b"\x82\xa1k\xa0\xa1t\x00" * (room // 7)
    elif kind == "empty maps":
        records = b"\x80" * room
    else:
        one = msgpack.packb({"k": "row", "n": 0, "t": 1.7e9, "s": 0, "d": {f"metric_{i}": i / 7 for i in range(10)}})
        records = one * (room // len(one))
    data = header + records
    return data + fmt.commit_record(len(data), zlib.crc32(data), 1.7e9)


def peak_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def current_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(root: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runship.cli", "serve", "--root", root, "--port", str(port), "--no-auth"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            c.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_peak(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of a command."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": ROOT}
    )
    peak = 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, peak_mib(proc.pid))
        except OSError:
            pass
        time.sleep(0.05)
    return time.monotonic() - t0, peak, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=64, help="body size in MiB (the server's default limit is 64)")
    args = ap.parse_args()
    size = args.mib * 1024 * 1024
    work = tempfile.mkdtemp(prefix="runship-bench-hostile-")
    port = free_port()
    server = start_server(os.path.join(work, "served"), port)
    try:
        print(f"server at rest: {current_mib(server.pid):.0f} MiB RSS")
        for i, kind in enumerate(("rows", "tiny maps", "empty maps")):
            run = f"r{i}"
            data = body(kind, size, run)
            before = current_mib(server.pid)
            t0 = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            name = fmt.stream_file_name("run", SESSION, 0)
            conn.request("PATCH", f"/v1/runs/p/{run}/streams/{name}", body=data, headers={"Upload-Offset": "0"})
            status = conn.getresponse().status
            took = time.monotonic() - t0
            print(
                f"{kind:>10}: {len(data) / 2**20:.0f} MiB body -> HTTP {status} in {took:.1f} s; "
                f"server peak RSS {peak_mib(server.pid):.0f} MiB (was {before:.0f} MiB before this body)"
            )
            del data
            if status == 204:
                run_dir = os.path.join(work, "served", "p", run)
                cmd = [sys.executable, "-m", "runship.cli", "history", run_dir, "--format", "jsonl"]
                wall, peak, code = child_peak(cmd)
                print(f"{'':>10}  runship history on it: {wall:.1f} s, peak RSS {peak:.0f} MiB (exit {code})")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
