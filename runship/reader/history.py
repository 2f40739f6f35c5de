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

from runship.reader.columns import MISSING, Columns, python_lists

DERIVED_X = ("_step", "_runtime", "_timestamp")


@dataclass
class Part:
    """One stream file's rows: its columns, and how its times become _runtime."""

    columns: Columns
    runtime_base: float
    start_t: float | None


# ---- arrays over the whole run ---------------------------------------------------------------
def _numeric(typ: pa.DataType) -> bool:
    return bool(pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ))


def derived(parts: Sequence[Part], name: str) -> np.ndarray:
    """_step (int64), _timestamp or _runtime (float64) of every row."""
    if name == "_step":
        arrays = [p.columns.named("_step").to_numpy() for p in parts]
        return np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    out = []
    for p in parts:
        t = p.columns.named("_t").to_numpy()
        if name == "_runtime":
            t = p.runtime_base + (t - p.start_t) if p.start_t is not None else np.full(len(t), np.nan)
        out.append(t)
    return np.concatenate(out) if out else np.zeros(0, np.float64)


def key_arrays(
    parts: Sequence[Part], key: str, numbers: bool = True
) -> tuple[np.ndarray, np.ndarray | None, list[pa.ChunkedArray | None]]:
    """(present, values, per-part columns) of a logged key over every row:
    ``present`` a bool mask; ``values`` float64 (NaN where absent) when
    every part holds numbers or bools (and ``numbers``), else None."""
    present = []
    values: list[np.ndarray] | None = [] if numbers else None
    cols: list[pa.ChunkedArray | None] = []
    for p in parts:
        col = p.columns.column(key)
        cols.append(col)
        n = p.columns.rows
        if col is None:
            present.append(np.zeros(n, bool))
            if values is not None:
                values.append(np.full(n, np.nan))
            continue
        present.append(np.ones(n, bool) if col.null_count == 0 else np.asarray(col.is_valid()))
        if values is not None and _numeric(col.type):
            values.append(np.asarray(col.cast(pa.float64(), safe=False).fill_null(np.nan).to_numpy(), np.float64))
        else:
            values = None
    mask = np.concatenate(present) if present else np.zeros(0, bool)
    if values is None:
        return mask, None, cols
    return mask, (np.concatenate(values) if values else np.zeros(0)), cols


# ---- downsampling ----------------------------------------------------------------------------
def buckets(x: np.ndarray, count: int, xrange: tuple[float, float] | None) -> tuple[np.ndarray, float, float]:
    """The bucket of each x (-1: outside ``xrange`` or NaN), and the range's ends."""
    ok = ~np.isnan(x)
    if xrange is not None:
        lo, hi = float(xrange[0]), float(xrange[1])
        ok &= (x >= lo) & (x <= hi)
    elif ok.any():
        lo, hi = float(np.min(x[ok])), float(np.max(x[ok]))
    else:
        lo = hi = 0.0
    out = np.full(len(x), -1, np.int64)
    if hi > lo:
        with np.errstate(invalid="ignore", over="ignore"):
            b = np.floor((x[ok] - lo) / (hi - lo) * count)
        out[ok] = np.clip(b, 0, count - 1).astype(np.int64)
    else:
        out[ok] = 0
    return out, lo, hi


def bucket_of(x: float, lo: float, hi: float, count: int) -> int:
    """The bucket of one x (as ``buckets``): for checking by hand."""
    if hi <= lo:
        return 0
    return int(min(max(np.floor((x - lo) / (hi - lo) * count), 0), count - 1))


