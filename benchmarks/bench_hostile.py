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

Then the crafted 16 MiB uploads of one write token that the reader keeps
bounded (issue 24), each on a fresh server: ``config`` and ``summary``
records of 65,000 empty lists each, rows whose values are such lists, a
30 MB table of empty rows, and console lines of NUL characters (six in
JSON each); after each, three listings at once, the run page and, for the
table and the console, three pages at once, with the server's peak RSS.
``--only crafted`` runs just these.

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
import threading
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


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def at_once(port: int, paths: list[str]) -> list[tuple[int, float]]:
    """(status, seconds) of GETs of ``paths`` sent together."""
    out: list[tuple[int, float]] = [(0, 0.0)] * len(paths)

    def one(i: int) -> None:
        t0 = time.monotonic()
        status, _ = request(port, "GET", paths[i])
        out[i] = (status, time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def crafted(kind: str) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The uploads ((path, body) of PATCH or PUT) of a variant and the pages to ask for after them."""
    from tests.hostile.craft import SESSION, T, empty_rows_table, repeated, wide_run_file

    run = "/v1/runs/p/r/streams/" + fmt.stream_file_name("run", SESSION, 0)
    pages = ["/ui/api/run?run=0:p/r"]
    if kind in ("config", "summary", "row values"):
        return [(run, wide_run_file(kind))], pages
    small = repeated([{"k": "row", "t": T, "s": 0, "d": {"x": 1}}], size=4096)
    if kind == "table":
        table = "files/media/table/t_0.table.json"
        ref = {"_type": "table-file", "path": table, "ncols": 1, "nrows": 1}
        runfile = repeated([{"k": "row", "t": T, "s": 0, "d": {"t": ref}}], size=4096)
        page = f"/ui/api/table?run=0:p/r&path={table}"
        uploads = [(run, runfile), ("/v1/runs/p/r/derived/" + table, empty_rows_table(10_000_000))]
        return uploads, [*pages, page, page + "&offset=500", page + "&sort=a"]
    console = "/v1/runs/p/r/streams/" + fmt.stream_file_name("console", SESSION, 0)
    lines = repeated([{"k": fmt.OUT, "t": T, "s": "stdout", "text": "\x00" * 60_000}], "console")
    return [(run, small), (console, lines)], [*pages, *["/ui/api/console?run=0:p/r&limit=5000"] * 3]


def bench_crafted(work: str) -> None:
    print("crafted 16 MiB uploads (a fresh server each); the reader keeps at most 262,144 values a file")
    for i, kind in enumerate(("config", "summary", "row values", "table", "console")):
        port = free_port()
        server = start_server(os.path.join(work, f"crafted-{i}"), port)
        try:
            rest = current_mib(server.pid)
            uploads, pages = crafted(kind)
            for path, data in uploads:
                method = "PATCH" if "/streams/" in path else "PUT"
                status, _ = request(port, method, path, data, {"Upload-Offset": "0"})
                assert status == 204, (kind, path, status)
            del uploads
            listings = [at_once(port, ["/ui/api/runs", "/v1/projects/p/runs", "/ui/api/runs?project=p"])]
            listings.append(at_once(port, ["/ui/api/runs", "/v1/projects/p/runs", "/ui/api/runs?project=p"]))
            shown = at_once(port, pages)
            first, poll = (max(t for _, t in ls) for ls in listings)
            statuses = sorted({s for ls in [*listings, shown] for s, _ in ls})
            print(
                f"{kind:>11}: 3 listings at once {first:.2f} s (then {poll:.2f} s), {len(pages)} pages "
                f"{max(t for _, t in shown):.2f} s, HTTP {statuses}; server RSS {rest:.0f} MiB at rest, "
                f"peak {peak_mib(server.pid):.0f} MiB"
            )
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=64, help="body size in MiB (the server's default limit is 64)")
    ap.add_argument("--only", choices=["bodies", "crafted"], help="one part of the benchmark")
    args = ap.parse_args()
    if args.only != "bodies":
        work = tempfile.mkdtemp(prefix="runship-bench-crafted-")
        try:
            bench_crafted(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.only == "crafted":
        return
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
