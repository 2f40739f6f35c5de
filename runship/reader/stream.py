"""Reading one stream file: committed records, the uncommitted tail, corruption.

A stream file is a concatenation of msgpack maps in batches, each batch ended
by a commit record carrying the batch's length and CRC32. This module yields
the records of batches whose commit record checks out, stops at the first
thing that does not, and says what it found and at which byte offset:

- ``uncommitted-tail``: bytes after the last commit record that do not reach
  another commit record: a batch being written right now, or one cut short by
  a crash. Expected; not corruption.
- ``zero-tail``: the same, but the bytes are all NUL (a crash on some
  filesystems leaves these).
- ``corrupt``: bytes that are not what the writer wrote: a batch whose
  checksum or length fails, undecodable bytes or a non-map record followed by
  a later commit record, a damaged commit record.
- ``newer-version``: the file's header names a format version newer than this
  reader knows; the file is not read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgpack

from runship.schema import format as fmt

CORRUPTION = frozenset({"corrupt", "newer-version"})


@dataclass
class Problem:
    path: str
    offset: int
    kind: str
    message: str

    @property
    def is_corruption(self) -> bool:
        return self.kind in CORRUPTION

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (byte {self.offset}, {self.kind})"

    def to_dict(self) -> dict:
        return {"path": self.path, "offset": self.offset, "kind": self.kind, "message": self.message}


@dataclass
class StreamFile:
    """What was found in one stream file. ``records`` is filled by iterating."""

    path: str
    name: str
    stream: str
    session: str
    segment: int
    size: int = 0
    header: dict | None = None
    committed: int = 0  # offset just past the last good commit record
    batches: int = 0
    records: int = 0  # committed data records (header and commits excluded)
    problems: list[Problem] = field(default_factory=list)
    ends: list[int] | None = None  # when a list: the offset past each good commit record

    @property
    def clean(self) -> bool:
        return not self.problems


def iter_records(data: bytes, sf: StreamFile) -> Iterator[dict]:
    """Yield the committed data records of ``data`` (header and commit records
    excluded), filling ``sf`` with offsets, counts and problems."""
    sf.size = len(data)
    view = memoryview(data)
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=False,
        timestamp=3,
        max_buffer_size=max(len(data), 1024),
    )
    unpacker.feed(data)
    unpack = unpacker.unpack
    tell = unpacker.tell
    crc32 = zlib.crc32
    batch_start = pos = 0
    pending: list[dict] = []
    first = True
    while True:
        try:
            obj = unpack()
        except msgpack.OutOfData:
            break
        except Exception as e:  # FormatError, StackError, ValueError, ...
            _bad(data, pos, batch_start, sf, f"undecodable bytes ({type(e).__name__}: {e})")
            return
        end = tell()
        if type(obj) is not dict:
            _bad(data, pos, batch_start, sf, f"a record that is not a map ({type(obj).__name__})")
            return
        kind = obj.get("k")
        if first:
            first = False
            if kind == fmt.HEADER:
                sf.header = obj
                version = obj.get("version")
                if isinstance(version, int) and version > fmt.FORMAT_VERSION:
                    sf.problems.append(
                        Problem(
                            sf.path,
                            0,
                            "newer-version",
                            f"format version {version} is newer than this runship reads "
                            f"(up to {fmt.FORMAT_VERSION}); upgrade runship to read this file",
                        )
                    )
                    return
                pos = end
                continue
        if kind == fmt.COMMIT:
            length = obj.get("len")
            crc = obj.get("crc")
            if length != pos - batch_start or crc != crc32(view[batch_start:pos]):
                what = "length" if length != pos - batch_start else "checksum"
                sf.problems.append(
                    Problem(
                        sf.path,
                        batch_start,
                        "corrupt",
                        f"batch of {pos - batch_start} bytes fails its {what} "
                        f"(commit record at byte {pos} says len={length}, crc={crc})",
                    )
                )
                return
            if pending:
                yield from pending
                sf.records += len(pending)
                pending = []
            sf.batches += 1
            batch_start = end
            sf.committed = end
            if sf.ends is not None:
                sf.ends.append(end)
        else:
            pending.append(obj)
        pos = end
    if sf.committed < len(data):
        tail = view[sf.committed :]
        if not any(tail):
            sf.problems.append(
                Problem(sf.path, sf.committed, "zero-tail", f"{len(tail)} NUL bytes after the last commit record")
            )
        elif _commit_follows(data, sf.committed):
            # a commit record follows, but decoding never reached it intact:
            # the bytes of the batch before it were changed
            sf.problems.append(
                Problem(sf.path, batch_start, "corrupt", "batch that does not decode to its commit record")
            )
        elif pos == len(data) and pending and {"len", "crc"} <= pending[-1].keys():
            sf.problems.append(Problem(sf.path, batch_start, "corrupt", "damaged commit record at the end of the file"))
        else:
            sf.problems.append(
                Problem(
                    sf.path,
                    sf.committed,
                    "uncommitted-tail",
                    f"{len(tail)} bytes after the last commit record are uncommitted "
                    "(a batch being written, or cut short by a crash)",
                )
            )


def _bad(data: bytes, pos: int, batch_start: int, sf: StreamFile, what: str) -> None:
    rest = memoryview(data)[pos:]
    if _commit_follows(data, pos):
        # the damage is somewhere in the batch that starts at batch_start
        sf.problems.append(
            Problem(
                sf.path, batch_start, "corrupt", f"damaged batch: {what} at byte {pos}, before a later commit record"
            )
        )
    elif not any(rest):
        sf.problems.append(Problem(sf.path, pos, "zero-tail", f"{len(rest)} NUL bytes after the last commit record"))
    elif sf.committed < pos:
        sf.problems.append(
            Problem(
                sf.path,
                sf.committed,
                "uncommitted-tail",
                f"{len(data) - sf.committed} bytes after the last commit record are uncommitted "
                f"(cut short by a crash; {what} at byte {pos})",
            )
        )
    else:
        sf.problems.append(
            Problem(sf.path, pos, "uncommitted-tail", f"{len(rest)} uncommitted bytes at the end ({what})")
        )


def _commit_follows(data: bytes, start: int) -> bool:
    """Is there a complete commit record anywhere in ``data[start:]``? A
    crash can cut a commit record short; only a whole one shows that the
    bytes before it were meant to be a committed batch."""
    at = data.find(fmt.COMMIT_MARKER, start)
    while at >= 0:
        u = msgpack.Unpacker(raw=False)
        u.feed(data[at : at + 64])
        try:
            obj = u.unpack()
            if isinstance(obj, dict) and obj.get("k") == fmt.COMMIT and "crc" in obj:
                return True
        except Exception:
            pass
        at = data.find(fmt.COMMIT_MARKER, at + 1)
    return False


def describe(path: str) -> StreamFile | None:
    """A StreamFile for ``path`` if its name is a stream file name, else None."""
    parsed = fmt.parse_stream_file_name(path)
    if parsed is None:
        return None
    stream, session, segment = parsed
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return StreamFile(path=path, name=name, stream=stream, session=session, segment=segment)


def read_all(data: bytes, path: str = "<bytes>") -> tuple[list[dict], StreamFile]:
    """All committed records of one file's bytes, and what was found."""
    sf = describe(path) or StreamFile(path=path, name=path, stream="?", session="?", segment=0)
    return list(iter_records(data, sf)), sf
