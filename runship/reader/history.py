"""A run's history as arrays: a DataFrame built from columns, and
downsampling that keeps every bucket's extremes.

The rows of a run are the rows of its stream files in order (sessions, then
segments). Each file's rows are columns (``runship.reader.columns``); here
they are put end to end for the keys asked for, so that what is read costs
what those keys weigh.

Downsampling (``history(keys, samples=N)``) splits the x axis (``_step``,
``_runtime``, ``_timestamp`` or a logged key such as ``epoch``) into
``N // 4`` equal buckets and keeps, for each key and each bucket, the rows
holding its first and last value, its minimum and maximum (the first row
with each; NaN is not a minimum or a maximum) and its first NaN: a spike or
a NaN among millions of points always shows. Keys that are not numbers keep
their first and last value per bucket.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from runship.reader import arrow, pyramid
from runship.reader.columns import MISSING, Columns, python_lists
from runship.reader.plain import KEY_PREFIX
from runship.reader.pyramid import Piece

DERIVED_X = ("_step", "_runtime", "_timestamp")


@dataclass
class Part:
    """One stream file's rows: its columns, and how its times become _runtime."""

    columns: Columns
    runtime_base: float
    start_t: float | None


class Stack(list[Part]):
    """A run's files' rows end to end; arrays made of them are kept."""

    def __init__(self, parts: Sequence[Part]):
        super().__init__(parts)
        self.memo: dict[tuple[str, ...], Any] = {}
        self.offsets = np.cumsum([0] + [p.columns.rows for p in parts])

    @property
    def rows(self) -> int:
        return int(self.offsets[-1])


# ---- arrays over the whole run ---------------------------------------------------------------
def _numeric(typ: pa.DataType) -> bool:
    return bool(pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ))


def derived(parts: Stack, name: str) -> np.ndarray:
    """_step (int64), _timestamp or _runtime (float64) of every row."""
    got: np.ndarray | None = parts.memo.get((name,))
    if got is None:
        got = parts.memo[(name,)] = _derived(parts, name)
    return got


def derived_at(parts: Stack, name: str, rows: np.ndarray) -> np.ndarray:
    """``derived`` at some row numbers (ascending) only."""
    if (name,) in parts.memo or len(rows) * 8 > parts.rows:
        whole: np.ndarray = derived(parts, name)[rows]
        return whole
    out = np.empty(len(rows), np.int64 if name == "_step" else np.float64)
    part_of = np.searchsorted(parts.offsets, rows, side="right") - 1
    for i in np.unique(part_of).tolist():
        sel = np.flatnonzero(part_of == i)
        p = parts[i]
        local = arrow.indices(rows[sel] - parts.offsets[i])
        values = arrow.values(p.columns.named("_step" if name == "_step" else "_t").take(local))
        if name == "_runtime":
            values = p.runtime_base + (values - p.start_t) if p.start_t is not None else np.full(len(sel), np.nan)
        out[sel] = values
    return out


def _fill(out: np.ndarray, at: int, col: pa.ChunkedArray) -> None:
    """Copy a column without nulls into ``out`` from ``at`` (one copy)."""
    for chunk in col.chunks:
        n = len(chunk)
        out[at : at + n] = arrow.values(chunk)
        at += n


def _derived(parts: Stack, name: str) -> np.ndarray:
    dtype: Any = np.int64 if name == "_step" else np.float64
    out: np.ndarray = np.empty(parts.rows, dtype)
    for p, at in zip(parts, parts.offsets.tolist()):
        _fill(out, at, p.columns.named("_step" if name == "_step" else "_t"))
        if name == "_runtime":
            part = out[at : at + p.columns.rows]
            if p.start_t is None:
                part[:] = np.nan
            else:
                part -= p.start_t
                part += p.runtime_base
    return out


def key_arrays(
    parts: Stack, key: str, numbers: bool = True
) -> tuple[np.ndarray, np.ndarray | None, list[pa.ChunkedArray | None]]:
    """(present, values, per-part columns) of a logged key over every row:
    ``present`` a bool mask; ``values`` float64 (NaN where absent) when
    every part holds numbers or bools (and ``numbers``), else None."""
    memo = ("key", key, str(numbers))
    got = parts.memo.get(memo)
    if got is None:
        got = parts.memo[memo] = _key_arrays(parts, key, numbers)
    found: tuple[np.ndarray, np.ndarray | None, list[pa.ChunkedArray | None]] = got
    return found


