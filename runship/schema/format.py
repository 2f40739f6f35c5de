"""The on-disk format: names, record kinds and framing records.

This module is the single place that knows how a run directory is laid out and
what the framing records (header, commit) look like. ``docs/FORMAT.md`` is the
normative description; keep the two in step and bump ``FORMAT_VERSION`` on
purpose only.
"""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from typing import Any

import msgpack

from runship.schema import names

FORMAT_NAME = "runship"
#: Version 2: the commit record's own bytes are covered by its checksum
#: (see ``commit_record``). Version 3: history rows are written as ``rows``
#: blocks (many rows with the same keys in one record); its framing is
#: version 2's. Readers read versions 1 to 3.
FORMAT_VERSION = 3

#: File extension of every record stream file.
STREAM_SUFFIX = ".msgpack"
#: The stream holding the run's own events (start, config, rows, summary, finish).
RUN_STREAM = "run"

# Record kinds. Kinds are never renamed; new kinds may be added and readers
# ignore kinds they do not know.
HEADER = "header"  # first record of every file (framing, no sequence number)
COMMIT = "commit"  # ends every batch: length and CRC32 of the batch (framing)
START = "start"  # a session began: metadata, resume/reset, settings
CONFIG = "config"  # config updates: {"d": {...}}
ROW = "row"  # one history row: {"s": step, "d": {...}} (what versions 1 and 2 write)
ROWS = "rows"  # history rows with the same keys: {"keys": [K], "s": [R steps], "ts": [R times], "v": [R*K values]}
SUMMARY = "summary"  # explicit summary updates: {"d": {...}, "del": [...]}
HEARTBEAT = "heartbeat"  # written when nothing else was written for a while
SIGNAL = "signal"  # the process received a terminating signal
LOSS = "loss"  # records that could not be written or were dropped
METRIC = "metric"  # define_metric(): {"name", "step_metric", "step_sync", "hidden", "summary", "goal"}
ALERT = "alert"  # run.alert(): {"title", "text", "level", "wait_duration"}
FILE = "file"  # a file was saved under files/: {"path", "size", "sha256", "policy", "source"}
CODE = "code"  # save_code: {"program", "git": {"commit", "branch", "remote", "dirty"}}
ARTIFACT = "artifact"  # log_artifact: {"name", "type", "version", "aliases", "files", ...}
USE = "use"  # use_artifact: {"name", "version", "project", "type", "digest", "place"}
PREEMPTING = "preempting"  # run.mark_preempting()
ENVIRONMENT = "environment"  # host, user, python, packages, git, scheduler: once per session
STATS = "stats"  # in the "system" stream: {"d": {"cpu": ..., "gpu.0.gpu": ...}}
OUT = "out"  # in the "console" stream: {"s": "stdout"|"stderr", "text": line}
SYSTEM_STREAM = "system"
CONSOLE_STREAM = "console"
META = "meta"  # metadata changed during the session (name, tags, notes, ...)
NOTICE = "notice"  # an argument or setting that has no effect here
FINISH = "finish"  # the session ended: exit code and loss counters

MAX_NAME_LEN = names.MAX_NAME_LEN

# The commit record is packed with a fixed key order so that it starts with
# these bytes; the reader looks for them to tell a torn tail from a damaged
# batch that is followed by intact data.
COMMIT_MARKER = b"\x84" + msgpack.packb("k") + msgpack.packb(COMMIT)  # b"\x84\xa1k\xa6commit"


def validate_name(value: object, what: str) -> str:
    """Check a project or run id; return it, or raise ValueError naming it."""
    return names.check_id(value, what)


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _random_b36(n: int) -> str:
    # os.urandom rather than secrets: the same entropy without importing
    # hashlib and random at `import runship` time
    value = int.from_bytes(os.urandom(8), "big")
    out = []
    for _ in range(n):
        value, digit = divmod(value, 36)
        out.append(_B36[digit])
    return "".join(out)


def new_run_id() -> str:
    """A random 8-character lowercase base36 run id (as wandb's)."""
    return _random_b36(8)


def new_session_id(after: str | None = None, now: float | None = None) -> str:
    """A session id that sorts by time and is unique across machines.

    ``YYYYMMDDTHHMMSSmmmZ`` (UTC, milliseconds) followed by 6 random base36
    characters. ``after`` is the newest session id already in the run: if this
    machine's clock is behind, the new id still sorts after it.
    """
    t = time.time() if now is None else now
    ms = int(t * 1000)
    if after is not None:
        prev = session_time_ms(after)
        if prev is not None and ms <= prev:
            ms = prev + 1
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + f"{ms % 1000:03d}Z"
    return stamp + _random_b36(6)


def session_time_ms(session: str) -> int | None:
    """Milliseconds since the epoch encoded in a session id, or None."""
    try:
        import calendar

        base = calendar.timegm(time.strptime(session[:15], "%Y%m%dT%H%M%S"))
        return base * 1000 + int(session[15:18])
    except (ValueError, IndexError):
        return None


def stream_file_name(stream: str, session: str, segment: int) -> str:
    return f"{stream}-{session}-{segment:06d}{STREAM_SUFFIX}"


def parse_stream_file_name(name: str) -> tuple[str, str, int] | None:
    """``(stream, session, segment)`` for a stream file name (or a path ending
    in one), else None."""
    return names.parse_stream_name(name.rstrip("/").rsplit("/", 1)[-1])


#: Object stores have no append: bytes of a stream file still being written go
#: up as chunk objects ``<run>/.chunks/<file name>/<start>-<end>`` (byte range,
#: zero-padded); a closed file goes up whole, after which its chunks go away.
CHUNK_DIR = ".chunks"
_CHUNK_RE = re.compile(r"^([0-9]{16})-([0-9]{16})$")


