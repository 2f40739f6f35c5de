"""History rows as columns, decoded straight from a stream file's bytes.

A history row is the record ``{"k": "row", "n": n, "t": t, "s": step, "d":
{key: value, ...}}``. Training code logs the same keys with the same kinds
of values row after row, so consecutive packed rows share one byte layout (a
*template*) in which only the numbers differ. Once a row has been decoded the
ordinary way, its template is matched against the following bytes of the
batch with numpy, many rows at a time, and the numbers are read out of the
matching rows as arrays: no Python object is made per row. Anything that
does not match (another set of keys, a string value, another record kind) is
decoded by msgpack as before. Both ways give exactly the same values and the
same problems; ``tests/test_columns.py`` checks this on generated runs.

Columns are Arrow arrays (``pyarrow``), one per key, as long as the rows of
the file, null where a row has no such key. A key's column is
``float64``, ``int64``, ``bool`` or ``string`` when every value of the key
has that type, else ``binary``: each value packed with msgpack, so that any
value (a media reference, a list, a map, a datetime, None) round-trips
exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, cast

import msgpack
import numpy as np
import pyarrow as pa

from runship.reader import arrow
from runship.reader.plain import KEY_PREFIX, kept_keys, kind_of, past_kept, take, times_of
from runship.reader.stream import (
    Batch,
    Fallback,
    RecordReader,
    StreamFile,
    TooManyBad,
    as_file,
    batches,
    fast_batches,
    file_size,
)
from runship.schema import format as fmt
from runship.schema import limits
from runship.schema.records import problem as record_problem

MISSING = object()


# ---- templates ---------------------------------------------------------------------------
@dataclass
class _Field:
    key: str  # the logged key, or "" for the record's own s
    kind: str  # "f64", "i64" or "bool"
    offset: int  # of the value's first byte (its marker, if it has one)
    width: int  # bytes after the marker (0 for a fixint or a bool)
    code: str  # how to read it: ">f8", ">u1", ">i2", ..., "fix" (positive fixint), "neg", "bool"


_INT_CODES = {0xCC: (1, ">u1"), 0xCD: (2, ">u2"), 0xCE: (4, ">u4"), 0xD0: (1, ">i1"), 0xD1: (2, ">i2"), 0xD2: (4, ">i4"), 0xD3: (8, ">i8")}  # fmt: skip


class Template:
    """The byte layout shared by packed rows with the same keys and kinds."""

    def __init__(self, raw: bytes, t_offset: int, fields: list[_Field], variable: list[tuple[int, int]]):
        self.raw = np.frombuffer(raw, np.uint8)
        self.length = len(raw)
        self.t_offset = t_offset
        self.step = next(f for f in fields if f.key == "")
        self.fields = [f for f in fields if f.key != ""]
        fixed = np.ones(self.length, bool)
        for start, end in variable:
            fixed[start:end] = False
        self.fixed_at = np.flatnonzero(fixed)
        self.fixed_bytes = self.raw[self.fixed_at]
        self.range_checks = [(f.offset, f.code) for f in [self.step, *self.fields] if f.code in ("fix", "neg", "bool")]

    def _ok(self, block: np.ndarray) -> np.ndarray:
        ok: np.ndarray = (block[:, self.fixed_at] == self.fixed_bytes).all(axis=1)
        for offset, code in self.range_checks:
            col = block[:, offset]
            if code == "fix":
                ok &= col < 0x80
            elif code == "neg":
                ok &= col >= 0xE0
            else:
                ok &= (col == 0xC2) | (col == 0xC3)
        t = self._read(block, self.t_offset + 1, ">f8")
        ok &= (t >= 0) & (t < limits.MAX_TIME)  # as the record check (NaN fails both)
        return ok

    @staticmethod
    def _read(block: np.ndarray, at: int, code: str) -> np.ndarray:
        width = int(code[-1])
        return np.ascontiguousarray(block[:, at : at + width]).view(code).reshape(len(block))

    def match(self, data: np.ndarray, pos: int, stop: int) -> int:
        """How many rows of this layout follow from ``pos`` (probing 1, 4, 16, ... at a time)."""
        n = 0
        step = 1
        length = self.length
        while True:
            count = min(step, (stop - pos) // length - n)
            if count <= 0:
                return n
            start = pos + n * length
            ok = self._ok(data[start : start + count * length].reshape(count, length))
            if not ok.all():
                return n + int(np.argmin(ok))
            n += count
            step = min(step * 4, 1 << 16)

    def values(
        self, data: np.ndarray, pos: int, count: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[str, np.ndarray]]]:
        """(steps, times, {key: (kind, values)}) of ``count`` matching rows at ``pos``."""
        block = data[pos : pos + count * self.length].reshape(count, self.length)
        times = self._read(block, self.t_offset + 1, ">f8").astype(np.float64)
        steps = _field_values(block, self.step).astype(np.int64)
        out = {f.key: (f.kind, _field_values(block, f)) for f in self.fields}
        return steps, times, out


def _field_values(block: np.ndarray, f: _Field) -> np.ndarray:
    col = block[:, f.offset]
    if f.code == "fix":
        return col.astype(np.int64)
    if f.code == "neg":
        return col.view(np.int8).astype(np.int64)
    if f.code == "bool":
        flags: np.ndarray = col == 0xC3
        return flags
    values = np.ascontiguousarray(block[:, f.offset + 1 : f.offset + 1 + f.width]).view(f.code).reshape(len(block))
    return values.astype(np.float64 if f.kind == "f64" else np.int64)


def _str_at(raw: bytes, p: int) -> tuple[str, int] | None:
    b = raw[p]
    if 0xA0 <= b <= 0xBF:
        n, p = b & 0x1F, p + 1
    elif b == 0xD9:
        n, p = raw[p + 1], p + 2
    elif b == 0xDA:
        n, p = int.from_bytes(raw[p + 1 : p + 3], "big"), p + 3
    else:
        return None
    try:
        return raw[p : p + n].decode("utf-8"), p + n
    except UnicodeDecodeError:
        return None


def _container_len(raw: bytes, p: int, fix: int, wide: dict[int, int]) -> tuple[int, int] | None:
    """(the length of the map or array at ``p``, where its items start): a
    fix one (``fix`` to ``fix`` + 15), or one whose marker ``wide`` gives the
    width of its length; None for anything else."""
    b = raw[p]
    if fix <= b <= fix + 0x0F:
        return b & 0x0F, p + 1
    width = wide.get(b)
    if width is None:
        return None
    return int.from_bytes(raw[p + 1 : p + 1 + width], "big"), p + 1 + width


_MAP16 = {0xDE: 2}
_ARRAY16_32 = {0xDC: 2, 0xDD: 4}


def _map_len(raw: bytes, p: int) -> tuple[int, int] | None:
    return _container_len(raw, p, 0x80, _MAP16)


def _array_len(raw: bytes, p: int) -> tuple[int, int] | None:
    return _container_len(raw, p, 0x90, _ARRAY16_32)


def _scalar(raw: bytes, p: int, key: str) -> tuple[_Field, int] | None:
    b = raw[p]
    if b == 0xCB:
        return _Field(key, "f64", p, 8, ">f8"), p + 9
    if b == 0xCA:  # a float32 value (the writer stores float32 metrics so, exactly)
        return _Field(key, "f64", p, 4, ">f4"), p + 5
    if b < 0x80:
        return _Field(key, "i64", p, 0, "fix"), p + 1
    if b >= 0xE0:
        return _Field(key, "i64", p, 0, "neg"), p + 1
    if b in (0xC2, 0xC3):
        return _Field(key, "bool", p, 0, "bool"), p + 1
    if b in _INT_CODES:
        width, code = _INT_CODES[b]
        return _Field(key, "i64", p, width, code), p + 1 + width
    return None  # a uint64 (may not fit int64), a string, None, a container: decoded one by one


# ---- rows blocks of numbers, read with numpy -----------------------------------------------
#: how the writer begins a rows record: a map of 7, "k": "rows", then "n"
_ROWS_HEAD = b"\x87\xa1k\xa4rows\xa1n"
_FLOAT_CODES = {0xCB: (9, ">f8"), 0xCA: (5, ">f4")}


def _floats_at(arr: np.ndarray, p: int, count: int, stop: int, marker: int) -> np.ndarray | None:
    """``count`` msgpack floats at ``p``, each with ``marker`` (0xcb: float64,
    0xca: float32), as float64; None if they are not all so."""
    width, code = _FLOAT_CODES[marker]
    end = p + count * width
    if end > stop:
        return None
    cells = arr[p:end].reshape(count, width)
    if not (cells[:, 0] == marker).all():
        return None
    return np.ascontiguousarray(cells[:, 1:]).view(code).reshape(count).astype(np.float64)


def _row_layout(data: bytes, p: int, keys: list[str], limit: int) -> tuple[list[_Field], int] | None:
    """The fields of the row of numbers at ``p`` (offsets from ``p``) and its width."""
    fields = []
    q = p
    for key in keys:
        if q >= limit:
            return None
        got = _scalar(data, q, key)
        if got is None:
            return None
        f, q = got
        f.offset -= p
        fields.append(f)
    return fields, q - p


def _value_parts(
    data: bytes, arr: np.ndarray, p: int, rows: int, keys: list[str], limit: int
) -> tuple[int, dict[str, tuple[str, np.ndarray]]] | None:
    """A block's values (``rows`` rows of numbers at ``p``, row after row):
    (their end, each key's values). Rows share a byte layout (floats always;
    ints while they keep their width) and are read a layout at a time; None
    when a value is not a number of fixed layout (a string, nil, a uint64, a
    map) or the layouts change too often (then decoded the ordinary way)."""
    if not keys:
        return p, {}
    pieces: list[tuple[list[_Field], np.ndarray]] = []
    done = 0
    while done < rows:
        layout = _row_layout(data, p, keys, limit)
        if layout is None:
            return None
        fields, width = layout
        left = min(rows - done, (limit - p) // width)
        if left <= 0:
            return None
        block = arr[p : p + left * width].reshape(left, width)
        ok = np.ones(left, bool)
        for f in fields:
            col = block[:, f.offset]
            if f.code == "fix":
                ok &= col < 0x80
            elif f.code == "neg":
                ok &= col >= 0xE0
            elif f.code == "bool":
                ok &= (col == 0xC2) | (col == 0xC3)
            else:
                ok &= col == data[p + f.offset]
        good = left if ok.all() else int(np.argmin(ok))
        if good < min(8, rows - done):  # a layout a few rows long: not worth it
            return None
        pieces.append((fields, block[:good]))
        done += good
        p += good * width
    cols: dict[str, tuple[str, np.ndarray]] = {}
    for j, key in enumerate(keys):
        parts = [_field_values(block, fields[j]) for fields, block in pieces]
        kinds = {fields[j].kind for fields, _ in pieces}
        if len(kinds) != 1:
            return None  # a key whose kind changes (a float, then an int): the ordinary way says "any"
        cols[key] = (kinds.pop(), parts[0] if len(parts) == 1 else np.concatenate(parts))
    return p, cols


def number_block(
    data: bytes, arr: np.ndarray, view: memoryview, pos: int, stop: int
) -> tuple[int, np.ndarray, np.ndarray, dict[str, tuple[str, np.ndarray]]] | None:
    """A rows record at ``pos`` laid out as the writer writes it (keys k, n,
    t, keys, s, ts, v in that order, ts all float64, v numbers whose byte
    layout holds for many rows at a time, no larger than a small record) and
    holding nothing that
    ``records.problem`` refuses: (its end, steps, times, each key's values),
    read with numpy, no Python object a value. None for anything else (it is
    then decoded the ordinary way, which says what is wrong with it)."""
    if data[pos : pos + len(_ROWS_HEAD)] != _ROWS_HEAD:
        return None
    base = pos + len(_ROWS_HEAD)
    limit = min(stop, pos + limits.SMALL_RECORD)
    u = msgpack.Unpacker(max_buffer_size=limits.SMALL_RECORD, **limits.DECODE)
    u.feed(view[base:limit])
    try:
        n = u.unpack()
        names = []
        fields = []
        for _ in range(3):
            names.append(u.unpack())
            fields.append(u.unpack())
        names.append(u.unpack())
        if names != ["t", "keys", "s", "ts"]:
            return None
        rows = u.read_array_header()  # the times, read below with numpy
        p = base + u.tell()
    except Exception:
        return None
    t, keys, steps = fields
    if n is not None and type(n) is not int:
        return None
    if type(t) not in (float, int) or not 0 <= t < limits.MAX_TIME:
        return None
    if type(keys) is not list or not {str}.issuperset(map(type, keys)) or len(set(keys)) != len(keys):
        return None
    if type(steps) is not list or not steps or {type(x) for x in steps} != {int} or len(steps) != rows:
        return None
    times = _floats_at(arr, p, rows, limit, 0xCB)
    if times is None or not (np.isfinite(times).all() and (times >= 0).all() and (times < limits.MAX_TIME).all()):
        return None
    p += rows * 9
    if data[p : p + 2] != b"\xa1v":
        return None
    got = _array_len(data, p + 2) if p + 2 < limit else None
    if got is None or got[0] != rows * len(keys):
        return None
    _, p = got
    parts = _value_parts(data, arr, p, rows, keys, limit)
    if parts is None:
        return None
    end, cols = parts
    try:
        step_arr = np.array(steps, np.int64)
    except OverflowError:
        return None
    return end, step_arr, times, cols


def make_template(raw: bytes) -> Template | None:
    """The template of one packed row record, or None when rows like it must
    be decoded one by one (values that are not numbers or bools, fields other
    than k, n, t, s, d)."""
    try:
        head = _map_len(raw, 0)
        if head is None:
            return None
        entries, p = head
        fields: list[_Field] = []
        variable: list[tuple[int, int]] = []
        t_offset = -1
        seen: set[str] = set()
        for _ in range(entries):
            key = _str_at(raw, p)
            if key is None:
                return None
            name, p = key
            if name in seen:
                return None
            seen.add(name)
            if name == "k":
                value = _str_at(raw, p)
                if value is None or value[0] != fmt.ROW:
                    return None
                p = value[1]
            elif name in ("n", "s"):
                got = _scalar(raw, p, "" if name == "s" else "n")
                if got is None or got[0].kind != "i64":
                    return None
                f, end = got
                variable.append((f.offset + (1 if f.width else 0), end) if f.width else (f.offset, end))
                if name == "s":
                    fields.append(f)
                p = end
            elif name == "t":
                if raw[p] != 0xCB:
                    return None
                t_offset = p
                variable.append((p + 1, p + 9))
                p += 9
            elif name == "d":
                inner = _map_len(raw, p)
                if inner is None:
                    return None
                count, p = inner
                for _ in range(count):
                    key = _str_at(raw, p)
                    if key is None:
                        return None
                    name, p = key
                    got = _scalar(raw, p, name)
                    if got is None:
                        return None
                    f, end = got
                    fields.append(f)
                    if f.code in ("fix", "neg", "bool"):
                        variable.append((f.offset, end))
                    else:
                        variable.append((f.offset + 1, end))
                    p = end
            else:
                return None
        if p != len(raw) or t_offset < 0 or {"k", "n", "t", "s", "d"} - seen:
            return None
        if len({f.key for f in fields}) != len(fields):
            return None  # a key twice in d: msgpack keeps the last; leave it to msgpack
        return Template(raw, t_offset, fields, variable)
    except IndexError:
        return None


# ---- columns -----------------------------------------------------------------------------
class Columns:
    """The history rows of a stream file (or a part of one), as columns:
    ``_step`` (int64), ``_t`` (float64), then ``k:<key>`` per logged key."""

    def __init__(self, table: pa.Table | None):
        self.table = table
        self._names: list[str] = [] if table is None else list(table.column_names)
        self._rows = 0 if table is None else int(table.num_rows)
        self._present: dict[str, np.ndarray | None] = {}

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def names(self) -> list[str]:
        return self._names

    def keys(self) -> list[str]:
        return [n[len(KEY_PREFIX) :] for n in self._names if n.startswith(KEY_PREFIX)]

    def load(self, wanted: list[str]) -> None:
        """Make these columns ready (a cache entry reads them all at once)."""

    def release(self, name: str) -> None:
        """Let a column go from memory if it can be read again (a cache entry's)."""

    def named(self, name: str) -> pa.ChunkedArray:
        """A column by its name (the one way columns are read)."""
        assert self.table is not None
        return self.table.column(name)

    def column(self, key: str) -> pa.ChunkedArray | None:
        name = KEY_PREFIX + key
        return self.named(name) if name in self._names else None

    def whole(self) -> pa.Table:
        """Every column, as a table."""
        assert self.table is not None
        return self.table

    def rows_slices(self, names: list[str], ranges: list[tuple[int, int]]) -> list[dict[str, pa.ChunkedArray]]:
        """Rows [start, stop) of these columns, for each range (a cache entry
        reads only the row groups they are in, unless a column is read whole)."""
        return [{n: self.named(n).slice(a, b - a) for n in names} for a, b in ranges]

    def summary(self, key: str, x: str | None = None) -> dict[str, np.ndarray] | None:
        """The block summary (``runship.reader.pyramid``) of ``_step``,
        ``_t`` and ``key``: ``x0:_step`` ..., then the key's points (``r.lo``,
        ...); with ``x`` (a logged key), its bounds (``x0:x`` ...) and values
        at the points (``x.lo`` ...). None when the key holds values that are
        not numbers, or ``x`` cannot serve (not numbers in every row, going
        down). Here made from the columns, for a few rows only (a cache
        entry reads the summary kept beside it)."""
        from runship.reader import pyramid

        if self.rows > pyramid.MADE_ROWS:
            return None  # made for every read: worth it for a few rows only (a live file's)
        name = KEY_PREFIX + key
        xname = None if x is None else KEY_PREFIX + x
        names = ["_step", "_t", *(n for n in dict.fromkeys([name, xname]) if n is not None and n in self._names)]
        self.load(names)
        table = pa.table({n: self.named(n) for n in names})
        if name in names and not pyramid._numeric(table.column(name).type):
            return None
        got = pyramid.summarize(table)
        if xname is not None and f"x0:{xname}" not in got:
            return None
        return pyramid.for_key(got, name, self.rows, xname)

    def present(self, key: str) -> np.ndarray | None:
        """Rows that have ``key`` (None: every row)."""
        if key not in self._present:
            col = self.named(KEY_PREFIX + key)
            self._present[key] = None if col.null_count == 0 else np.flatnonzero(arrow.valid(col))
        return self._present[key]

    def last_values(
        self, start: int = 0, stop: int | None = None, budget: limits.Budget | None = None
    ) -> dict[str, Any]:
        """key -> its value in the last of rows [start, stop) that has it.
        Maps and lists are decoded while ``budget`` (default: a new one)
        holds them; past it a value is ``limits.NOT_KEPT``."""
        stop = self.rows if stop is None else stop
        budget = limits.Budget() if budget is None else budget
        out = {}
        keys = self.keys()
        self.load([KEY_PREFIX + k for k in keys])
        for key in keys:
            hits = self.present(key)
            if hits is None:  # every row has it
                i = stop - 1 if stop > start else -1
            else:
                j = int(np.searchsorted(hits, stop)) - 1
                i = int(hits[j]) if j >= 0 and hits[j] >= start else -1
            if i >= 0:
                out[key] = python_value(self.named(KEY_PREFIX + key), i, budget)
        return out


def python_value(col: pa.ChunkedArray, i: int, budget: limits.Budget | None = None) -> Any:
    """Row ``i``'s value; with a ``budget``, a map or list past it is
    ``limits.NOT_KEPT`` (and none is decoded once the budget refused one)."""
    value = col[i].as_py()
    if pa.types.is_large_binary(col.type):
        if budget is not None and budget.refused:
            return limits.NOT_KEPT
        decoded = msgpack.unpackb(value, **limits.DECODE)
        if budget is not None and budget.take(decoded) is None:
            return limits.NOT_KEPT
        return decoded
    return value


def python_lists(col: pa.ChunkedArray) -> list[Any]:
    """A column as a list of Python values, MISSING where a row has no value."""
    typ = col.type
    if pa.types.is_large_binary(typ):
        return [MISSING if v is None else msgpack.unpackb(v, **limits.DECODE) for v in col.to_pylist()]
    if pa.types.is_large_string(typ):
        return [MISSING if v is None else v for v in col.to_pylist()]
    values = arrow.values(col, fill=0)
    if col.null_count == 0:
        out: list[Any] = values.tolist()
        return out
    valid = arrow.valid(col)
    listed = values.tolist()
    return [v if ok else MISSING for v, ok in zip(listed, valid.tolist())]


class ColumnBuilder:
    """Collects rows (decoded ones, and blocks read with a template) into
    columns. Rows decoded one by one are sealed into compact arrays after
    each batch (``seal``), so no Python object outlives its batch: a file's
    columns cost about what their values weigh."""

    def __init__(self) -> None:
        self.rows = 0
        self._steps: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._pending_steps: list[int] = []
        self._pending_times: list[float] = []
        # key -> parts in row order: (row indices, kind, values: numpy for numbers, Arrow otherwise)
        self._parts: dict[str, list[tuple[np.ndarray, str, Any]]] = {}
        self._single: dict[str, list[tuple[int, Any]]] = {}
        self.not_kept = 0  # values of keys past limits.KEPT_COLUMNS, not kept

    def _room(self, key: str) -> bool:
        """May ``key`` have a column? Every key known, and new ones up to ``limits.KEPT_COLUMNS``."""
        if key in self._parts or key in self._single or len(self._parts) + len(self._single) < limits.KEPT_COLUMNS:
            return True
        self.not_kept += 1
        return False

    def seal(self) -> None:
        """Turn the rows added one by one so far into arrays."""
        if self._pending_steps:
            self._steps.append(np.array(self._pending_steps, np.int64))
            self._times.append(np.array(self._pending_times, np.float64))
            self._pending_steps, self._pending_times = [], []
        for key, pairs in self._single.items():
            idx = np.fromiter((i for i, _ in pairs), np.int64, len(pairs))
            kinds = {kind_of(v) for _, v in pairs}
            kind = kinds.pop() if len(kinds) == 1 else "any"
            self._parts.setdefault(key, []).append((idx, kind, _compact(kind, [v for _, v in pairs])))
        self._single = {}

    def add_row(self, step: int, t: float, d: dict[str, Any]) -> None:
        i = self.rows
        self._pending_steps.append(step)
        self._pending_times.append(t)
        single = self._single
        for key, value in d.items():
            got = single.get(key)
            if got is None:
                if self._room(key):
                    single[key] = [(i, value)]
            else:
                got.append((i, value))
        self.rows = i + 1

    def add_block(self, steps: np.ndarray, times: np.ndarray, values: dict[str, tuple[str, np.ndarray]]) -> None:
        self.seal()
        start = self.rows
        self._steps.append(steps)
        self._times.append(times)
        idx = np.arange(start, start + len(steps), dtype=np.int64)
        for key, (kind, arr) in values.items():
            if self._room(key):
                self._parts.setdefault(key, []).append((idx, kind, arr))
        self.rows = start + len(steps)

    def add_rows(self, keys: list[str], steps: list[int], times: list[float], values: list[Any]) -> None:
        """A ``rows`` record's block: ``values`` holds len(steps) rows of
        len(keys) values each, one row after another."""
        self.seal()
        start, n, width = self.rows, len(steps), len(keys)
        self._steps.append(np.array(steps, np.int64))
        self._times.append(np.array(times, np.float64))
        idx = np.arange(start, start + n, dtype=np.int64)
        parts = self._parts
        for j, key in enumerate(keys):
            if key not in parts and not self._room(key):
                continue
            col = values[j::width] if width > 1 else values
            types = set(map(type, col))
            if types == _FLOAT:
                kind = "f64"
            elif len(types) == 1:
                kinds = set(map(kind_of, col))  # ints past int64, or other kinds
                kind = kinds.pop() if len(kinds) == 1 else "any"
            else:
                kind = "any"
            parts.setdefault(key, []).append((idx, kind, _compact(kind, col)))
        self.rows = start + n

    def finish(self, sf: StreamFile | None = None) -> Columns:
        """The columns, each as long as the file has rows. At most
        ``limits.KEPT_CELLS`` cells (rows x keys), or ``CELLS_PER_BYTE``
        per byte of the file (``sf.size``), are built: a file of rows that
        each bring a new key would otherwise cost the square of its rows
        (20,000 rows of 46 bytes: 3 GB); and at most ``KEPT_COLUMNS`` keys
        (each column costs Arrow a few KiB however short). Past that, the
        columns of the keys with the fewest values are not built, a
        ``not-kept`` problem of ``sf``."""
        self.seal()
        n = self.rows
        steps = np.concatenate(self._steps) if self._steps else np.zeros(0, np.int64)
        times = np.concatenate(self._times) if self._times else np.zeros(0, np.float64)
        arrays: dict[str, Any] = {"_step": arrow.numbers(steps, pa.int64()), "_t": arrow.numbers(times, pa.float64())}
        parts_of = self._parts
        counts = {k: sum(len(idx) for idx, _, _ in p) for k, p in parts_of.items()}
        kept = kept_keys(n, counts, self.not_kept, sf)
        if kept is not None:
            parts_of = {k: p for k, p in parts_of.items() if k in kept}
        for key, parts in parts_of.items():
            arrays[KEY_PREFIX + key] = _column(n, parts)
        self._parts = {}
        return Columns(pa.table(arrays))


_FLOAT = {float}
_NUMPY_KINDS: dict[str, Any] = {"f64": np.float64, "i64": np.int64, "bool": np.bool_}
_ARROW_KINDS: dict[str, Any] = {
    "f64": pa.float64(),
    "i64": pa.int64(),
    "bool": pa.bool_(),
    "str": pa.large_string(),
    "any": pa.large_binary(),
}


def _compact(kind: str, values: list[Any]) -> Any:
    """Values of one kind as a numpy array (numbers, bools) or an Arrow array
    (strings; anything else packed with msgpack, which round-trips it)."""
    if kind in _NUMPY_KINDS:
        return np.array(values, _NUMPY_KINDS[kind])
    if kind == "str":
        return arrow.strings(values)
    return arrow.binaries([msgpack.packb(v, datetime=True) for v in values])


def _as_kind(kind: str, part_kind: str, values: Any) -> Any:
    """A part's values as the column's kind: the same, or packed ("any")."""
    if part_kind == kind or part_kind == "any":
        return values
    listed = values.tolist() if isinstance(values, np.ndarray) else values.to_pylist()
    return arrow.binaries([msgpack.packb(v, datetime=True) for v in listed])


def _column(n: int, parts: list[tuple[np.ndarray, str, Any]]) -> pa.Array | pa.ChunkedArray:
    kinds = {kind for _, kind, _ in parts}
    kind = kinds.pop() if len(kinds) == 1 else "any"
    count = sum(len(idx) for idx, _, _ in parts)
    if kind in _NUMPY_KINDS:
        dense = np.concatenate([values for _, _, values in parts]) if len(parts) > 1 else parts[0][2]
        if count == n:
            return arrow.numbers(dense, _ARROW_KINDS[kind])
        values: np.ndarray = np.zeros(n, _NUMPY_KINDS[kind])
        valid = np.zeros(n, bool)
        idx = np.concatenate([i for i, _, _ in parts])
        values[idx] = dense
        valid[idx] = True
        return arrow.numbers(values, _ARROW_KINDS[kind], valid)
    chunks = [_as_kind(kind, k, values) for _, k, values in parts]
    typ = _ARROW_KINDS[kind]
    if count == n:  # every row has the key: the parts as they are, in order
        return pa.chunked_array(chunks, typ)
    where = np.full(n, -1, np.int64)  # row -> position among the values, -1 where none
    where[np.concatenate([i for i, _, _ in parts])] = np.arange(count, dtype=np.int64)
    dense_col = pa.chunked_array(chunks, typ)
    return dense_col.take(arrow.numbers(where, pa.int64(), where >= 0))


# ---- decoding a batch --------------------------------------------------------------------
def decode_batch(
    batch: Batch, sf: StreamFile, builder: ColumnBuilder, other: list[tuple[int, dict[str, Any]]], fast: bool = False
) -> None:
    """Decode a verified batch (``stream.Batch``): its rows into ``builder``,
    its other records, checked, into ``other`` as (rows before it, record).
    Records are decoded and checked by ``stream.RecordReader``, as
    ``stream.decode`` does; those that fail are reported in ``sf`` and
    skipped. Raises ``stream.TooManyBad`` past the limit. Rows laid out as
    the row before them and rows blocks of numbers are read with numpy.
    ``fast``: the batch was found by ``stream.fast_batches``, which did not
    walk its records: every generic record is decoded with its size found
    first, and anything unusual (a problem of any kind, a record that is
    not a map, a commit or header record inside, records that do not end
    exactly at the batch's end) raises ``stream.Fallback``."""
    reader = RecordReader(batch, sf)
    data = batch.data
    arr = np.frombuffer(data, np.uint8)
    stop = len(data)
    pos = batch.first - batch.start
    templates = _Templates(arr, builder, sf)
    while pos < stop:
        at = batch.start + pos
        size = batch.big.get(at)
        after = templates.read(pos, stop, size is None)
        if after is None and size is None and data[pos] == 0x87:  # a rows block of numbers: read with numpy
            after = _add_number_block(data, arr, reader.view, pos, stop, builder, sf)
        # past the file's budget, records other than rows are no longer kept: not even decoded
        if after is None and sf.kept >= limits.KEPT_ITEMS:
            after = past_kept(sf, data, reader.view, pos, stop, size, at)
        if after is not None:
            pos = after
            reader.forget()
            continue
        rec, nxt = _read_fast(reader, pos, stop) if fast else reader.read(pos)
        if rec is not None and take(rec, sf, builder, other, at, nxt - pos) and size is None:
            templates.learn(data[pos:nxt])  # the layout of the rows that may follow
        pos = nxt
    builder.seal()


class _Templates:
    """The layout of the last single row decoded, tried on the bytes after
    it; consecutive misses make the tries rarer."""

    def __init__(self, arr: np.ndarray, builder: ColumnBuilder, sf: StreamFile):
        self.arr, self.builder, self.sf = arr, builder, sf
        self.tmpl: Template | None = None
        self.skip = 0
        self.misses = 0

    def read(self, pos: int, stop: int, small: bool) -> int | None:
        """Rows at ``pos`` laid out as the last one, all added: where they
        end; None if there are none (or no try now)."""
        tmpl = self.tmpl
        if tmpl is not None and small and self.skip <= 0:
            k = tmpl.match(self.arr, pos, stop)
            if k:  # rows laid out as the last one: k of them at once
                self.builder.add_block(*tmpl.values(self.arr, pos, k))
                self.sf.records += k
                self.misses = 0
                return pos + k * tmpl.length
            self.misses += 1
            self.skip = min(1 << self.misses, 256)
        self.skip -= 1
        return None

    def learn(self, raw: bytes) -> None:
        if self.skip <= 0:
            self.tmpl = make_template(raw) or self.tmpl


def _read_fast(reader: RecordReader, pos: int, stop: int) -> tuple[dict[str, Any], int]:
    """A record of a batch ``fast_batches`` found; Fallback for anything unusual."""
    try:
        rec, nxt = reader.read_alone(pos, stop)
    except Exception:
        raise Fallback() from None
    if record_problem(rec) is not None or rec["k"] in (fmt.COMMIT, fmt.HEADER) or nxt > stop:
        raise Fallback()
    return cast("dict[str, Any]", rec), nxt


def _add_number_block(
    data: bytes, arr: Any, view: memoryview, pos: int, stop: int, builder: ColumnBuilder, sf: StreamFile
) -> int | None:
    """A rows block of numbers at ``pos`` read with numpy into ``builder``;
    where the next record starts, or None if it is not laid out so."""
    block = number_block(data, arr, view, pos, stop)
    if block is None:
        return None
    nxt, steps, times, cols = block
    builder.add_block(steps, times, cols)
    sf.records += 1
    return nxt


def present_values(col: pa.ChunkedArray, start: int, stop: int) -> Any:
    """The values of rows [start, stop) that have one: a numpy array for
    numbers and bools, else a list of Python values."""
    part = col.slice(start, stop - start)
    typ = col.type
    if pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ):
        return arrow.values(part.drop_null())
    return [v for v in python_lists(part) if v is not MISSING]


ROWS_WINDOW = 65536  # rows made at a time: a generator of rows holds no more than this many


def rows_of(
    columns: Columns,
    keys: list[str] | None = None,
    need: int = 1,
    start: int = 0,
    stop: int | None = None,
    runtime: tuple[float, float] | None = None,
) -> Iterator[dict[str, Any]]:
    """History rows [start, stop) of ``columns``, each with "_step",
    "_timestamp" and, given ``runtime`` = (base, start time), "_runtime":
    every row, or with ``keys`` the rows that have at least ``need`` of
    them, holding only those. Rows with the same keys are made together
    (``dict(zip(...))`` over value lists), not value by value."""
    names = columns.keys() if keys is None else [k for k in keys if columns.column(k) is not None]
    if keys is None:
        need = 0
    elif len(names) < need:
        return
    stop = columns.rows if stop is None else stop
    at = start
    while at < stop:
        end = _window_end(columns, names, at, min(stop, at + ROWS_WINDOW))
        yield from _window(columns, names, need, at, end, runtime)
        at = end


def _packed_lengths(col: pa.ChunkedArray) -> Any:
    """Each value's length in bytes, from a large binary column's offsets
    (numpy over the buffers: pyarrow's compute would import pandas)."""
    parts = []
    for chunk in col.chunks:
        offsets = np.frombuffer(chunk.buffers()[1], np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        parts.append(np.diff(offsets))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


WINDOW_PACKED = 1 << 20  # packed bytes of maps and lists a window of rows decodes at most (one row whatever it is)


def _window_end(columns: Columns, names: list[str], start: int, stop: int) -> int:
    """Where a window of rows from ``start`` ends: at ``stop``, or sooner
    where the rows' packed maps and lists pass WINDOW_PACKED, so that rows
    of wide values (65,000 empty lists a row) are made a few at a time."""
    sizes = None
    for name in names:
        col = columns.named(KEY_PREFIX + name)
        if not pa.types.is_large_binary(col.type):
            continue
        length = _packed_lengths(col.slice(start, stop - start))
        sizes = length if sizes is None else sizes + length
    if sizes is None or int(sizes.sum()) <= WINDOW_PACKED:
        return stop
    over = int(np.searchsorted(np.cumsum(sizes), WINDOW_PACKED, side="right"))
    return start + max(1, over)


def _window(
    columns: Columns, names: list[str], need: int, start: int, stop: int, runtime: tuple[float, float] | None
) -> Iterator[dict[str, Any]]:
    n = stop - start
    cols = [columns.named(KEY_PREFIX + k).slice(start, n) for k in names]
    steps = arrow.values(columns.named("_step").slice(start, n))
    times = arrow.values(columns.named("_t").slice(start, n))
    extra_names = ["_step", "_timestamp"]
    extra = [steps, times]
    if runtime is not None:
        extra_names.append("_runtime")
        extra.append(runtime[0] + (times - runtime[1]))
    masks = [None if c.null_count == 0 else arrow.valid(c) for c in cols]
    if all(m is None for m in masks):  # every row has every key
        if need > len(names):
            return
        lists = [python_lists(c) for c in cols] + [e.tolist() for e in extra]
        yield from map(dict, map(zip, repeat(names + extra_names), zip(*lists)))
        return
    have = np.stack([np.ones(n, bool) if m is None else m for m in masks], axis=1)
    patterns, which = np.unique(np.packbits(have, axis=1), axis=0, return_inverse=True)
    which = which.reshape(-1)
    if len(patterns) > max(16, n // 64):  # rows of many different shapes: one by one
        yield from _one_by_one(cols, names, need, extra_names, extra)
        return
    out: list[dict[str, Any] | None] = [None] * n
    for p in range(len(patterns)):
        keys_here = np.flatnonzero(np.unpackbits(patterns[p])[: len(names)])
        if len(keys_here) < need:
            continue
        idx = np.flatnonzero(which == p)
        take = arrow.indices(idx)
        lists = [python_lists(cols[i].take(take)) for i in keys_here.tolist()]
        lists += [e[idx].tolist() for e in extra]
        shaped = [names[i] for i in keys_here.tolist()] + extra_names
        for j, row in zip(idx.tolist(), map(dict, map(zip, repeat(shaped), zip(*lists)))):
            out[j] = row
    yield from (row for row in out if row is not None)


def _one_by_one(
    cols: list[pa.ChunkedArray], names: list[str], need: int, extra_names: list[str], extra: list[np.ndarray]
) -> Iterator[dict[str, Any]]:
    lists = [python_lists(c) for c in cols]
    extras = [e.tolist() for e in extra]
    for i in range(len(extras[0])):
        row = {}
        for name, lst in zip(names, lists):
            v = lst[i]
            if v is not MISSING:
                row[name] = v
        if len(row) < need:
            continue
        for name, e in zip(extra_names, extras):
            row[name] = e[i]
        yield row


def concat_columns(a: Columns, b: Columns) -> Columns:
    """The rows of ``a`` then those of ``b``. A key whose kind differs
    between them becomes "any" (each value packed), as in one file."""
    ta, tb = a.whole(), b.whole()
    if not b.rows:
        return a
    if not a.rows:
        return b
    arrays: dict[str, Any] = {}
    for name in dict.fromkeys([*ta.column_names, *tb.column_names]):
        ca = ta.column(name) if name in ta.column_names else None
        cb = tb.column(name) if name in tb.column_names else None
        typ = _unified(ca.type if ca is not None else None, cb.type if cb is not None else None)
        parts = []
        for col, n in ((ca, ta.num_rows), (cb, tb.num_rows)):
            if col is None:
                parts.append(pa.nulls(n, typ))
            elif col.type != typ:
                parts.extend(_packed(col).chunks)
            else:
                parts.extend(col.chunks)
        arrays[name] = pa.chunked_array(parts, typ)
    return Columns(pa.table(arrays))


def _unified(x: pa.DataType | None, y: pa.DataType | None) -> pa.DataType:
    if x is None or y is None or x == y:
        found = x if y is None else y
        assert found is not None
        return found
    return pa.large_binary()


def _packed(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column's values packed with msgpack (its kind becomes "any")."""
    values = python_lists(col)
    packed = [None if v is MISSING else msgpack.packb(v, datetime=True) for v in values]
    return pa.chunked_array([arrow.binaries(packed)], pa.large_binary())


def empty_segment() -> Segment:
    return Segment(ColumnBuilder().finish(), [], None, None)


# ---- a whole stream file ------------------------------------------------------------------
@dataclass
class Segment:
    """What one stream file holds for the fold and for history: its rows as
    columns, its other records (each with the number of rows before it), and
    the times of its first and last records."""

    columns: Columns
    records: list[tuple[int, dict[str, Any]]]
    first_t: float | None
    last_t: float | None
    # start row -> (stop row, each key's last value in rows [start, stop)), for
    # the stretches of rows between other records: the fold needs no column
    lasts: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    last_step: int | None = None
    # of a cache entry: the end of each good batch (to check the file's
    # bytes again), and whether the file had corruption when it was cached
    ends: list[int] | None = None
    damaged: bool = False

    @property
    def rows(self) -> int:
        return self.columns.rows

    def stretches(self) -> Iterator[tuple[int, int]]:
        """The [start, stop) stretches of rows between other records, in order."""
        done = 0
        for pos, _ in self.records:
            if pos > done:
                yield done, pos
                done = pos
        if self.rows > done:
            yield done, self.rows

    def last_values(self, start: int, stop: int, budget: limits.Budget | None = None) -> dict[str, Any]:
        """Each key's last value in rows [start, stop): from ``lasts`` when
        it holds that stretch, else from the columns."""
        known = self.lasts.get(start)
        if known is not None and known[0] == stop:
            return known[1]
        return self.columns.last_values(start, stop, budget)

    def fold_lasts(self) -> dict[int, tuple[int, dict[str, Any]]]:
        """``lasts`` for the stretches (computed where missing) while they
        hold at most ``limits.KEPT_ITEMS`` values together; the others are
        left out (read from the columns when folded)."""
        out = {}
        budget = limits.Budget()
        for a, b in self.stretches():
            lasts = self.last_values(a, b, budget)
            if budget.refused:
                break
            out[a] = (b, lasts)
        return out


def decode_segment(source: Any, sf: StreamFile, start: int = 0, header: dict[str, Any] | None = None) -> Segment:
    """Read a stream file (a file object or bytes) from ``start`` (0, or a
    commit boundary with ``sf.header`` set) into a Segment; fills ``sf``."""
    f = as_file(source)
    if start == 0:
        sf.size = file_size(f)
        sf.kept = 0
    builder = ColumnBuilder()
    other: list[tuple[int, dict[str, Any]]] = []
    if start == 0:
        try:
            for batch in fast_batches(f, sf):
                decode_batch(batch, sf, builder, other, fast=batch.fast)
        except (Fallback, TooManyBad):  # something unusual: the careful way, from the start
            sf.reset()
            sf.header = None
            sf.size = file_size(f)
            builder, other = ColumnBuilder(), []
            _careful(f, sf, 0, builder, other)
    else:
        _careful(f, sf, start, builder, other)
    columns = builder.finish(sf)
    steps = columns.named("_step")
    last_step = int(steps[len(steps) - 1].as_py()) if len(steps) else None
    return Segment(columns, other, *_times(columns, other, sf.header if start == 0 else header), last_step=last_step)


def _careful(
    f: Any, sf: StreamFile, start: int, builder: ColumnBuilder, other: list[tuple[int, dict[str, Any]]]
) -> None:
    try:
        for batch in batches(f, sf, start):
            decode_batch(batch, sf, builder, other)
    except TooManyBad:
        pass


def _times(
    columns: Columns, other: list[tuple[int, dict[str, Any]]], header: dict[str, Any] | None
) -> tuple[float | None, float | None]:
    times = arrow.values(columns.named("_t"))
    if not len(times):
        return times_of(None, None, other, header)
    return times_of(float(times[0]), float(times.max()), other, header)