def _key_arrays(
    parts: Stack, key: str, numbers: bool
) -> tuple[np.ndarray, np.ndarray | None, list[pa.ChunkedArray | None]]:
    cols = [p.columns.column(key) for p in parts]
    present = np.zeros(parts.rows, bool)
    numeric = numbers and all(c is None or _numeric(c.type) for c in cols)
    values = np.empty(parts.rows, np.float64) if numeric else None
    for col, at, n in zip(cols, parts.offsets.tolist(), [p.columns.rows for p in parts]):
        if col is None:
            if values is not None:
                values[at : at + n] = np.nan
            continue
        if col.null_count == 0:
            present[at : at + n] = True
        else:
            present[at : at + n] = arrow.valid(col)
        if values is None:
            continue
        if pa.types.is_float64(col.type) and col.null_count == 0:
            _fill(values, at, col)
        else:
            values[at : at + n] = arrow.values(col).astype(np.float64)
    return present, values, cols


# ---- downsampling ----------------------------------------------------------------------------
def edges(lo: float, hi: float, count: int) -> np.ndarray:
    """The inner edges of ``count`` equal buckets over [lo, hi]: bucket b
    holds lo + (hi-lo)*b/count <= x < lo + (hi-lo)*(b+1)/count (the last
    one also x = hi)."""
    return lo + (hi - lo) * (np.arange(1, count, dtype=np.float64) / count)


def x_range(x: np.ndarray, xrange: tuple[float, float] | None) -> tuple[float, float] | None:
    """(lo, hi) of the buckets: ``xrange``, else the x values' own (None if none)."""
    if xrange is not None:
        lo, hi = float(xrange[0]), float(xrange[1])
        return (lo, hi) if lo <= hi else None
    if not len(x):
        return None
    if x.dtype.kind in "iu":
        return float(x.min()), float(x.max())
    if np.isnan(x).all():
        return None
    return float(np.nanmin(x)), float(np.nanmax(x))


def bucket_of(x: float, lo: float, hi: float, count: int) -> int:
    """The bucket of one x in [lo, hi] (for checking by hand)."""
    return int(np.searchsorted(edges(lo, hi, count), x, side="right"))


def _sorted(x: np.ndarray) -> bool:
    return len(x) < 2 or bool(np.all(x[1:] >= x[:-1]))


def keep(
    x: np.ndarray,
    rows: np.ndarray | None,
    values: np.ndarray | None,
    lo: float,
    hi: float,
    count: int,
    whole: bool = False,
    ordered: bool | None = None,
) -> np.ndarray:
    """Of ``rows`` (ascending row numbers, None: 0, 1, 2, ...; with x
    values ``x``, no NaN), those to keep: per bucket the first and last, and
    with ``values`` (float64, the same length) the first minimum, first
    maximum and first NaN. ``whole``: every x is within [lo, hi];
    ``ordered``: whether x is known to be sorted."""
    if not whole and ordered:  # sorted x: the range is one slice
        a, b = int(np.searchsorted(x, lo, side="left")), int(np.searchsorted(x, hi, side="right"))
        if a > 0 or b < len(x):
            rows = np.arange(a, b, dtype=np.int64) if rows is None else rows[a:b]
            x = x[a:b]
            values = values[a:b] if values is not None else None
    elif not whole:
        inside = (x >= lo) & (x <= hi)
        if not inside.all():
            rows = np.flatnonzero(inside) if rows is None else rows[inside]
            x = x[inside]
            values = values[inside] if values is not None else None
            ordered = None
    if not len(x):
        return np.zeros(0, np.int64)
    inner = edges(lo, hi, count)
    if x.dtype.kind in "iu":  # integer x (steps): x >= edge exactly when x >= ceil(edge)
        inner = np.ceil(inner).astype(x.dtype)
    if _sorted(x) if ordered is None else ordered:  # the usual case (_step, _runtime): buckets are runs of rows
        bounds = np.searchsorted(x, inner, side="left")  # x == an edge: the bucket above
        starts = np.unique(np.concatenate(([0], bounds)))
        starts = starts[starts < len(x)]
        order = None
    else:  # group the rows by bucket; within one, rows stay in order
        bucket = np.searchsorted(inner, x, side="right")
        order = np.argsort(bucket, kind="stable")
        bucket = bucket[order]
        starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
        values = values[order] if values is not None else None
    ends = np.concatenate((starts[1:], [len(x)]))
    picks = [starts, ends - 1]
    if values is not None:
        lengths = ends - starts
        found = []
        for reduce in (np.fmin, np.fmax):  # NaN is skipped (a bucket all NaN: no minimum, no maximum)
            extreme = np.repeat(reduce.reduceat(values, starts), lengths)
            at = np.flatnonzero(values == extreme)  # NaN never equals: all-NaN buckets give none
            if len(at):  # the first of each bucket
                group = np.searchsorted(starts, at, side="right")
                found.append(at[np.concatenate(([True], group[1:] != group[:-1]))])
        nan = np.flatnonzero(np.isnan(values))
        if len(nan):  # the first NaN of each bucket
            group = np.searchsorted(starts, nan, side="right")
            nan = nan[np.concatenate(([True], group[1:] != group[:-1]))]
        picks += [*found, nan]
    chosen = np.concatenate(picks)
    if order is not None:
        chosen = order[chosen]
    return np.unique(chosen if rows is None else rows[chosen])