def chunk_name(start: int, end: int) -> str:
    return f"{start:016d}-{end:016d}"


def parse_chunk_name(name: str) -> tuple[int, int] | None:
    m = _CHUNK_RE.match(name.rsplit("/", 1)[-1])
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    return (start, end) if end > start else None


def chunk_cover(chunks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The chunks that together hold bytes [0, n) for the largest n: a chain
    from offset 0 (overlaps are fine: every chunk holds a range of the same
    append-only file). Returns the chain in order."""
    pos = 0
    chain: list[tuple[int, int]] = []
    pending = sorted(chunks)
    while True:
        best = None
        for start, end in pending:
            if start > pos:
                break
            if end > pos and (best is None or end > best[1]):
                best = (start, end)
        if best is None:
            return chain
        chain.append(best)
        pos = best[1]


def rows_of_record(rec: dict[str, Any]) -> list[tuple[dict[str, Any], int, float]]:
    """The history rows a (checked) record holds, each as (values, step, time):
    one for a ``row`` record, len(s) for a ``rows`` block, none for any other kind."""
    kind = rec.get("k")
    if kind == ROW:
        return [(rec["d"], rec["s"], rec["t"])]
    if kind != ROWS:
        return []
    keys, values = rec["keys"], rec["v"]
    width = len(keys)
    return [
        (dict(zip(keys, values[i * width : (i + 1) * width])), step, t)
        for i, (step, t) in enumerate(zip(rec["s"], rec["ts"]))
    ]


def header_record(*, t: float, project: str, run: str, session: str, stream: str, segment: int) -> dict[str, Any]:
    return {
        "k": HEADER,
        "t": t,
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "project": project,
        "run": run,
        "session": session,
        "stream": stream,
        "segment": segment,
    }


# Version 2 commit record: always 43 bytes, with fixed-width fields, so that
# its checksum can cover its own bytes up to the checksum itself:
#   84 a1 6b a6 "commit"  a1 74 cb <t: float64>  a3 "len" cf <len: uint64>  a3 "crc" ce <crc: uint32>
_T_KEY = COMMIT_MARKER + b"\xa1t\xcb"
_LEN_KEY = b"\xa3len\xcf"
_CRC_KEY = b"\xa3crc\xce"
_COMMIT_V2 = struct.Struct(">13sd5sQ5s")
COMMIT_SIZE = _COMMIT_V2.size + 4  # 43
# byte positions that are the same in every version 2 commit record
COMMIT_FIXED = [(0, _T_KEY), (21, _LEN_KEY), (34, _CRC_KEY)]


def commit_record(length: int, crc: int, t: float) -> bytes:
    """The packed commit record for a batch of ``length`` bytes whose CRC32 is ``crc``.

    The batch is every byte since the end of the previous commit record (or the
    start of the file), the header included. The record's ``crc`` field is the
    CRC32 of the batch followed by the commit record's own bytes up to that
    field's value, so a changed byte anywhere in a committed file is seen.
    """
    head = _COMMIT_V2.pack(_T_KEY, t, _LEN_KEY, length, _CRC_KEY)
    return head + struct.pack(">I", zlib.crc32(head, crc))


def commit_record_v1(length: int, crc: int, t: float) -> bytes:
    """A version 1 commit record (its CRC covers the batch only). For tests."""
    packed: bytes = msgpack.packb({"k": COMMIT, "t": t, "len": length, "crc": crc})
    return packed


Bytes = bytes | bytearray | memoryview


def check_commit(version: int, batch: Bytes, raw: Bytes) -> str | None:
    """Does the commit record ``raw`` commit ``batch`` (both bytes-like)?
    None if it does, else what is wrong."""
    if version >= 2:
        raw = bytes(raw)
        if len(raw) != COMMIT_SIZE or any(raw[at : at + len(fixed)] != fixed for at, fixed in COMMIT_FIXED):
            return "damaged commit record"
        _, _, _, size, _ = _COMMIT_V2.unpack(raw[: _COMMIT_V2.size])
        crc = int.from_bytes(raw[-4:], "big")
        if size != len(batch):
            return f"batch of {len(batch)} bytes fails its length (commit record says {size})"
        if crc != zlib.crc32(raw[: _COMMIT_V2.size], zlib.crc32(batch)):
            return f"batch of {len(batch)} bytes fails its checksum"
        return None
    try:
        rec = msgpack.unpackb(bytes(raw[:256]), raw=False)
    except Exception:
        return "damaged commit record"
    if type(rec) is not dict:
        return "damaged commit record"
    said, claimed = rec.get("len"), rec.get("crc")
    if said != len(batch):
        return f"batch of {len(batch)} bytes fails its length (commit record says {said!r:.20})"
    if claimed != zlib.crc32(batch):
        return f"batch of {len(batch)} bytes fails its checksum"
    return None


def looks_like_commit(tail: Bytes) -> bool:
    """Do the last bytes of ``tail`` look like a version 2 commit record with a
    few bytes changed? (A torn write leaves a commit record's start, never
    its end without its start.)"""
    if len(tail) < COMMIT_SIZE:
        return False
    raw = tail[-COMMIT_SIZE:]
    total = sum(len(fixed) for _, fixed in COMMIT_FIXED)
    same = sum(a == b for at, fixed in COMMIT_FIXED for a, b in zip(raw[at : at + len(fixed)], fixed))
    return bool(same >= total - 3)


def crc32(data: Bytes, value: int = 0) -> int:
    return zlib.crc32(data, value)
