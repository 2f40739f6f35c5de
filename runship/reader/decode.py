"""A run's stream files decoded into columns (``columns.Segment``), through the columnar cache.

``ColumnarFiles`` is what ``segments.RunFiles`` decodes a run stream file
with when the ``read`` extra (numpy, pyarrow) is installed: from the cache
(``runship.reader.cache``) where it holds the file's committed prefix, with
anything written since decoded after it; ``plain`` is the decoder without it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any, BinaryIO

from runship.reader.cache import CacheDamaged, SegmentCache, commit_at, identity, probe, tail_after
from runship.reader.columns import Columns, Segment, decode_segment, empty_segment, present_values
from runship.reader.plain import KEY_PREFIX, read_stream
from runship.reader.stream import StreamFile
from runship.schema import format as fmt
from runship.schema import limits
from runship.store import RunSource

CACHE_LIVE_BYTES = 8 * 1024 * 1024  # a file still being written is cached once it holds this much
SMALL_REMOTE_FILE = 1 << 20  # a remote stream file this small is fetched whole at once


class ColumnarFiles:
    """Decodes the run stream files of one run (``files``: by stream, in
    session and segment order) into Segments, and reads their columns;
    ``shifts``: file name -> what its steps move by (a blind session's)."""

    def __init__(
        self,
        source: RunSource,
        cache: SegmentCache | None,
        files: dict[str, list[StreamFile]],
        shifts: dict[str, int],
        check: Callable[[StreamFile], None],
    ):
        self.source, self.cache, self.files, self.shifts, self._check = source, cache, files, shifts, check
        self._shifted: dict[str, _Shifted] = {}
        self._segments: dict[str, Segment] = {}

    def prefetch(self) -> None:
        """Read a remote run's run stream files several at once (each is a
        few requests: cache probes, or the whole file)."""
        todo = [sf for sf in self.files.get(fmt.RUN_STREAM, []) if sf.name not in self._segments]
        if not self.source.concurrent or len(todo) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            segments = list(pool.map(lambda sf: self._read(sf, self.cache), todo))
        for sf, seg in zip(todo, segments):
            self._segments[sf.name] = seg
            self._check(sf)

    def segment(self, sf: StreamFile) -> Segment:
        """A run stream file, decoded (once per view): from the columnar
        cache where it holds the file's committed prefix, with anything
        written since decoded after it."""
        seg = self._segments.get(sf.name)
        if seg is None:
            seg = self._segments[sf.name] = self._read(sf, self.cache)
            self._check(sf)
        return seg

    def last_values(self, sf: StreamFile, start: int, stop: int) -> dict[str, Any]:
        """Each key's last value in rows [start, stop) of a file (its
        columns decoded again if its cache entry fails a check)."""
        try:
            return self.segment(sf).last_values(start, stop)
        except CacheDamaged:
            return self.columns(sf, None).last_values(start, stop)

    def keys(self, sf: StreamFile) -> list[str]:
        return self.segment(sf).columns.keys()

    def present(self, sf: StreamFile, keys: list[str], start: int, stop: int) -> dict[str, Any]:
        """key -> the values of rows [start, stop) that have it (``columns.present_values``)."""
        cols = self.columns(sf, [KEY_PREFIX + k for k in keys])
        return {k: present_values(cols.named(KEY_PREFIX + k), start, stop) for k in keys}

    def columns(self, sf: StreamFile, wanted: list[str] | None) -> Columns:
        """A file's columns with ``wanted`` (default: all) read. A cache
        entry that fails a check is replaced by the file decoded again (the
        same rows: the view does not move on)."""
        seg = self.segment(sf)
        try:
            seg.columns.load(seg.columns.names if wanted is None else wanted)
        except CacheDamaged:
            scratch = replace(sf, problems=[], ends=None)
            fresh = self._read(scratch, None)
            seg.columns = Columns(fresh.columns.whole().slice(0, seg.rows))
        by = self.shifts.get(sf.name)
        if by:
            shifted = self._shifted.get(sf.name)
            if shifted is None or shifted.inner is not seg.columns:
                shifted = self._shifted[sf.name] = _Shifted(seg.columns, by)
            return shifted
        return seg.columns

    def _read(self, sf: StreamFile, cache: SegmentCache | None) -> Segment:
        sf.reset()
        sf.header = None
        size = self.source.size(sf.name)
        hit = None
        access = _Access(self.source, sf.name)
        if cache is not None and size is not None:
            if self.source.concurrent and size <= SMALL_REMOTE_FILE:
                access.whole = size  # one request when the file must be read, not three
            try:
                hit = self._lookup(sf, size, cache, access)
            except OSError:
                hit = None  # the file is opened below, which says what is wrong with it
            if hit is not None and hit[1] == size:
                sf.size = size
                return hit[0]  # all of it cached: the file is not even opened
        return read_stream(access.open, sf, lambda f: self._decode(f, sf, cache, hit), empty_segment)

    def _lookup(
        self, sf: StreamFile, size: int, cache: SegmentCache, access: _Access
    ) -> tuple[Segment, int, str] | None:
        """(segment, committed length, identity) of the longest cache entry
        for the file's committed prefix (its header and the commit record at
        that length read as two small ranges; nothing at all when the file is
        as it was when last read: same stamp), with ``sf`` filled from it."""
        index = cache.index()
        known = index.seen(self.source.join(sf.name)) if index is not None else None
        if known is not None and known[2] <= size and self.source.stamp(sf.name, known[2]) == known[0]:
            try:
                seg = cache.load(known[1], known[2], None, sf)
            except CacheDamaged:
                seg = None
            if seg is not None:
                return seg, known[2], known[1]
            sf.reset()
            sf.header = None
        ident = identity(access.read_at(0, min(size, 4096)), sf)
        if ident is None and size > 4096:  # a header record larger than most
            ident = identity(access.read_at(0, min(size, limits.SMALL_RECORD)), sf)
        if ident is None:
            return None
        for length in cache.lengths(ident):
            if length > size or length < fmt.COMMIT_SIZE:
                continue
            commit = access.read_at(length - fmt.COMMIT_SIZE, fmt.COMMIT_SIZE)
            try:
                seg = cache.load(ident, length, commit, sf)
            except CacheDamaged:
                continue
            if seg is not None and self._same_bytes(sf, seg, ident, length, cache, access):
                return seg, length, ident
            sf.reset()
            sf.header = None
            identity(access.read_at(0, min(size, limits.SMALL_RECORD)), sf)
        return None

    def _same_bytes(
        self, sf: StreamFile, seg: Segment, ident: str, length: int, cache: SegmentCache, access: _Access
    ) -> bool:
        """Are the file's first ``length`` bytes still those the entry was
        made of? Yes when the file is as it was last checked (its stamp:
        size, time, inode, or an object's ETag); else each of its batches is
        checked against its commit record again (reading, not decoding)."""
        stamp = self.source.stamp(sf.name, length)
        index = cache.index()
        if stamp is None or index is None:
            return True  # a server's file: its commit record at ``length`` is all there is to go by
        where = self.source.join(sf.name)
        if index.seen(where) == (stamp, ident, length):
            return True
        if seg.ends is None or seg.damaged or not seg.ends or seg.ends[-1] != length:
            return False  # decoded again: nothing to check it by
        if not _batches_hold(access, seg.ends):
            return False
        index.see(where, stamp, ident, length)
        return True

    def _decode(
        self, f: BinaryIO, sf: StreamFile, cache: SegmentCache | None, hit: tuple[Segment, int, str] | None
    ) -> Segment:
        size = self.source.size(sf.name)
        if size is None:
            size = f.seek(0, io.SEEK_END)
        if cache is None:
            f.seek(0)
            return decode_segment(f, sf)
        seg: Segment | None = None
        cached = 0
        if hit is not None:
            seg, cached, ident = hit
            sf.size = size
            if size > cached:  # written since: decoded from there
                f.seek(cached)
                sf.ends = list(seg.ends) if seg.ends is not None else None
                sf.kept = limits.count_items([rec for _, rec in seg.records], limits.KEPT_ITEMS)
                tail = decode_segment(f, sf, start=cached, header=sf.header)
                if tail.rows or tail.records:
                    try:
                        seg = tail_after(seg, tail)
                    except CacheDamaged:
                        seg = None
        else:
            ident_or_none = identity(probe(f, size)[0], sf)
            if ident_or_none is None:  # a version 1 file: not cached
                sf.header = None
                f.seek(0)
                return decode_segment(f, sf)
            ident = ident_or_none
        if seg is None:
            sf.reset()
            sf.header = None
            f.seek(0)
            sf.ends = []  # kept in the entry, to check the file's bytes against later
            seg = decode_segment(f, sf)
            cached = 0
        worth = self._closed(sf, seg) or sf.committed - cached >= CACHE_LIVE_BYTES
        worth = worth and sf.committed > cached and sf.committed >= fmt.COMMIT_SIZE
        if worth and cache.store(ident, sf.committed, commit_at(f, sf.committed), seg, sf, base=cached or None):
            stamp = self.source.stamp(sf.name, sf.committed)
            index = cache.index()
            if stamp is not None and index is not None:
                index.see(self.source.join(sf.name), stamp, ident, sf.committed)
        sf.ends = None
        return seg

    def _closed(self, sf: StreamFile, seg: Segment) -> bool:
        """Will the file's writer ever write to it again? Not once a later
        segment or session exists, or its session finished."""
        files = self.files.get(sf.stream, [])
        if files and (files[-1].session, files[-1].segment) != (sf.session, sf.segment):
            return True
        return any(rec["k"] == fmt.FINISH for _, rec in seg.records)


class _Access:
    """One stream file's bytes: from its source, or from memory once fetched."""

    def __init__(self, source: RunSource, name: str):
        self.source, self.name = source, name
        self.data: bytes | None = None
        self.whole = 0  # > 0: the first read fetches this many bytes, the whole file

    def read_at(self, start: int, length: int) -> bytes:
        if self.data is None and self.whole:
            self.data = self.source.read_at(self.name, 0, self.whole)
        if self.data is not None:
            return self.data[start : start + length]
        return self.source.read_at(self.name, start, length)

    def open(self) -> BinaryIO:
        if self.data is None and self.whole:
            self.data = self.source.read_at(self.name, 0, self.whole)
        return io.BytesIO(self.data) if self.data is not None else self.source.open(self.name)


def _batches_hold(access: _Access, ends: list[int]) -> bool:
    """Does each batch up to the last of ``ends`` still match its commit record?"""
    try:
        with access.open() as f:
            start = 0
            for end in ends:
                data = f.read(end - start)
                if len(data) != end - start:
                    return False
                cut = len(data) - fmt.COMMIT_SIZE
                if fmt.check_commit(fmt.FORMAT_VERSION, data[:cut], data[cut:]) is not None:
                    return False
                start = end
    except (OSError, ValueError):
        return False
    return True


class _Shifted(Columns):
    """A file's columns with its ``_step`` moved on by ``by`` (a blind session's)."""

    def __init__(self, inner: Columns, by: int):
        self.inner = inner
        self.by = by
        self.table = None
        self._names = inner.names
        self._rows = inner.rows
        self._present = {}
        self._step: Any = None

    def load(self, wanted: list[str]) -> None:
        self.inner.load(wanted)

    def release(self, name: str) -> None:
        self.inner.release(name)

    def named(self, name: str) -> Any:
        if name != "_step":
            return self.inner.named(name)
        if self._step is None:
            import pyarrow as pa

            from runship.reader import arrow

            self._step = pa.chunked_array(
                [arrow.numbers(arrow.values(self.inner.named("_step")) + self.by, pa.int64())]
            )
        return self._step

    def rows_slices(self, names: list[str], ranges: list[tuple[int, int]]) -> Any:
        out = self.inner.rows_slices([n for n in names if n != "_step"], ranges)
        if "_step" in names:
            for got, (a, b) in zip(out, ranges):
                got["_step"] = self.named("_step").slice(a, b - a)
        return out

    def summary(self, key: str, x: str | None = None) -> Any:
        got = self.inner.summary(key, x)
        if got is None:
            return None
        out = dict(got)
        for name in ("x0:_step", "x1:_step", *(f"s.{stat}" for stat in ("first", "last", "lo", "hi", "nan"))):
            out[name] = got[name] + self.by
        return out

    def whole(self) -> Any:
        table = self.inner.whole()
        return table.set_column(table.column_names.index("_step"), "_step", self.named("_step"))