def sample(
    parts: Stack,
    keys: list[str],
    samples: int,
    x: str = "_step",
    xrange: tuple[float, float] | None = None,
    together: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(rows, {key: its rows kept}) over the run's row numbers. Each key
    gets ``samples // 4`` buckets of its own rows; ``together``: only rows
    that hold every key count, the buckets are ``samples // (4 * keys)``
    and every kept row is kept for every key (rows hold all the keys, about
    ``samples`` of them in all)."""
    count = max(1, samples // (4 * (len(keys) if together and keys else 1)))
    if x in DERIVED_X:
        xs = derived(parts, x)  # _step stays integers
        x_ok: np.ndarray | None = None if x != "_runtime" else ~np.isnan(xs)
    else:
        x_ok, xs_or_none, _ = key_arrays(parts, x)
        if xs_or_none is None:
            raise ValueError(f"x={x!r}: that key holds values that are not numbers")
        xs = xs_or_none
        x_ok = x_ok & ~np.isnan(xs)
    if together and keys:
        for key in keys:
            present = key_arrays(parts, key)[0]
            x_ok = present if x_ok is None else x_ok & present
    if x_ok is not None and x_ok.all():
        x_ok = None
    ordered = _sorted(xs) if x_ok is None else _sorted(xs[x_ok])  # then sorted for any subset of rows too
    if ordered and x_ok is None and xrange is None:
        found: tuple[float, float] | None = (float(xs[0]), float(xs[-1])) if len(xs) else None
    else:
        found = x_range(xs if x_ok is None else xs[x_ok], xrange)
    kept: dict[str, np.ndarray] = {}
    for key in keys:
        if found is None:
            kept[key] = np.zeros(0, np.int64)
            continue
        present, numbers, _ = key_arrays(parts, key)
        ok = present if x_ok is None else present & x_ok
        if ok.all():
            kept[key] = keep(xs, None, numbers, *found, count, whole=xrange is None, ordered=ordered)
        else:
            rows = np.flatnonzero(ok)
            values = numbers[rows] if numbers is not None else None
            kept[key] = keep(xs[rows], rows, values, *found, count, whole=xrange is None, ordered=ordered)
    every = np.unique(np.concatenate(list(kept.values()))) if kept else np.zeros(0, np.int64)
    if together:
        kept = {key: every for key in keys}
    return every, kept


def sample_pieces(pieces: list[Piece], lo: float, hi: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, values) of one key's points over [lo, hi], x sorted over the
    pieces (``_step``: integers), from their block summaries."""
    inner = edges(lo, hi, count)
    if pieces and pieces[0].x0.dtype.kind in "iu":
        inner = np.ceil(inner)
    _, xs, ys = pyramid.sample_pieces(pieces, lo, hi, inner)
    return xs, ys


def keep_pieces(pieces: list[Piece], lo: float, hi: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, values) ``history.keep`` keeps of the rows with lo <= x <= hi
    (x sorted over the pieces), reading only the blocks that hold them."""
    xs, vals, rows = [], [], []
    for p in pieces:
        over = np.flatnonzero((p.x1 >= lo) & (p.x0 <= hi))
        if not len(over):
            continue
        start, stop = int(over[0]) * pyramid.BLOCK, min(p.rows, (int(over[-1]) + 1) * pyramid.BLOCK)
        ((x, present, values),) = p.raw([(start, stop)])
        idx = np.flatnonzero(present)
        xs.append(x[idx])
        vals.append(values[idx])
        rows.append(idx + start + p.offset)
    if not xs:
        return np.zeros(0, np.int64), np.zeros(0)
    x_all, v_all, r_all = np.concatenate(xs), np.concatenate(vals), np.concatenate(rows)
    kept = keep(x_all, r_all, v_all, lo, hi, count, ordered=True)
    at = np.searchsorted(r_all, kept)
    return x_all[at], v_all[at]


# ---- rows and frames -------------------------------------------------------------------------
def rows_at(
    parts: Stack, rows: np.ndarray, kept: dict[str, np.ndarray], x: str | None = None
) -> Iterator[dict[str, Any]]:
    """History rows at these row numbers (ascending), each with the keys
    kept there (and ``x`` when it is a logged key), ``_step``, ``_timestamp``
    and ``_runtime``."""
    picks = dict(kept)
    if x is not None and x not in DERIVED_X and x not in picks:
        picks[x] = rows
    values: dict[str, list[Any]] = {}
    for key, picked in picks.items():
        out: list[Any] = [MISSING] * len(rows)
        for j, v in zip(np.searchsorted(rows, picked).tolist(), _values_at(parts, key, picked)):
            out[j] = v
        values[key] = out
    steps = derived_at(parts, "_step", rows).tolist()
    times = derived_at(parts, "_timestamp", rows).tolist()
    runtimes = derived_at(parts, "_runtime", rows).tolist()
    for j in range(len(rows)):
        d: dict[str, Any] = {}
        for key, out in values.items():
            v = out[j]
            if v is not MISSING:
                d[key] = v
        d["_step"] = steps[j]
        d["_timestamp"] = times[j]
        if runtimes[j] == runtimes[j]:  # not NaN: the session's start is known
            d["_runtime"] = runtimes[j]
        yield d


def matching(parts: Stack, keys: list[str], need: int) -> np.ndarray | None:
    """Row numbers of the rows that hold at least ``need`` of ``keys`` (None: every row)."""
    masks = [key_arrays(parts, key, numbers=False)[0] for key in keys]
    if need == len(keys) and all(m.all() for m in masks):
        return None
    count = np.zeros(parts.rows, np.int64)
    for key in keys:
        present, _, _ = key_arrays(parts, key, numbers=False)
        count += present
    return np.flatnonzero(count >= need)


def frame(parts: Stack, keys: list[str], rows: np.ndarray | None, kept: dict[str, np.ndarray] | None = None) -> Any:
    """A pandas DataFrame of these keys (columns in that order, then _step,
    _timestamp and _runtime) at these row numbers (None: every row), made
    from the columns: numbers stay arrays, NaN (None for other values) where
    a row has no value. ``kept``: only these rows of each key have one."""
    import pandas as pd

    data: dict[str, Any] = {}
    for key in keys:
        if kept is not None and rows is not None:
            data[key] = _masked(parts, key, rows, kept[key])
            continue
        present, numbers, cols = _key_arrays(parts, key, True)  # not kept: the columns are let go below
        if numbers is not None and all(c is None or not pa.types.is_boolean(c.type) for c in cols):
            ints = all(c is None or pa.types.is_integer(c.type) for c in cols) and bool(present.all())
            if ints:
                arr = np.concatenate(
                    [arrow.values(c) for c in cols if c is not None] or [np.zeros(0, np.int64)]
                ).astype(np.int64)
            else:
                arr = numbers
            data[key] = arr if rows is None else arr[rows]
            del cols
            _release(parts, key)  # the values are in ``data`` now: a column read from the cache is let go
            continue
        objs: list[Any] = []
        for p, c in zip(parts, cols):
            if c is None:
                objs.extend([None] * p.columns.rows)
            else:
                objs.extend(None if v is MISSING else v for v in python_lists(c))
        arr_o = np.empty(len(objs), object)
        arr_o[:] = objs
        data[key] = arr_o if rows is None else arr_o[rows]
        del cols, objs
        _release(parts, key)
    for name in ("_step", "_timestamp", "_runtime"):
        arr = derived(parts, name)
        data[name] = arr if rows is None else arr[rows]
    return pd.DataFrame(data, copy=False)


def _release(parts: Stack, key: str) -> None:
    for p in parts:
        p.columns.release(KEY_PREFIX + key)


def _masked(parts: Stack, key: str, rows: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """A key's values at ``rows``, NaN/None at rows not ``picked`` for it."""
    out: list[Any] = [MISSING] * len(rows)
    for j, v in zip(np.searchsorted(rows, picked).tolist(), _values_at(parts, key, picked)):
        out[j] = v
    if all(v is MISSING or (type(v) in (int, float)) for v in out):
        return np.array([np.nan if v is MISSING else v for v in out], np.float64)
    arr = np.empty(len(out), object)
    arr[:] = [None if v is MISSING else v for v in out]
    return arr


def _values_at(parts: Stack, key: str, picked: np.ndarray) -> list[Any]:
    """A key's Python values at row numbers ``picked`` (ascending; MISSING where none)."""
    offsets = parts.offsets
    out: list[Any] = [MISSING] * len(picked)
    part_of = np.searchsorted(offsets, picked, side="right") - 1
    for i in np.unique(part_of).tolist():
        col = parts[i].columns.column(key)
        if col is None:
            continue
        sel = np.flatnonzero(part_of == i)
        for j, v in zip(sel.tolist(), python_lists(col.take(arrow.indices(picked[sel] - offsets[i])))):
            out[j] = v
    return out
