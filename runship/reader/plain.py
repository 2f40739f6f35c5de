"""A run stream file's records decoded with msgpack alone, for the fold.

A plain install (no numpy, no pyarrow: the ``read`` extra) still folds a
run into its state (config, summary, metadata, sessions, problems): each
file is read by ``stream.batches`` and ``stream.RecordReader`` and its rows
kept as Python values per key, from which ``PlainSegment`` answers what the
fold asks of a ``columns.Segment`` (each key's last value over a stretch of
rows, a key's values for a metric's summary ops) with the same results.
What both decoders share lives here: which records a file keeps decoded
(``take``, ``past_kept``), which history keys it builds (``kept_keys``), a
value's column kind (``kind_of``) and the file's first and last times
(``times_of``). The history columns themselves (``history``, ``series``,
Parquet) are the ``read`` extra's: ``columns_available`` says whether it is
installed, and ``need_columns`` names it when it is not.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, TypeVar

import msgpack

from runship.extras import MissingExtra, require_extra
from runship.reader.stream import Batch, RecordReader, StreamFile, TooManyBad, batches, file_size
from runship.safefile import NotRegular
from runship.schema import format as fmt
from runship.schema import limits

KEY_PREFIX = "k:"  # column names of logged keys (the derived ones are _step and _t)
_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)
ROW_KINDS = frozenset({fmt.ROW, fmt.ROWS})
STATE_KINDS = frozenset({fmt.FINISH, fmt.SIGNAL, fmt.LOSS})  # kept past the limit when small: they decide the state
_SMALL_STATE = 64  # values
_Decoded = TypeVar("_Decoded")


@functools.cache
def columns_available() -> bool:
    """Is the ``read`` extra (numpy, pyarrow) installed? (Found without importing it.)"""
    try:
        require_extra("read", what="reading history columns")
    except MissingExtra:
        return False
    return True


def need_columns(what: str) -> None:
    """MissingExtra naming the ``read`` extra when it is not installed (``what`` needs history columns)."""
    if not columns_available():
        require_extra("read", what=what)


class FoldSegment(Protocol):
    """What the fold reads of a decoded run stream file (``columns.Segment``, ``PlainSegment``)."""

    records: list[tuple[int, dict[str, Any]]]
    first_t: float | None
    last_t: float | None
    last_step: int | None

    @property
    def rows(self) -> int: ...

    def last_values(self, start: int, stop: int, budget: limits.Budget | None = None) -> dict[str, Any]: ...


class RowSink(Protocol):
    """Where ``take`` puts a batch's rows (``columns.ColumnBuilder``, ``PlainRows``)."""

    rows: int

    def add_row(self, step: int, t: float, d: dict[str, Any]) -> None: ...

    def add_rows(self, keys: list[str], steps: list[int], times: list[float], values: list[Any]) -> None: ...


def kind_of(value: Any) -> str:
    """The column kind of one value: f64, i64, bool, str, or any (packed)."""
    t = type(value)
    if t is float:
        return "f64"
    if t is int and _I64_MIN <= value <= _I64_MAX:
        return "i64"
    if t is bool:
        return "bool"
    if t is str:
        return "str"
    return "any"


def read_stream(
    open_: Callable[[], BinaryIO],
    sf: StreamFile,
    decode: Callable[[BinaryIO], _Decoded],
    empty: Callable[[], _Decoded],
) -> _Decoded:
    """``decode`` of a stream file opened with ``open_``; ``empty()``, the
    reason a problem of ``sf``, when it cannot be opened or read to its end."""
    try:
        f = open_()
    except NotRegular as e:
        sf.reset()
        sf.add(0, "not-regular", f"not a regular file ({e.kind}): not read")
        return empty()
    except OSError as e:
        sf.reset()
        sf.add(0, "unreadable", f"cannot read: {e.strerror or e}")
        return empty()
    with f:
        try:
            return decode(f)
        except OSError as e:  # the storage failed part-way (a vanished file, a network error)
            sf.reset()
            sf.add(0, "unreadable", f"reading stopped: {e.strerror or e}")
            return empty()


# ---- which records a file keeps decoded ------------------------------------------------------
def take(
    rec: dict[str, Any], sf: StreamFile, sink: RowSink, other: list[tuple[int, dict[str, Any]]], at: int, span: int
) -> bool:
    """A checked record of a batch into ``sink`` (rows) or ``other`` (kept
    as the file's budget allows); True for a single row, whose layout the
    rows after it may share."""
    sf.records += 1
    if rec["k"] == fmt.ROWS:
        sink.add_rows(rec["keys"], rec["s"], rec["ts"], rec["v"])
    elif rec["k"] == fmt.ROW:
        sink.add_row(rec["s"], rec["t"], rec["d"])
        return True
    elif _keep(sf, rec, at, span):
        other.append((sink.rows, rec))
    return False


