"""The on-disk format: names, record kinds and framing records.

This module is the single place that knows how a run directory is laid out and
what the framing records (header, commit) look like. ``docs/FORMAT.md`` is the
normative description; keep the two in step and bump ``FORMAT_VERSION`` on
purpose only.
"""

from __future__ import annotations

import os
import re
import time
import zlib

import msgpack

FORMAT_NAME = "runship"
FORMAT_VERSION = 1

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
ROW = "row"  # one history row: {"s": step, "d": {...}}
SUMMARY = "summary"  # explicit summary updates: {"d": {...}, "del": [...]}
HEARTBEAT = "heartbeat"  # written when nothing else was written for a while
SIGNAL = "signal"  # the process received a terminating signal
LOSS = "loss"  # records that could not be written or were dropped
METRIC = "metric"  # define_metric(): {"name", "step_metric", "step_sync", "hidden", "summary", "goal"}
ALERT = "alert"  # run.alert(): {"title", "text", "level", "wait_duration"}
FILE = "file"  # a file was saved under files/: {"path", "size", "sha256", "policy", "source"}
CODE = "code"  # save_code: {"program", "git": {"commit", "branch", "remote", "dirty"}}
ARTIFACT = "artifact"  # log_artifact: {"name", "type", "version", "aliases", "files", ...}
PREEMPTING = "preempting"  # run.mark_preempting()
ENVIRONMENT = "environment"  # host, user, python, packages, git, scheduler: once per session
STATS = "stats"  # in the "system" stream: {"d": {"cpu": ..., "gpu.0.gpu": ...}}
OUT = "out"  # in the "console" stream: {"s": "stdout"|"stderr", "text": line}
SYSTEM_STREAM = "system"
CONSOLE_STREAM = "console"
META = "meta"  # metadata changed during the session (name, tags, notes, ...)
NOTICE = "notice"  # an argument or setting that has no effect here
FINISH = "finish"  # the session ended: exit code and loss counters

_STREAM_RE = re.compile(r"^([a-z][a-z0-9_]*)-([0-9A-Za-z]+)-([0-9]{6,})\.msgpack$")
_NAME_RE_BAD = re.compile(r"[/\\\x00-\x1f\x7f]")
MAX_NAME_LEN = 128

# The commit record is packed with a fixed key order so that it starts with
# these bytes; the reader looks for them to tell a torn tail from a damaged
# batch that is followed by intact data.
COMMIT_MARKER = b"\x84" + msgpack.packb("k") + msgpack.packb(COMMIT)  # b"\x84\xa1k\xa6commit"


def validate_name(value: object, what: str) -> str:
    """Check a project or run id; return it, or raise ValueError naming it."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_NAME_LEN:
        raise ValueError(f"{what} is {len(value)} characters long, at most {MAX_NAME_LEN} allowed: {value[:40]!r}...")
    if value in (".", "..") or ".." in value:
        raise ValueError(f"{what} must not contain '..': {value!r}")
    if _NAME_RE_BAD.search(value) or not value.isprintable():
        raise ValueError(f"{what} must be printable and contain no path separator: {value!r}")
    if value != value.strip():
        raise ValueError(f"{what} must not start or end with whitespace: {value!r}")
    return value


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
    """``(stream, session, segment)`` for a stream file name, else None."""
    m = _STREAM_RE.match(os.path.basename(name))
    if not m:
        return None
    return m.group(1), m.group(2), int(m.group(3))


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
    chain = []
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


def header_record(*, t: float, project: str, run: str, session: str, stream: str, segment: int) -> dict:
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


def commit_record(length: int, crc: int, t: float) -> bytes:
    """The packed commit record for a batch of ``length`` bytes with CRC32 ``crc``.

    The batch is every byte since the end of the previous commit record (or the
    start of the file), the header included.
    """
    return msgpack.packb({"k": COMMIT, "t": t, "len": length, "crc": crc})


def crc32(data, value: int = 0) -> int:
    return zlib.crc32(data, value)
