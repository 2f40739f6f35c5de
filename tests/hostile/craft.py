"""Hand-made run directories: records with valid framing (a header, commit
records whose checksums hold) and whatever content an attacker chooses."""

from __future__ import annotations

import os
import zlib

import msgpack

from runship.schema import format as fmt

SESSION = "20260101T000000000Zabcdef"
T = 1.7e9


def start(n: int = 0) -> dict:
    return {"k": "start", "n": n, "t": T, "session": SESSION, "settings": {}}


def row(step: int, d: dict, n: int = 1, t: float = T) -> dict:
    return {"k": "row", "n": n, "t": t, "s": step, "d": d}


def rows(steps: list[int], keys: list[str], values: list, n: int = 1, t: float = T) -> dict:
    """A rows block (format version 3): len(steps) rows of len(keys) values each."""
    return {
        "k": "rows",
        "n": n,
        "t": t,
        "keys": keys,
        "s": steps,
        "ts": [t + i for i in range(len(steps))],
        "v": values,
    }


def committed(batches, project="p", run="r", session=SESSION, stream="run", segment=0) -> bytes:
    """A stream file: a header, then each batch (records as dicts or raw
    bytes) followed by a version-2 commit record that checks out."""
    header = msgpack.packb(
        fmt.header_record(t=T, project=project, run=run, session=session, stream=stream, segment=segment)
    )
    out = b""
    for i, batch in enumerate(batches):
        body = (header if i == 0 else b"") + b"".join(
            r if isinstance(r, (bytes, bytearray)) else msgpack.packb(r) for r in batch
        )
        out += body + fmt.commit_record(len(body), zlib.crc32(body), T)
    return out


def write_run(root, batches, project="p", run="r", stream="run") -> str:
    d = os.path.join(str(root), project, run)
    os.makedirs(os.path.join(d, "files"), exist_ok=True)
    with open(os.path.join(d, fmt.stream_file_name(stream, SESSION, 0)), "wb") as f:
        f.write(committed(batches, project, run, stream=stream))
    return d


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident set size (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")