def _keep(sf: StreamFile, rec: dict[str, Any], at: int, size: int) -> bool:
    """Does the file's budget of values kept decoded (``limits.KEPT_ITEMS``)
    hold this record? If not it is a ``not-kept`` problem and, from then
    on, records other than rows are not decoded (``past_kept``)."""
    n = limits.count_items(rec, limits.KEPT_ITEMS + limits.KEPT_RESERVE)
    if sf.kept + n <= limits.KEPT_ITEMS:
        sf.kept += n
        return True
    if rec["k"] in STATE_KINDS and n <= _SMALL_STATE and sf.kept + n <= limits.KEPT_ITEMS + limits.KEPT_RESERVE:
        sf.kept = max(sf.kept, limits.KEPT_ITEMS) + n
        return True
    sf.kept = max(sf.kept, limits.KEPT_ITEMS)
    _not_kept(sf, at, str(rec["k"]), size)
    return False


def _not_kept(sf: StreamFile, at: int, kind: str, size: int) -> None:
    sf.add(
        at,
        "not-kept",
        f"a {kind[:40]!r} record of {size} bytes not kept: this file's records already hold "
        f"{limits.KEPT_ITEMS} values, what a reader keeps of one file",
    )


def peek_kind(data: bytes, pos: int) -> str | None:
    """The kind of the record at ``pos`` as the writer lays it out (a map
    whose first key is "k", a short string), without decoding it; None if
    it is laid out otherwise."""
    first = data[pos]
    at = pos + 1 if 0x80 <= first <= 0x8F else pos + 3 if first == 0xDE else -1
    if at < 0 or data[at : at + 2] != b"\xa1k" or at + 2 >= len(data) or not 0xA0 <= data[at + 2] <= 0xBF:
        return None
    n = data[at + 2] - 0xA0
    try:
        return bytes(data[at + 3 : at + 3 + n]).decode()
    except UnicodeDecodeError:
        return None


def past_kept(
    sf: StreamFile, data: bytes, view: memoryview, pos: int, stop: int, size: int | None, at: int
) -> int | None:
    """Past the file's budget: skip the record at ``pos`` undecoded unless
    it is a row, a small state record, or laid out in an unusual way (the
    careful path reports that). Returns where the next record starts, or
    None to decode this one."""
    kind = peek_kind(data, pos)
    if kind is None or kind in ROW_KINDS:
        return None
    if size is None:
        probe = msgpack.Unpacker(max_buffer_size=limits.MAX_BATCH_BYTES, **limits.UNPACK_LIMITS)
        probe.feed(view[pos:stop])
        try:
            probe.skip()
        except Exception:
            return None
        size = probe.tell()
    if kind in STATE_KINDS and size <= 1024:
        return None
    sf.records += 1
    _not_kept(sf, at, kind, size)
    return pos + size


# ---- which history keys a file builds ---------------------------------------------------------
def kept_keys(rows: int, counts: dict[str, int], not_kept: int, sf: StreamFile | None) -> set[str] | None:
    """The keys (of ``counts``: key -> its values) whose columns a file of
    ``rows`` rows builds: None for all. At most ``limits.KEPT_CELLS`` cells
    (rows x keys), or ``CELLS_PER_BYTE`` per byte of the file, are built;
    past that the keys with the fewest values are not, a ``not-kept``
    problem of ``sf``, as are ``not_kept`` values of keys past
    ``limits.KEPT_COLUMNS``."""
    cells = max(limits.KEPT_CELLS, limits.CELLS_PER_BYTE * int(getattr(sf, "size", 0) or 0))
    if not_kept and sf is not None:
        sf.add(
            0,
            "not-kept",
            f"{not_kept} values of history keys past the first {limits.KEPT_COLUMNS} keys of this file not kept",
        )
    if rows * len(counts) <= cells:
        return None
    fit = cells // rows
    kept = set(sorted(counts, key=lambda k: -counts[k])[:fit])
    if sf is not None:
        sf.add(
            0,
            "not-kept",
            f"{len(counts) - fit} history keys of {len(counts)} not kept (those with the fewest values): "
            f"{rows} rows x {len(counts)} keys are over what a reader builds of one file",
        )
    return kept


def times_of(
    first_row: float | None, last_row: float | None, other: list[tuple[int, dict[str, Any]]], header: Any
) -> tuple[float | None, float | None]:
    """(first, last) time of a file: its header's, its records' and its
    rows' (``first_row``, ``last_row``: the first row's time, the latest)."""
    last = last_row
    for _, rec in other:
        if last is None or rec["t"] > last:
            last = rec["t"]
    first: float | None = None
    if header is not None and isinstance(header.get("t"), (int, float)):
        first = header["t"]
    elif other and (other[0][0] == 0 or first_row is None):
        first = other[0][1]["t"]
    elif first_row is not None:
        first = first_row
    return first, last


