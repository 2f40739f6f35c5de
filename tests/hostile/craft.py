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


WIDE = [[]] * 65000  # under 64 KiB packed, 65,000 empty lists decoded: the most objects a byte buys


def repeated(records: list[dict], stream: str = fmt.RUN_STREAM, size: int = 16 << 20) -> bytes:
    """A new stream file of ``records`` repeated up to about ``size``
    bytes, in batches of about 1 MiB, each with its commit record."""
    header = msgpack.packb(fmt.header_record(t=T, project="p", run="r", session=SESSION, stream=stream, segment=0))
    out, batch, first = bytearray(), bytearray(header), True
    i = 0
    while len(out) + len(batch) < size:
        rec = dict(records[i % len(records)])
        rec["n"] = i
        for key in ("d",):
            if isinstance(rec.get(key), dict):
                rec[key] = {k.replace("#", str(i)): v for k, v in rec[key].items()}
        batch += msgpack.packb(rec)
        i += 1
        if len(batch) >= 1 << 20:
            out += batch + fmt.commit_record(len(batch), zlib.crc32(batch), T)
            batch, first = bytearray(), False
    if batch and not (first and len(batch) == len(header)):
        out += batch + fmt.commit_record(len(batch), zlib.crc32(batch), T)
    return bytes(out)


def wide_run_file(kind: str) -> bytes:
    if kind == "config":
        recs = [{"k": "config", "t": T, "d": {"c#": WIDE}}]
    elif kind == "summary":
        recs = [{"k": "summary", "t": T, "d": {"s#": WIDE}}]
    else:  # rows whose values are wide: their last values make the summary
        recs = [{"k": "row", "t": T, "s": 0, "d": {"m#": WIDE}}]
    return repeated(recs)


def empty_rows_table(rows: int) -> bytes:
    """A table file (wandb.Table JSON) of ``rows`` empty rows: 3 bytes a row."""
    return b'{"columns": ["a"], "data": [' + b",".join([b"[]"] * rows) + b"]}"


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
