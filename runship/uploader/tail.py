"""Tailing a run directory on a shared filesystem: what is safe to upload.

Polling only (inotify does not see writes from other nodes), files reopened
on every pass (NFS close-to-open consistency), and never a byte past the last
commit record whose checksum holds. Another user may own the run directory:
everything is reached relative to the run directory's descriptor without
following links (``runship.safefile``), only regular files are read, and
files are streamed, never read whole.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from runship import safefile
from runship.reader.stream import Problem, StreamFile, batches, read_header
from runship.schema import annotations as annotation_schema
from runship.schema import format as fmt

FINGERPRINT_BYTES = 256


def fingerprint(dir_fd: int, name: str) -> str:
    """A file's identity: a hash of its first bytes (its header names run,
    session and segment). Never inode or device numbers."""
    fd = safefile.open_regular(dir_fd, name)
    try:
        return hashlib.sha256(os.pread(fd, FINGERPRINT_BYTES, 0)).hexdigest()[:32]
    finally:
        os.close(fd)


@dataclass
class Scan:
    boundary: int  # offset just past the last good commit record
    finished: bool = False  # a finish record was committed in the scanned bytes
    problems: list[Problem] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # offsets past each good commit record

    @property
    def corrupt(self) -> Problem | None:
        return next((p for p in self.problems if p.is_corruption), None)


def scan(dir_fd: int, name: str, start: int, size: int) -> Scan:
    """Verify the batches in bytes [start, size) of the stream file ``name``;
    ``start`` is a commit boundary already verified (0 for a new file).
    Memory: one batch at a time."""
    sf = StreamFile(path=name, name=name, stream="?", session="?", segment=0, ends=[])
    finished = False
    with os.fdopen(safefile.open_regular(dir_fd, name), "rb") as f:
        if start > 0:
            read_header(f, sf)
        for batch in batches(f, sf, start, end=size):
            if not finished and batch.has_finish():
                finished = True
    boundary = sf.committed if sf.committed else start
    return Scan(boundary=boundary, finished=finished, problems=list(sf.problems), ends=list(sf.ends or ()))


def read_range(dir_fd: int, name: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of a regular file below ``dir_fd``."""
    fd = safefile.open_regular(dir_fd, name)
    try:
        parts = []
        pos = start
        while pos < end:
            data = os.pread(fd, min(end - pos, 1 << 24), pos)
            if not data:
                raise OSError(f"{name} is shorter than {end} bytes")
            parts.append(data)
            pos += len(data)
        return b"".join(parts)
    finally:
        os.close(fd)


@dataclass
class LocalFile:
    name: str
    stream: str
    session: str
    segment: int
    size: int


def stream_files(entries: list[tuple[str, str, int]]) -> tuple[list[LocalFile], list[tuple[str, str]]]:
    """The regular stream files among a run directory's ``entries`` (from
    ``safefile.entries``), and (name, kind) of stream-named entries that are
    not regular files."""
    out = []
    odd = []
    for name, kind, size in entries:
        parsed = fmt.parse_stream_file_name(name)
        if parsed is None:
            continue
        if kind != "file":
            odd.append((name, kind))
            continue
        stream, session, segment = parsed
        out.append(LocalFile(name, stream, session, segment, size))
    out.sort(key=lambda f: (f.session, f.stream, f.segment))
    return out, odd


def newest_session(files: list[LocalFile]) -> str | None:
    """The newest session of the run's writers: annotation files (each
    written whole by another program, with a session id of its own) are
    not a writer's session."""
    sessions = [f.session for f in files if f.stream != annotation_schema.STREAM]
    return max(sessions) if sessions else None


def left_files(files: list[LocalFile], finished_sessions: set[str]) -> set[str]:
    """Names of files their writer has left for good: a later segment of the
    same stream and session exists, or a later session exists, or their
    session wrote its finish record. An annotation file is left from the
    start: it appears whole (written, then linked into place)."""
    left = {f.name for f in files if f.stream == annotation_schema.STREAM}
    newest = newest_session(files)
    last_segment: dict[tuple[str, str], int] = {}
    for f in files:
        key = (f.stream, f.session)
        last_segment[key] = max(last_segment.get(key, -1), f.segment)
    for f in files:
        if f.session != newest or f.session in finished_sessions or f.segment < last_segment[(f.stream, f.session)]:
            left.add(f.name)
    return left