# ---- rows as Python values -------------------------------------------------------------------
class PlainRows:
    """A file's rows as each key's (row indices, values), in the order the
    keys first appear (that of ``columns.ColumnBuilder``'s columns)."""

    def __init__(self) -> None:
        self.rows = 0
        self.last_step: int | None = None
        self.first_t: float | None = None
        self.max_t: float | None = None
        self.values: dict[str, tuple[list[int], list[Any]]] = {}
        self.packed: set[str] = set()  # keys whose column holds packed values (kinds mixed, or "any")
        self._kinds: dict[str, str] = {}
        self.not_kept = 0

    def _add(self, key: str, i: int, value: Any) -> None:
        got = self.values.get(key)
        if got is None:
            if len(self.values) >= limits.KEPT_COLUMNS:
                self.not_kept += 1
                return
            got = self.values[key] = ([], [])
        got[0].append(i)
        got[1].append(value)
        kind = kind_of(value)
        if self._kinds.setdefault(key, kind) != kind or kind == "any":
            self.packed.add(key)

    def _time(self, step: int, t: float) -> None:
        self.last_step = int(step)
        t = float(t)
        if self.first_t is None:
            self.first_t = t
        if self.max_t is None or t > self.max_t:
            self.max_t = t

    def add_row(self, step: int, t: float, d: dict[str, Any]) -> None:
        i = self.rows
        self._time(step, t)
        for key, value in d.items():
            self._add(key, i, value)
        self.rows = i + 1

    def add_rows(self, keys: list[str], steps: list[int], times: list[float], values: list[Any]) -> None:
        start, width = self.rows, len(keys)
        for step, t in zip(steps, times):
            self._time(step, t)
        for j, key in enumerate(keys):
            if key not in self.values and len(self.values) >= limits.KEPT_COLUMNS:
                self.not_kept += 1
                continue
            for r, value in enumerate(values[j::width] if width > 1 else values):
                self._add(key, start + r, value)
        self.rows = start + len(steps)

    def finish(self, sf: StreamFile) -> None:
        """Leave out the keys a columnar decoding would not build (``kept_keys``)."""
        kept = kept_keys(self.rows, {k: len(v[0]) for k, v in self.values.items()}, self.not_kept, sf)
        if kept is not None:
            self.values = {k: v for k, v in self.values.items() if k in kept}

    def last_values(self, start: int, stop: int, budget: limits.Budget | None = None) -> dict[str, Any]:
        """key -> its value in the last of rows [start, stop) that has it
        (a packed key's map or list past ``budget``: ``limits.NOT_KEPT``)."""
        budget = limits.Budget() if budget is None else budget
        out = {}
        for key, (idx, values) in self.values.items():
            j = bisect_left(idx, stop) - 1
            if j < 0 or idx[j] < start:
                continue
            value = values[j]
            if key in self.packed and (budget.refused or budget.take(value) is None):
                value = limits.NOT_KEPT
            out[key] = value
        return out

    def present(self, key: str, start: int, stop: int) -> list[Any]:
        """The values of rows [start, stop) that have ``key``."""
        idx, values = self.values.get(key, ([], []))
        return values[bisect_left(idx, start) : bisect_left(idx, stop)]


@dataclass
class PlainSegment:
    """A run stream file decoded with msgpack alone (``decode_plain``)."""

    plain: PlainRows
    records: list[tuple[int, dict[str, Any]]]
    first_t: float | None
    last_t: float | None
    last_step: int | None = None
    lasts: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.plain.rows

    def last_values(self, start: int, stop: int, budget: limits.Budget | None = None) -> dict[str, Any]:
        return self.plain.last_values(start, stop, budget)


def decode_plain(f: BinaryIO, sf: StreamFile) -> PlainSegment:
    """Read a stream file (a file object) from its start into a PlainSegment; fills ``sf``."""
    sf.size = file_size(f)
    sf.kept = 0
    rows = PlainRows()
    other: list[tuple[int, dict[str, Any]]] = []
    try:
        for batch in batches(f, sf):
            _decode_batch(batch, sf, rows, other)
    except TooManyBad:
        pass
    rows.finish(sf)
    first, last = times_of(rows.first_t, rows.max_t, other, sf.header)
    return PlainSegment(rows, other, first, last, rows.last_step)


def _decode_batch(batch: Batch, sf: StreamFile, rows: PlainRows, other: list[tuple[int, dict[str, Any]]]) -> None:
    """A verified batch's rows into ``rows``, its other records into ``other`` (as ``columns.decode_batch``)."""
    reader = RecordReader(batch, sf)
    data = batch.data
    stop = len(data)
    pos = batch.first - batch.start
    while pos < stop:
        at = batch.start + pos
        size = batch.big.get(at)
        after = past_kept(sf, data, reader.view, pos, stop, size, at) if sf.kept >= limits.KEPT_ITEMS else None
        if after is not None:
            pos = after
            reader.forget()
            continue
        rec, nxt = reader.read(pos)
        if rec is not None:
            take(rec, sf, rows, other, at, nxt - pos)
        pos = nxt


def empty_plain() -> PlainSegment:
    return PlainSegment(PlainRows(), [], None, None)
