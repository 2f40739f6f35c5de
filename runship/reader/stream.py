"""Reading one stream file: committed records, the uncommitted tail, corruption.

A stream file is a concatenation of msgpack maps in batches, each batch ended
by a commit record carrying the batch's length and CRC32. The file is read in
chunks: a first pass over each batch finds its records' boundaries without
building them (``Unpacker.skip``) and checks the commit record; only then are
the batch's records decoded, one at a time, with the format's limits
(``schema.limits``) and checked for shape (``schema.records``). Memory is
bounded by one batch (``MAX_BATCH_BYTES``) and one decoded record, whatever
the file holds.

What is found, by kind:

- ``uncommitted-tail``: bytes after the last commit record that do not reach
  another commit record: a batch being written right now, or one cut short by
  a crash. Expected; not corruption.
- ``zero-tail``: the same, but the bytes are all NUL (a crash on some
  filesystems leaves these).
- ``corrupt``: bytes that are not what the writer wrote: a batch whose
  checksum or length fails, undecodable bytes or a non-map record followed by
  a later commit record, a damaged commit record, a record or batch over the
  format's limits.
- ``bad-record``: a committed record of the wrong shape (a field of the wrong
  type, nesting too deep, a timestamp out of range); it is skipped and
  reading goes on.
- ``newer-version``: the file's header names a format version newer than this
  reader knows; the file is not read.
- ``header-name`` (corruption) and ``header-mismatch`` (a note): the
  header's project or run is no name (the name validator's), or not the
  run directory's; the run's names are its directory's
  (``RunView._check_names``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgpack

from runship.schema import format as fmt
from runship.schema import limits
from runship.schema.records import problem as record_problem

CORRUPTION = frozenset({"corrupt", "newer-version", "bad-record", "header-name"})
MAX_PROBLEMS = 20  # per file; more are counted, not kept
MAX_BAD_RECORDS = 1000  # per file: past this many, the file is not runship's and reading it stops
_MAP_FIRST = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])
_FINISH_KEY = b"\xa1k" + msgpack.packb(fmt.FINISH)


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

    def to_dict(self) -> dict[str, Any]:
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
    header: dict[str, Any] | None = None
    committed: int = 0  # offset just past the last good commit record
    batches: int = 0
    records: int = 0  # committed data records (header and commits excluded)
    problems: list[Problem] = field(default_factory=list)
    ends: list[int] | None = None  # when a list: the offset past each good commit record
    dropped_problems: int = 0  # problems past MAX_PROBLEMS, counted only
    bad_records: int = 0
    kept: int = 0  # values of its records other than rows kept decoded (limits.KEPT_ITEMS)

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def version(self) -> int:
        v = (self.header or {}).get("version")
        return v if type(v) is int else 1

    def reset(self) -> None:
        self.problems.clear()
        self.records = self.batches = self.committed = self.size = self.dropped_problems = self.bad_records = 0
        self.kept = 0
        if self.ends is not None:
            self.ends.clear()

    def add(self, offset: int, kind: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.path, offset, kind, message))
        else:
            self.dropped_problems += 1
            last = self.problems[-1]
            if not last.message.startswith("... and "):
                self.problems.append(Problem(self.path, offset, kind, "... and more problems of this file"))
            self.problems[-1].message = f"... and {self.dropped_problems} more problems in this file"


@dataclass
class Batch:
    """A verified batch: ``data`` holds the file's bytes [start, end) (its
    records, without the commit record); its records begin at ``first``
    (past the header in a file's first batch). The first pass notes only
    what the second needs: the records larger than SMALL_RECORD (decoded
    with their items counted) and those that may be finish records."""

    start: int
    end: int
    data: bytes
    first: int
    big: dict[int, int] = field(default_factory=dict)  # file offset -> size
    finish_at: list[tuple[int, int]] = field(default_factory=list)  # (file offset, size)
    fast: bool = False  # found by fast_batches: its records were not walked

    def has_finish(self) -> bool:
        """Does the batch hold a finish record? (Found from the raw bytes:
        every record the writer packs begins with its kind.)"""
        for off, size in self.finish_at:
            a = off - self.start
            try:
                rec = msgpack.unpackb(self.data[a : a + size], raw=False, **limits.UNPACK_LIMITS)
            except Exception:
                continue
            if isinstance(rec, dict) and rec.get("k") == fmt.FINISH:
                return True
        return False


#: what the functions below read: a binary file object (seekable), or bytes
Source = BinaryIO | bytes | bytearray | memoryview


def as_file(source: Source) -> BinaryIO:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    return source


def read_header(f: BinaryIO, sf: StreamFile) -> int:
    """Decode the file's first record into ``sf.header`` if it is a header;
    return the offset past it (0 if there is none). ``f`` is left anywhere."""
    f.seek(0)
    u = msgpack.Unpacker(max_buffer_size=limits.SMALL_RECORD, **limits.DECODE)
    u.feed(f.read(limits.SMALL_RECORD))
    try:
        obj = u.unpack()
    except Exception:
        return 0
    if type(obj) is dict and obj.get("k") == fmt.HEADER and record_problem(obj) is None:
        sf.header = obj
        return int(u.tell())
    return 0


def batches(
    source: Source, sf: StreamFile, start: int = 0, end: int | None = None, first: bool | None = None, keep: bool = True
) -> Iterator[Batch]:
    """The verified batches of a file object (or bytes) from ``start`` (a
    batch boundary: 0, or past a commit record) to ``end`` (default: its
    end). Fills ``sf`` with offsets, counts and problems. ``first``: the
    bytes at ``start`` begin the file (its header); by default when
    ``start`` is 0. Otherwise the file's version comes from ``sf.header``:
    call ``read_header`` first. ``keep=False``: check framing only (the
    yielded batches carry no data; nothing is copied)."""
    f = as_file(source)
    header_end = 0
    if first or (first is None and start == 0):
        header_end = read_header(f, sf)
        if sf.header is not None and sf.version > fmt.FORMAT_VERSION:
            sf.add(
                0,
                "newer-version",
                f"format version {sf.version} is newer than this runship reads "
                f"(up to {fmt.FORMAT_VERSION}); upgrade runship to read this file",
            )
            return
    yield from _Framer(f, sf, start, end, header_end, keep).run()


class _Framer:
    """The careful walk of ``batches``: every record's boundary found with
    ``Unpacker.skip`` (nothing decoded), each commit record checked against
    the bytes of its batch. ``win`` holds the file's bytes [base, base + len(win))."""

    def __init__(self, f: BinaryIO, sf: StreamFile, start: int, end: int | None, header_end: int, keep: bool):
        self.f, self.sf, self.start, self.header_end, self.keep = f, sf, start, header_end, keep
        self.version = sf.version
        f.seek(start)
        self.remaining = None if end is None else max(0, end - start)
        self.u = msgpack.Unpacker(max_buffer_size=limits.MAX_RECORD_BYTES + limits.READ_CHUNK)
        self.win = bytearray()
        self.base = self.batch_start = self.pos = self.last_start = self.first_record = start
        self.big: dict[int, int] = {}
        self.finish_at: list[tuple[int, int]] = []
        self.junk = 0  # maps too small to be a record (a record has at least k and t)
        self.eof = False

    def run(self) -> Iterator[Batch]:
        # the loop runs once per record: names looked up once
        skip, tell, win, start = self.u.skip, self.u.tell, self.win, self.start
        map_first, marker = _MAP_FIRST, fmt.COMMIT_MARKER
        startswith = win.startswith
        while True:
            try:
                skip()
            except msgpack.OutOfData:
                if self.eof:
                    break
                if not self._refill():
                    return
                continue
            except Exception as e:  # FormatError, StackError, ValueError, ...
                self._stop(f"undecodable bytes ({type(e).__name__}: {e})")
                return
            rec_end = start + tell()
            pos = self.last_start = self.pos
            at = pos - self.base
            lead = win[at]
            if lead not in map_first:
                self._stop(f"a record that is not a map (byte 0x{lead:02x})")
                return
            if lead == 0x84 and startswith(marker, at):
                batch = self._batch(pos, at, rec_end)
                if batch is None:
                    return
                yield batch
                self._committed(rec_end)
            elif pos == start and self.header_end:
                self.first_record = rec_end  # the header: read already
            elif not self._record(pos, at, lead, rec_end):
                return
            self.pos = rec_end
        self._end()

    def _refill(self) -> bool:
        """Feed the unpacker the next chunk (at the end of the bytes: ``eof``);
        False when the chunk holds a record over the format's limit (reported)."""
        n = limits.READ_CHUNK if self.remaining is None else min(limits.READ_CHUNK, self.remaining)
        chunk = self.f.read(n) if n else b""
        if not chunk:
            self.eof = True
            return True
        if self.remaining is not None:
            self.remaining -= len(chunk)
        try:
            self.u.feed(chunk)
        except msgpack.BufferFull:
            self._stop(f"a record larger than {limits.MAX_RECORD_BYTES} bytes")
            return False
        self.win += chunk
        return True

    def _batch(self, pos: int, at: int, rec_end: int) -> Batch | None:
        """The batch a commit record at ``pos`` ends, or None (reported) if it does not check out."""
        base, batch_start = self.base, self.batch_start
        with memoryview(self.win) as w:
            why = fmt.check_commit(self.version, w[batch_start - base : at], w[at : rec_end - base])
            data = bytes(w[batch_start - base : at]) if self.keep and why is None else b""
        if why is not None:
            self.sf.add(batch_start, "corrupt", f"{why} (commit record at byte {pos})")
            return None
        return Batch(batch_start, pos, data, self.first_record, self.big, self.finish_at)

    def _committed(self, rec_end: int) -> None:
        del self.win[: rec_end - self.base]
        self.base = self.batch_start = self.first_record = rec_end
        self.big, self.finish_at = {}, []
        sf = self.sf
        sf.batches += 1
        sf.committed = rec_end
        if sf.ends is not None:
            sf.ends.append(rec_end)

    def _record(self, pos: int, at: int, lead: int, rec_end: int) -> bool:
        """Note a data record of the batch; False past a limit (reported)."""
        size = rec_end - pos
        if size > limits.SMALL_RECORD:
            self.big[pos] = size
        elif lead < 0x82:
            self.junk += 1
            if self.junk > MAX_BAD_RECORDS:
                self.sf.add(self.batch_start, "corrupt", f"more than {MAX_BAD_RECORDS} maps too small to be records")
                return False
        if self.win.startswith(_FINISH_KEY, at + 1):
            self.finish_at.append((pos, size))
        if rec_end - self.batch_start > limits.MAX_BATCH_BYTES:
            self.sf.add(self.batch_start, "corrupt", f"no commit record within {limits.MAX_BATCH_BYTES} bytes")
            return False
        return True

    def _stop(self, what: str) -> None:
        _stop(self.f, self.win, self.base, self.pos, self.batch_start, self.sf, self.version, what)

    def _end(self) -> None:
        """The bytes after the last commit record (if any) judged."""
        batch_start = self.batch_start
        with memoryview(self.win) as w:
            tail = bytes(w[batch_start - self.base :])
        whole = self.pos == self.base + len(self.win) and self.last_start >= batch_start
        _tail(tail, batch_start, tail[self.last_start - batch_start :] if whole else None, self.sf, self.version)


class Fallback(Exception):
    """The optimistic reading of a file met something unusual: read it again
    the careful way (``batches``), which says exactly what is wrong."""


def fast_batches(source: Source, sf: StreamFile) -> Iterator[Batch]:
    """The verified batches of a version 2 file, found by looking for commit
    records with ``bytes.find`` instead of walking every record (no Python
    step per record). Optimistic: a candidate counts only if its length and
    checksum hold, the records of each batch are then checked to end exactly
    at it (``decode_batch(..., fast=True)``), and anything unusual raises
    Fallback, after which the caller reads the file with ``batches``. The
    bytes after the last commit record are always judged by ``batches``.
    Yields no batch before the header has been read (a file of another
    version raises Fallback)."""
    f = as_file(source)
    header_end = read_header(f, sf)
    if sf.header is None or sf.version < 2 or sf.version > fmt.FORMAT_VERSION:  # version 2's framing
        raise Fallback()
    marker, size = fmt.COMMIT_MARKER, fmt.COMMIT_SIZE
    f.seek(0)
    win = bytearray()
    base = batch_start = 0
    first_record = header_end
    search = 0  # file offset from which a commit record may still start
    eof = False
    while True:
        at = win.find(marker, search - base)
        if at < 0 or at + size > len(win):
            if eof:
                break
            if len(win) - (batch_start - base) > limits.MAX_BATCH_BYTES + size:
                raise Fallback()
            search = base + (at if at >= 0 else max(batch_start - base, len(win) - len(marker) + 1))
            chunk = f.read(limits.READ_CHUNK)
            if not chunk:
                eof = True
                continue
            win += chunk
            continue
        commit_at = base + at
        with memoryview(win) as w:
            why = fmt.check_commit(fmt.FORMAT_VERSION, w[batch_start - base : at], w[at : at + size])
            data = bytes(w[batch_start - base : at]) if why is None else b""
        if why is not None:
            search = commit_at + 1  # a marker inside a value, or a damaged commit record
            continue
        yield Batch(batch_start, commit_at, data, first_record, {}, [], fast=True)
        end = commit_at + size
        del win[: end - base]
        base = batch_start = first_record = search = end
        sf.batches += 1
        sf.committed = end
        if sf.ends is not None:
            sf.ends.append(end)
    if batch_start < base + len(win):  # an uncommitted tail, or damage: the careful way says which
        yield from batches(f, sf, batch_start, first=batch_start == 0)


def iter_records(source: Source, sf: StreamFile, start: int = 0) -> Iterator[dict[str, Any]]:
    """Yield the committed data records of a file object or bytes (header
    and commit records excluded), each checked for shape; fill ``sf``."""
    f = as_file(source)
    if start == 0:
        sf.size = file_size(f)
    try:
        for batch in batches(f, sf, start):
            yield from decode(batch, sf)
    except TooManyBad:
        return


def decode(batch: Batch, sf: StreamFile) -> Iterator[dict[str, Any]]:
    """The records of a verified batch, decoded with the format's limits and
    checked for shape; a record that fails is reported and skipped (past
    MAX_BAD_RECORDS in a file, the rest of the file is not read)."""
    reader = RecordReader(batch, sf)
    stop = batch.end - batch.start
    pos = batch.first - batch.start
    while pos < stop:
        rec, pos = reader.read(pos)
        if rec is not None:
            sf.records += 1
            yield rec


class TooManyBad(Exception):
    """More than MAX_BAD_RECORDS bad records in one file: the rest is not read."""


class RecordReader:
    """Decodes a verified batch's records (``Batch``), at the offsets its
    reader asks for: the one way both ``decode`` and the columnar decoder
    (``columns.decode_batch``) turn a record's bytes into a checked record.
    A record larger than SMALL_RECORD (``batch.big``) is decoded counting
    its items; the others through one unpacker over the batch's bytes, kept
    while the reader reads on from where the last record ended (``forget``
    when it skipped bytes itself). A record that fails is reported in
    ``sf`` (``bad_record``)."""

    def __init__(self, batch: Batch, sf: StreamFile):
        self.batch, self.sf = batch, sf
        self.view = memoryview(batch.data)
        self._u: Any = None
        self._u_base = 0

    def forget(self) -> None:
        """The next read is not where the last one ended."""
        self._u = None

    def read(self, pos: int) -> tuple[dict[str, Any] | None, int]:
        """(the record at ``pos`` of the batch, None if it failed its checks),
        and where the next record starts."""
        batch, view = self.batch, self.view
        size = batch.big.get(batch.start + pos)
        rec: Any
        try:
            if size is not None:
                rec = limits.decode_counted(view[pos : pos + size])
                nxt, self._u = pos + size, None
            else:
                u = self._u
                if u is None:  # reads the batch's bytes in place (BytesIO shares them)
                    data = io.BytesIO(batch.data)
                    data.seek(pos)
                    u = self._u = msgpack.Unpacker(
                        data, read_size=limits.READ_CHUNK, max_buffer_size=limits.MAX_RECORD_BYTES, **limits.DECODE
                    )
                    self._u_base = pos
                rec = u.unpack()
                nxt = self._u_base + u.tell()
        except Exception as e:
            self._u = None
            nxt = pos + (size or record_size(view[pos : pos + limits.SMALL_RECORD]))
            bad_record(
                self.sf,
                batch.start + pos,
                f"a record that cannot be decoded within the format's limits ({type(e).__name__}: {e})",
            )
            return None, nxt
        why = record_problem(rec)
        if why is not None:
            bad_record(self.sf, batch.start + pos, why)
            return None, nxt
        return rec, nxt

    def read_alone(self, pos: int, stop: int) -> tuple[Any, int]:
        """(the record at ``pos``, where the next starts), its size found
        first, nothing checked (a batch ``fast_batches`` found: its records
        were not walked); one over SMALL_RECORD bytes is decoded counting
        its items. Raises what msgpack raises."""
        self._u = None
        view = self.view
        u = msgpack.Unpacker(max_buffer_size=limits.SMALL_RECORD, **limits.DECODE)
        u.feed(view[pos : pos + limits.SMALL_RECORD])
        try:
            return u.unpack(), pos + u.tell()
        except msgpack.OutOfData:
            probe = msgpack.Unpacker(max_buffer_size=limits.MAX_BATCH_BYTES)
            probe.feed(view[pos:stop])
            probe.skip()
            nxt = pos + probe.tell()
            return limits.decode_counted(view[pos:nxt]), nxt


def bad_record(sf: StreamFile, at: int, why: str) -> None:
    """A record at file offset ``at`` failed its checks: reported; past
    MAX_BAD_RECORDS the file is not read on (TooManyBad)."""
    sf.bad_records += 1
    sf.add(at, "bad-record", why)
    if sf.bad_records > MAX_BAD_RECORDS:
        sf.add(at, "corrupt", f"more than {MAX_BAD_RECORDS} bad records: the rest is not read")
        raise TooManyBad()


def record_size(view: memoryview) -> int:
    """The size of the (small) record at the start of ``view``."""
    u = msgpack.Unpacker(max_buffer_size=max(len(view), 1))
    u.feed(view)
    try:
        u.skip()
    except Exception:
        return len(view) or 1
    return int(u.tell())


def file_size(f: BinaryIO) -> int:
    try:
        here = f.tell()
        size = f.seek(0, io.SEEK_END)
        f.seek(here)
        return size
    except (OSError, ValueError):
        return 0


def _stop(
    f: BinaryIO, win: bytearray, base: int, pos: int, batch_start: int, sf: StreamFile, version: int, what: str
) -> None:
    """Decoding stopped at ``pos``: damage inside a batch if a commit record
    follows, else an uncommitted (or NUL) tail."""
    with memoryview(win) as w:
        rest = bytes(w[pos - base :])
    read_to = base + len(win)
    if pos == 0 and rest[:1] and rest[0] not in _MAP_FIRST and rest.strip(b"\0"):
        sf.add(0, "corrupt", f"not a runship stream file: it does not start with a header ({what})")
    elif _commit_follows(f, read_to, rest, version):
        sf.add(batch_start, "corrupt", f"damaged batch: {what} at byte {pos}, before a later commit record")
    elif version >= 2 and _ends_in_commit(f, batch_start):
        sf.add(batch_start, "corrupt", f"damaged commit record at the end of the file ({what} at byte {pos})")
    elif batch_start == pos and _zeros_to_end(f, read_to, rest):
        sf.add(pos, "zero-tail", "NUL bytes after the last commit record")
    elif sf.committed < pos:
        sf.add(
            sf.committed,
            "uncommitted-tail",
            f"bytes after the last commit record are uncommitted (cut short by a crash; {what} at byte {pos})",
        )
    else:
        sf.add(pos, "uncommitted-tail", f"uncommitted bytes at the end ({what})")


def _ends_in_commit(f: BinaryIO, batch_start: int) -> bool:
    """Does the file end in what looks like a (damaged) version 2 commit record after ``batch_start``?"""
    try:
        size = f.seek(0, io.SEEK_END)
        if size - fmt.COMMIT_SIZE < batch_start:
            return False
        f.seek(size - fmt.COMMIT_SIZE)
        return fmt.looks_like_commit(f.read(fmt.COMMIT_SIZE))
    except (OSError, ValueError):
        return False


def _zeros_to_end(f: BinaryIO, resume_at: int, known: bytes) -> bool:
    if known.strip(b"\0"):
        return False
    try:
        f.seek(resume_at)
        while chunk := f.read(limits.READ_CHUNK):
            if chunk.strip(b"\0"):
                return False
    except (OSError, ValueError):
        return False
    return True


def _tail(tail: bytes, batch_start: int, last: bytes | None, sf: StreamFile, version: int) -> None:
    """The bytes after the last commit record, all of them parsed as records
    (``last``: the last one, or None if the tail ends in a partial record)."""
    if not tail:
        return
    if not tail.strip(b"\0"):
        sf.add(batch_start, "zero-tail", f"{len(tail)} NUL bytes after the last commit record")
    elif _commit_follows(None, -1, tail, version):
        # a commit record follows, but decoding never reached it intact: the
        # bytes of the batch before it were changed
        sf.add(batch_start, "corrupt", "batch that does not decode to its commit record")
    elif (version >= 2 and fmt.looks_like_commit(tail)) or (version < 2 and _v1_commit_like(last)):
        sf.add(batch_start, "corrupt", "damaged commit record at the end of the file")
    else:
        sf.add(
            batch_start,
            "uncommitted-tail",
            f"{len(tail)} bytes after the last commit record are uncommitted "
            "(a batch being written, or cut short by a crash)",
        )


def _v1_commit_like(last: bytes | None) -> bool:
    """Version 1: the file ends in a complete map with the commit record's
    fields that did not check out as a commit record."""
    if last is None or len(last) > 256:
        return False
    try:
        obj = msgpack.unpackb(last, raw=False, strict_map_key=False)
    except Exception:
        return False
    return isinstance(obj, dict) and {"len", "crc"} <= obj.keys()


def _is_commit(candidate: bytes, version: int) -> bool:
    if version >= 2:
        return len(candidate) >= fmt.COMMIT_SIZE and not any(
            candidate[at : at + len(fixed)] != fixed for at, fixed in fmt.COMMIT_FIXED
        )
    u = msgpack.Unpacker(raw=False)
    u.feed(candidate)
    try:
        obj = u.unpack()
    except Exception:
        return False
    return isinstance(obj, dict) and obj.get("k") == fmt.COMMIT and "crc" in obj


def _commit_follows(f: BinaryIO | None, resume_at: int, known: bytes, version: int) -> bool:
    """Is there a complete commit record in ``known`` or, with
    ``resume_at`` >= 0, in the file from there on? A crash can cut a commit
    record short; only a whole one shows that the bytes before it were meant
    to be a committed batch. Reads in chunks: bounded memory."""
    marker = fmt.COMMIT_MARKER
    keep = 64
    data = bytes(known)
    searched = 0
    while True:
        at = data.find(marker, searched)
        while at >= 0:
            if len(data) - at < keep and resume_at >= 0:
                break  # need more bytes to judge this one
            if _is_commit(data[at : at + keep], version):
                return True
            at = data.find(marker, at + 1)
        if resume_at < 0 or f is None:
            return False
        try:
            f.seek(resume_at)
            chunk = f.read(limits.READ_CHUNK)
        except (OSError, ValueError):
            chunk = b""
        if not chunk:
            resume_at = -1
            searched = max(0, len(data) - keep)
            continue
        resume_at += len(chunk)
        data = data[-keep:] + chunk
        searched = 0


def describe(path: str) -> StreamFile | None:
    """A StreamFile for ``path`` if its name is a stream file name, else None."""
    parsed = fmt.parse_stream_file_name(path)
    if parsed is None:
        return None
    stream, session, segment = parsed
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return StreamFile(path=path, name=name, stream=stream, session=session, segment=segment)


def read_all(data: bytes, path: str = "<bytes>") -> tuple[list[dict[str, Any]], StreamFile]:
    """All committed records of one file's bytes, and what was found."""
    sf = describe(path) or StreamFile(path=path, name=path, stream="?", session="?", segment=0)
    return list(iter_records(data, sf)), sf
