"""Tailing a run directory on a shared filesystem: what is safe to upload.

Polling only (inotify does not see writes from other nodes), files reopened
on every pass (NFS close-to-open consistency), and never a byte past the last
commit record whose checksum holds.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from runship.reader.stream import Problem, StreamFile, iter_records
from runship.schema import format as fmt

FINGERPRINT_BYTES = 256


def fingerprint(path: str) -> str:
    """A file's identity: a hash of its first bytes (its header names run,
    session and segment). Never inode or device numbers."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(FINGERPRINT_BYTES)).hexdigest()[:32]


@dataclass
class Scan:
    boundary: int  # offset just past the last good commit record
    finished: bool = False  # a finish record was committed in the scanned bytes
    problems: list[Problem] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # offsets past each good commit record

    @property
    def corrupt(self) -> Problem | None:
        return next((p for p in self.problems if p.is_corruption), None)


def scan(path: str, start: int, size: int) -> Scan:
    """Verify the batches in bytes [start, size) of ``path``; ``start`` is a
    commit boundary already verified (0 for a new file)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(size - start)
    sf = StreamFile(path=path, name=os.path.basename(path), stream="?", session="?", segment=0, ends=[])
    finished = False
    for rec in iter_records(data, sf):
        if rec.get("k") == fmt.FINISH:
            finished = True
    problems = [Problem(p.path, p.offset + start, p.kind, p.message) for p in sf.problems]
    ends = [start + e for e in sf.ends or ()]
    return Scan(boundary=start + sf.committed, finished=finished, problems=problems, ends=ends)


@dataclass
class LocalFile:
    name: str
    path: str
    stream: str
    session: str
    segment: int
    size: int


def stream_files(run_dir: str) -> list[LocalFile]:
    out = []
    with os.scandir(run_dir) as it:
        for e in it:
            parsed = fmt.parse_stream_file_name(e.name)
            if parsed is None or not e.is_file():
                continue
            stream, session, segment = parsed
            out.append(LocalFile(e.name, e.path, stream, session, segment, e.stat().st_size))
    out.sort(key=lambda f: (f.session, f.stream, f.segment))
    return out


def left_files(files: list[LocalFile], finished_sessions: set[str]) -> set[str]:
    """Names of files their writer has left for good: a later segment of the
    same stream and session exists, or a later session exists, or their
    session wrote its finish record."""
    left = set()
    sessions = sorted({f.session for f in files})
    newest = sessions[-1] if sessions else None
    last_segment: dict[tuple[str, str], int] = {}
    for f in files:
        key = (f.stream, f.session)
        last_segment[key] = max(last_segment.get(key, -1), f.segment)
    for f in files:
        if f.session != newest or f.session in finished_sessions or f.segment < last_segment[(f.stream, f.session)]:
            left.add(f.name)
    return left
