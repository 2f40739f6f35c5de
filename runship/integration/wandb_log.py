"""The framing of wandb's run log (``run-<id>.wandb``): LevelDB's log format.

A 7-byte file header (``:W&B``, magic, version), then 32 KiB blocks of
fragments, each ``crc (4) | length (2) | type (1) | data``, a record split
across blocks as FIRST, MIDDLE..., LAST; a block's last bytes, too few for
a fragment header, are zeros. The CRC is wandb's: CRC-32 (zlib's) of the
type byte and the data, as ``wandb/sdk/internal/datastore.py`` writes and
checks it.

The log is input, whoever wrote it: it is read one block at a time; a
fragment whose CRC does not match is reported (file, byte offset) and the
record it belongs to skipped; a record larger than ``MAX_RECORD_BYTES`` is
reported and skipped, its fragments dropped as they come (a record is
never held past the limit); fragments are joined once, in linear time.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from runship.schema import limits

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
IDENT = b":W&B"
#: the largest record kept: runship's own record limit (a wandb record
#: larger than it could not become one runship record anyway)
MAX_RECORD_BYTES = limits.MAX_RECORD_BYTES
#: problems in one file before the rest of it is judged not a wandb log
MAX_PROBLEMS = 1000
_CRC_OF_TYPE = {kind: zlib.crc32(bytes([kind])) for kind in (FULL, FIRST, MIDDLE, LAST)}

__all__ = ["MAX_RECORD_BYTES", "records"]


class _Pending:
    """A record being joined from its fragments (or dropped: ``parts`` None)."""

    def __init__(self, offset: int, parts: list[bytes] | None):
        self.offset = offset
        self.parts = parts
        self.size = sum(map(len, parts or ()))


class _Reader:
    """The state of one pass over a log: the record being joined and the problems seen."""

    def __init__(self, path: str, warn: Callable[[str], None], limit: int):
        self.path = path
        self.warn = warn
        self.limit = limit
        self.pending: _Pending | None = None
        self.problems = 0

    def problem(self, offset: int, what: str) -> None:
        self.problems += 1
        self.warn(f"{self.path}: byte {offset}: {what}")

    def fragment(self, offset: int, kind: int, chunk: bytes, crc_ok: bool) -> bytes | None:
        """Take one fragment; returns a whole record when this one completes it."""
        if kind not in _CRC_OF_TYPE:
            self.problem(offset, f"a fragment of unknown type {kind}: skipped")
            return None
        if not crc_ok:
            self.problem(offset, "bad CRC: its record is skipped")
        if kind in (FULL, FIRST):
            if self.pending is not None:
                self.problem(self.pending.offset, "a record with no LAST fragment: skipped")
            self.pending = None
            if kind == FULL:
                return chunk if crc_ok else None
            self.pending = _Pending(offset, [chunk] if crc_ok else None)
            self._check_size()
            return None
        if self.pending is None:  # MIDDLE or LAST with no FIRST before it
            self.problem(offset, "a fragment in the middle of no record: skipped")
            return None
        if self.pending.parts is not None:
            if crc_ok:
                self.pending.parts.append(chunk)
                self.pending.size += len(chunk)
                self._check_size()
            else:
                self.pending.parts = None
        if kind == MIDDLE:
            return None
        done, self.pending = self.pending, None
        return b"".join(done.parts) if done.parts is not None else None

    def _check_size(self) -> None:
        pending = self.pending
        if pending is not None and pending.parts is not None and pending.size > self.limit:
            self.problem(pending.offset, f"a record larger than {self.limit} bytes: skipped")
            pending.parts = None  # the rest of its fragments are dropped as they come


def _fragments(block: bytes, base: int, start: int, reader: _Reader) -> Iterator[tuple[int, int, bytes, bool]]:
    """(offset, type, data, CRC matches) of each fragment of one block at
    file offset ``base``, from ``start`` in it."""
    pos = start
    while len(block) - pos >= HEADER:
        crc, length, kind = struct.unpack_from("<IHB", block, pos)
        if kind == 0 and length == 0 and crc == 0:
            return  # zeros: the rest of the block is padding
        end = pos + HEADER + length
        if end > len(block):
            if len(block) == BLOCK:  # a fragment never crosses a block
                reader.problem(base + pos, "a fragment longer than its block: the rest of the block is skipped")
            return  # else a torn tail: written while the run was killed
        chunk = block[pos + HEADER : end]
        expected = zlib.crc32(chunk, _CRC_OF_TYPE.get(kind, 0))
        yield base + pos, kind, chunk, crc == expected
        pos = end


def records(f: BinaryIO, path: str, warn: Callable[[str], None], limit: int = MAX_RECORD_BYTES) -> Iterator[bytes]:
    """The whole records of the wandb log open as ``f`` (named ``path`` in
    what ``warn`` is given), read one block at a time. ValueError if it is
    not a wandb log."""
    block = f.read(BLOCK)
    if block[:4] != IDENT:
        raise ValueError(f"{path}: not a wandb run log (no {IDENT.decode()!r} header)")
    reader = _Reader(path, warn, limit)
    base, start = 0, HEADER
    while block:
        for offset, kind, chunk, crc_ok in _fragments(block, base, start, reader):
            record = reader.fragment(offset, kind, chunk, crc_ok)
            if record is not None:
                yield record
        if reader.problems >= MAX_PROBLEMS:
            warn(f"{path}: {reader.problems} problems: the rest of the file is not read")
            return
        if len(block) < BLOCK:
            break
        base, start = base + BLOCK, 0
        block = f.read(BLOCK)