def keep(bucket: np.ndarray, rows: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Of ``rows`` (ascending row numbers, each in ``bucket``), those to
    keep: per bucket the first and last, and with ``values`` (float64, in
    the same order) the first minimum, first maximum and first NaN."""
    if not len(rows):
        return rows
    if len(bucket) > 1 and not bool(np.all(bucket[1:] >= bucket[:-1])):
        order = np.argsort(bucket, kind="stable")  # x not monotonic: group buckets, rows stay in order
        bucket, rows = bucket[order], rows[order]
        values = values[order] if values is not None else None
    n = len(bucket)
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [n]))
    picks = [starts, ends - 1]
    if values is not None:
        nan = np.isnan(values)
        group = np.repeat(np.arange(len(starts)), ends - starts)
        for fill, reduce in ((np.inf, np.minimum), (-np.inf, np.maximum)):
            v = np.where(nan, fill, values)
            extreme = reduce.reduceat(v, starts)
            hit = np.flatnonzero((v == extreme[group]) & ~nan)
            picks.append(_firsts(hit, group))
        if nan.any():
            picks.append(_firsts(np.flatnonzero(nan), group))
    return np.unique(rows[np.concatenate(picks)])


def _firsts(positions: np.ndarray, group: np.ndarray) -> np.ndarray:
    """The first of ``positions`` in each group."""
    if not len(positions):
        return positions
    g = group[positions]
    first = np.concatenate(([True], g[1:] != g[:-1]))
    return positions[first]


def sample(
    parts: Sequence[Part], keys: list[str], samples: int, x: str = "_step", xrange: tuple[float, float] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(rows, {key: its rows kept}) over the run's row numbers."""
    count = max(1, samples // 4)
    if x in DERIVED_X:
        xs = derived(parts, x).astype(np.float64)
        x_ok = np.ones(len(xs), bool)
    else:
        x_ok, xs_or_none, _ = key_arrays(parts, x)
        if xs_or_none is None:
            raise ValueError(f"x={x!r}: that key holds values that are not numbers")
        xs = xs_or_none
    bucket, _, _ = buckets(np.where(x_ok, xs, np.nan), count, xrange)
    kept: dict[str, np.ndarray] = {}
    for key in keys:
        present, numbers, _ = key_arrays(parts, key)
        rows = np.flatnonzero(present & (bucket >= 0))
        kept[key] = keep(bucket[rows], rows, numbers[rows] if numbers is not None else None)
    every = np.unique(np.concatenate(list(kept.values()))) if kept else np.zeros(0, np.int64)
    return every, kept


# ---- rows and frames -------------------------------------------------------------------------
def rows_at(
    parts: Sequence[Part], rows: np.ndarray, kept: dict[str, np.ndarray], x: str | None = None
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
    steps = derived(parts, "_step")[rows].tolist()
    times = derived(parts, "_timestamp")[rows].tolist()
    runtimes = derived(parts, "_runtime")[rows].tolist()
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


def matching(parts: Sequence[Part], keys: list[str], need: int) -> np.ndarray:
    """Row numbers of the rows that hold at least ``need`` of ``keys``."""
    total = sum(p.columns.rows for p in parts)
    count = np.zeros(total, np.int64)
    for key in keys:
        present, _, _ = key_arrays(parts, key, numbers=False)
        count += present
    return np.flatnonzero(count >= need)


def frame(
    parts: Sequence[Part], keys: list[str], rows: np.ndarray | None, kept: dict[str, np.ndarray] | None = None
) -> Any:
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
        present, numbers, cols = key_arrays(parts, key)
        if numbers is not None and all(c is None or not pa.types.is_boolean(c.type) for c in cols):
            ints = all(c is None or pa.types.is_integer(c.type) for c in cols) and bool(present.all())
            if ints:
                arr = np.concatenate([c.to_numpy() for c in cols if c is not None] or [np.zeros(0, np.int64)]).astype(
                    np.int64
                )
            else:
                arr = numbers
            data[key] = arr if rows is None else arr[rows]
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
    for name in ("_step", "_timestamp", "_runtime"):
        arr = derived(parts, name)
        data[name] = arr if rows is None else arr[rows]
    return pd.DataFrame(data, copy=False)


def _masked(parts: Sequence[Part], key: str, rows: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """A key's values at ``rows``, NaN/None at rows not ``picked`` for it."""
    out: list[Any] = [MISSING] * len(rows)
    for j, v in zip(np.searchsorted(rows, picked).tolist(), _values_at(parts, key, picked)):
        out[j] = v
    if all(v is MISSING or (type(v) in (int, float)) for v in out):
        return np.array([np.nan if v is MISSING else v for v in out], np.float64)
    arr = np.empty(len(out), object)
    arr[:] = [None if v is MISSING else v for v in out]
    return arr


def _values_at(parts: Sequence[Part], key: str, picked: np.ndarray) -> list[Any]:
    """A key's Python values at row numbers ``picked`` (ascending; MISSING where none)."""
    offsets = np.cumsum([0] + [p.columns.rows for p in parts])
    out: list[Any] = [MISSING] * len(picked)
    part_of = np.searchsorted(offsets, picked, side="right") - 1
    for i in np.unique(part_of).tolist():
        col = parts[i].columns.column(key)
        if col is None:
            continue
        sel = np.flatnonzero(part_of == i)
        for j, v in zip(sel.tolist(), python_lists(col.take(pa.array(picked[sel] - offsets[i])))):
            out[j] = v
    return out
