"""A run's stream files, decoded: the records and history rows a view reads.

``RunFiles`` lists a run's stream files (by stream, in session and segment
order), decodes each run stream file once per view into a segment (its rows,
its other records) and reads the records of the other streams. With the
``read`` extra (numpy, pyarrow) a segment's rows are columns
(``runship.reader.decode``: through the columnar cache); without it they
are Python values (``runship.reader.plain``), enough for the fold, and the
columns are refused naming the extra. What the records mean is the fold's
(``runship.reader.fold``); the queries over the columns are
``runship.reader.runhistory``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from runship.errors import CorruptionError
from runship.reader.plain import (
    FoldSegment,
    PlainSegment,
    columns_available,
    decode_plain,
    empty_plain,
    need_columns,
    read_stream,
)
from runship.reader.stream import StreamFile, describe, iter_records
from runship.safefile import NotRegular
from runship.store import RunSource

if TYPE_CHECKING:
    from runship.reader.cache import SegmentCache
    from runship.reader.columns import Columns


def read_cache(cache: SegmentCache | str | os.PathLike[str] | bool | None) -> SegmentCache | None:
    """``cache.resolve_cache(cache)`` with the ``read`` extra; without it
    None (the cache holds columns, and numpy and pyarrow are not imported)."""
    if not columns_available():
        return None
    from runship.reader.cache import resolve_cache

    return resolve_cache(cache)


class RunFiles:
    """The stream files of one run (``files``: by stream, each list in
    session and segment order; ``other_names``: the rest of the directory)
    and what has been decoded of them. ``shifts``: file name -> what its
    steps move by (a blind session's, set by the fold)."""

    def __init__(self, source: RunSource, cache: SegmentCache | None = None, strict: bool = False):
        self.source = source
        self._strict = strict
        self.files: dict[str, list[StreamFile]] = {}
        self.other_names: list[str] = []
        for name in source.names():
            sf = describe(source.join(name))
            if sf is None:
                self.other_names.append(name)
                continue
            self.files.setdefault(sf.stream, []).append(sf)
        for files in self.files.values():
            files.sort(key=lambda f: (f.session, f.segment))
        self.shifts: dict[str, int] = {}
        self._decoder: _Decoder
        if columns_available():
            from runship.reader.decode import ColumnarFiles

            self._decoder = ColumnarFiles(source, cache, self.files, self.shifts, self.check_strict)
        else:
            self._decoder = _PlainFiles(source, self.check_strict)

    def records(self, sf: StreamFile) -> Iterator[dict[str, Any]]:
        """The committed records of a stream file, read from its start (not kept)."""
        sf.reset()
        try:
            f = self.source.open(sf.name)
        except NotRegular as e:
            sf.add(0, "not-regular", f"not a regular file ({e.kind}): not read")
            return
        except OSError as e:
            sf.add(0, "unreadable", f"cannot read: {e.strerror or e}")
            return
        with f:
            try:
                yield from iter_records(f, sf)
            except OSError as e:  # the storage failed part-way (a vanished file, a network error)
                sf.add(sf.committed, "unreadable", f"reading stopped: {e.strerror or e}")
        self.check_strict(sf)

    def prefetch(self) -> None:
        """Read a remote run's run stream files several at once (where the decoder can)."""
        self._decoder.prefetch()

    def check_strict(self, sf: StreamFile) -> None:
        """With ``strict``: CorruptionError for the first corruption found in ``sf``."""
        if self._strict:
            for p in sf.problems:
                if p.is_corruption:
                    raise CorruptionError(p.path, p.offset, p.message)

    def segment(self, sf: StreamFile) -> FoldSegment:
        """A run stream file, decoded (once per view)."""
        return self._decoder.segment(sf)

    def columns(self, sf: StreamFile, wanted: list[str] | None) -> Columns:
        """A file's history columns with ``wanted`` (default: all) read
        (MissingExtra without the ``read`` extra)."""
        return self._decoder.columns(sf, wanted)

    def keys(self, sf: StreamFile) -> list[str]:
        """The history keys of a run stream file, in the order first logged (no column is read)."""
        return self._decoder.keys(sf)

    def last_values(self, sf: StreamFile, start: int, stop: int) -> dict[str, Any]:
        """Each key's last value in rows [start, stop) of a run stream file."""
        return self._decoder.last_values(sf, start, stop)

    def present(self, sf: StreamFile, keys: list[str], start: int, stop: int) -> dict[str, Any]:
        """key -> the values of rows [start, stop) of a file that have it."""
        return self._decoder.present(sf, keys, start, stop)


class _Decoder(Protocol):
    """How a run stream file's rows are decoded: ``decode.ColumnarFiles`` or ``_PlainFiles``."""

    def prefetch(self) -> None: ...

    def segment(self, sf: StreamFile) -> FoldSegment: ...

    def columns(self, sf: StreamFile, wanted: list[str] | None) -> Columns: ...

    def keys(self, sf: StreamFile) -> list[str]: ...

    def last_values(self, sf: StreamFile, start: int, stop: int) -> dict[str, Any]: ...

    def present(self, sf: StreamFile, keys: list[str], start: int, stop: int) -> dict[str, Any]: ...


class _PlainFiles:
    """Run stream files decoded with msgpack alone (no ``read`` extra): the
    fold's records and rows, no columns."""

    def __init__(self, source: RunSource, check: Callable[[StreamFile], None]):
        self.source, self._check = source, check
        self._segments: dict[str, PlainSegment] = {}

    def prefetch(self) -> None:
        """Nothing: the files are read one by one."""

    def segment(self, sf: StreamFile) -> PlainSegment:
        seg = self._segments.get(sf.name)
        if seg is None:
            sf.reset()
            sf.header = None
            opener = lambda: self.source.open(sf.name)  # noqa: E731
            seg = self._segments[sf.name] = read_stream(opener, sf, lambda f: decode_plain(f, sf), empty_plain)
            self._check(sf)
        return seg

    def columns(self, sf: StreamFile, wanted: list[str] | None) -> Columns:
        need_columns("reading history columns")
        raise AssertionError("unreachable")

    def keys(self, sf: StreamFile) -> list[str]:
        return list(self.segment(sf).plain.values)

    def last_values(self, sf: StreamFile, start: int, stop: int) -> dict[str, Any]:
        return self.segment(sf).last_values(start, stop)

    def present(self, sf: StreamFile, keys: list[str], start: int, stop: int) -> dict[str, Any]:
        plain = self.segment(sf).plain
        return {k: plain.present(k, start, stop) for k in keys}
