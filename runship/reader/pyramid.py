"""Per-block summaries of a stream file's history columns, for charts.

A file's rows are cut into blocks of ``BLOCK`` rows. For every block the
summary keeps the x bounds (``_step`` and ``_t`` of its first and last row,
and whether they never go down inside it; the same for up to ``X_KEYS``
logged step metrics such as ``epoch``) and, per numeric key, five points:
the key's first and last row in the block, its first minimum and first
maximum (NaN is neither) and its first NaN, each as (row, value, _step, _t,
and each step metric's value there where it moves).

A sample over a sorted x (``history.sample``'s buckets) then reads one entry
per block instead of every row: each bucket keeps the first, last, minimum,
maximum and first NaN of the blocks that start in it. Rows are read one by
one only for the blocks at the range's two ends (partly inside it) and the
blocks across a bucket edge where x is a step function (``epoch``: every x
value keeps its own minimum, maximum and last) or when there are few of
them; any other block across an edge counts for the bucket its first row is
in. The buckets so moved differ from the exact ones by less than a block
(used with at least ``MIN_BLOCKS`` blocks a bucket), and each still shows its own
extremes: no spike or NaN is hidden at any zoom (a narrower range is sampled
from its rows, read alone).

The summary of a cache entry is kept beside it (``<length>.blocks.parquet``,
``runship.reader.cache``), built when the entry is written; the entry of a
longer prefix of the same file (a live run) reuses every whole block of the
shorter one's. A file without one (a live file's uncached rows) has it made
at read time when it is small (``MADE_ROWS``); else the rows are read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from runship.reader import arrow
from runship.reader.plain import KEY_PREFIX

BLOCK = 256
MIN_BLOCKS = 8  # blocks a bucket at least, for the summary to be used
STRADDLE_RAW = 64  # blocks across bucket edges read row by row when there are no more
MADE_ROWS = 1 << 18  # a file's rows at most for its summary to be made at read time (not kept in the cache)
STATS = ("first", "last", "lo", "hi", "nan")
X_NAMES = ("_step", "_t")
X_KEYS = 2  # logged keys at most a file's summary serves as x (``x_keys``)


def _numeric(typ: pa.DataType) -> bool:
    return bool(pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ))


def blocks_of(rows: int, block: int = BLOCK) -> int:
    return -(-rows // block)


# ---- building ------------------------------------------------------------------------------
def x_bounds(x: np.ndarray, block: int = BLOCK, at: int = 0) -> dict[str, np.ndarray]:
    """(x0, x1, ok) per block of ``x`` (rows from ``at``): its first and last
    row's x, and whether x never goes down (nor is NaN) inside it."""
    n = len(x)
    starts = np.arange(0, n, block)
    ends = np.minimum(starts + block, n) - 1
    ok = np.ones(len(starts), bool)
    if n > 1:
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~(x[1:] >= x[:-1]))
        ok[bad[(bad // block) == ((bad + 1) // block)] // block] = False
    x0, x1 = x[starts], x[ends]
    if x.dtype.kind == "f":
        ok &= ~(np.isnan(x0) | np.isnan(x1))
    return {"x0": x0, "x1": x1, "ok": ok}


def key_points(
    values: np.ndarray, present: np.ndarray, steps: np.ndarray, times: np.ndarray, block: int = BLOCK, at: int = 0
) -> dict[str, np.ndarray]:
    """The five points of each block of one key: ``r.<stat>`` (the row,
    counted from the file's start, -1 where none), ``v.<stat>``, ``s.<stat>``
    and ``t.<stat>`` (its value, _step and _t). ``values`` float64,
    ``present`` the rows that have the key; rows counted from ``at``."""
    n = len(values)
    nb = blocks_of(n, block)
    pad = nb * block - n
    p = np.concatenate((present, np.zeros(pad, bool))).reshape(nb, block)
    v = np.concatenate((values, np.zeros(pad))).reshape(nb, block)
    isnan = np.isnan(v)
    valid = p & ~isnan
    with np.errstate(invalid="ignore"):
        low = np.where(valid, v, np.inf).min(axis=1, initial=np.inf)
        high = np.where(valid, v, -np.inf).max(axis=1, initial=-np.inf)
        masks = {
            "first": p,
            "last": p[:, ::-1],
            "lo": valid & (v == low[:, None]),
            "hi": valid & (v == high[:, None]),
            "nan": p & isnan,
        }
    base = np.arange(nb, dtype=np.int64) * block
    out: dict[str, np.ndarray] = {}
    for stat, mask in masks.items():
        found = mask.argmax(axis=1)
        local = block - 1 - found if stat == "last" else found
        rows = np.where(mask.any(axis=1), base + local, -1).astype(np.int64)
        ok = rows >= 0
        safe = np.where(ok, rows, 0)
        out[f"r.{stat}"] = np.where(ok, rows + at, -1)
        out[f"v.{stat}"] = np.where(ok, values[safe] if n else 0.0, np.nan)
        out[f"s.{stat}"] = np.where(ok, steps[safe] if n else 0, 0).astype(np.int64)
        out[f"t.{stat}"] = np.where(ok, times[safe] if n else 0.0, np.nan)
    return out


def x_keys(table: pa.Table) -> list[str]:
    """The key columns that can be a chart's x from the summary: numbers in
    every row, never going down (a step metric such as ``epoch``); at most
    X_KEYS of them, those that change first (a file may hold one epoch
    only), in column order."""
    moving: list[str] = []
    still: list[str] = []
    for name in table.column_names:
        col = table.column(name)
        if not name.startswith(KEY_PREFIX) or col.null_count or not len(col):
            continue
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            continue
        v = arrow.values(col)
        with np.errstate(invalid="ignore"):
            if not bool(np.all(v[1:] >= v[:-1])) or v[0] != v[0]:
                continue
        (moving if v[0] < v[-1] else still).append(name)
        if len(moving) == X_KEYS:
            break
    return (moving + still)[:X_KEYS]


def _first_last(col: pa.ChunkedArray) -> tuple[Any, Any]:
    return col[0].as_py(), col[len(col) - 1].as_py()


def point_x(stat: str, xkey: str, name: str) -> str:
    """The summary column of ``xkey``'s values at ``name``'s ``stat`` points
    (the x key's name length first: unambiguous whatever the names hold)."""
    return f"p.{stat}:{len(xkey)}:{xkey}{name}"


def summarize(
    table: pa.Table, start_block: int = 0, block: int = BLOCK, xkeys: list[str] | None = None
) -> dict[str, np.ndarray]:
    """The summary columns of ``table``'s rows from block ``start_block`` on:
    ``x0:_step`` ..., the same of each of ``xkeys`` (default: ``x_keys``),
    then ``<point>:<column>`` per numeric column, with each x key's values
    at its points (``point_x``)."""
    at = start_block * block
    n = table.num_rows - at
    xkeys = x_keys(table) if xkeys is None else xkeys
    steps = arrow.values(table.column("_step").slice(at, n))
    times = arrow.values(table.column("_t").slice(at, n))
    xs = {k: arrow.values(table.column(k).slice(at, n)).astype(np.float64) for k in xkeys}
    # an x key the same in every row of the file: its value at any point is its x0, not kept
    moving = {k for k in xkeys if _first_last(table.column(k))[0] != _first_last(table.column(k))[1]}
    out: dict[str, np.ndarray] = {}
    for name, x in (("_step", steps), ("_t", times), *xs.items()):
        for k, arr in x_bounds(x, block).items():
            out[f"{k}:{name}"] = arr
    for name in table.column_names:
        col = table.column(name)
        if not name.startswith(KEY_PREFIX) or not _numeric(col.type):
            continue
        part = col.slice(at, n)
        present = arrow.valid(part) if part.null_count else np.ones(n, bool)
        values = arrow.values(part, fill=0).astype(np.float64)
        points = key_points(values, present, steps, times, block, at)
        for k, arr in points.items():
            out[f"{k}:{name}"] = arr
        for xkey, x in xs.items():
            if xkey not in moving:
                continue
            for stat in STATS:
                r = points[f"r.{stat}"]
                out[point_x(stat, xkey, name)] = np.where(r >= 0, x[np.maximum(r - at, 0)] if n else 0.0, np.nan)
    return out


def _empty_points(nb: int) -> dict[str, np.ndarray]:
    """The points of blocks without the key."""
    out = {}
    for stat in STATS:
        out[f"r.{stat}"] = np.full(nb, -1, np.int64)
        out[f"v.{stat}"] = np.full(nb, np.nan)
        out[f"s.{stat}"] = np.zeros(nb, np.int64)
        out[f"t.{stat}"] = np.full(nb, np.nan)
    return out


def extend(
    prev: dict[str, np.ndarray] | None, prev_rows: int, table: pa.Table, block: int = BLOCK
) -> dict[str, np.ndarray]:
    """The summary of ``table`` given ``prev``, that of its first ``prev_rows``
    rows: every whole block of ``prev`` is kept, the rest summarized (all of
    it when the x keys are no longer those of ``prev``)."""
    keep = prev_rows // block if prev is not None and prev_rows <= table.num_rows else 0
    xkeys = x_keys(table)
    if prev is not None and {n[3:] for n in prev if n.startswith("x0:")} != {"_step", "_t", *xkeys}:
        keep = 0
    tail = summarize(table, keep, block, xkeys)
    if not keep or prev is None:
        return tail
    out: dict[str, np.ndarray] = {}
    for name, arr in tail.items():
        old = prev.get(name)
        if old is None or len(old) < keep:
            stat = name.split(":", 1)[0]
            if stat[:2] not in ("r.", "v.", "s.", "t."):
                return summarize(table, 0, block, xkeys)  # a new x key, or one that moves now
            old = _empty_points(keep)[stat]
        out[name] = np.concatenate((old[:keep].astype(arr.dtype), arr))
    return out


# ---- sampling ------------------------------------------------------------------------------
@dataclass
class Piece:
    """One file's summary as a sample needs it: the x bounds of its blocks
    (as the x asked for), a key's points, where its rows start in the run and
    how to read its rows one by one (``raw([(start, stop), ...])`` -> (x,
    present, values) of each range of the file's rows, read at once)."""

    x0: np.ndarray
    x1: np.ndarray
    points: dict[str, np.ndarray]
    offset: int
    rows: int
    raw: Callable[[list[tuple[int, int]]], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]
    to_x: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (steps, times) -> x


def ordered(pieces: list[Piece]) -> bool:
    """Is x sorted over every row of the pieces, in order?"""
    last: Any = None
    for p in pieces:
        if not len(p.x0):
            continue
        if np.any(p.x1[:-1] > p.x0[1:]) or np.any(p.x0 > p.x1):
            return False
        if last is not None and p.x0[0] < last:
            return False
        last = p.x1[-1]
    return True


def span(pieces: list[Piece]) -> tuple[float, float] | None:
    firsts = [p.x0[0] for p in pieces if len(p.x0)]
    lasts = [p.x1[-1] for p in pieces if len(p.x1)]
    return (float(firsts[0]), float(lasts[-1])) if firsts else None


def rows_within(pieces: list[Piece], lo: float, hi: float, block: int = BLOCK) -> int:
    """About how many rows have lo <= x <= hi (whole blocks that overlap)."""
    n = 0
    for p in pieces:
        over = (p.x1 >= lo) & (p.x0 <= hi)
        n += int(over.sum()) * block
    return n


class _Candidates:
    """Points that may be a bucket's first, last, min, max or first NaN."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[np.ndarray, ...]]] = {s: [] for s in STATS}

    def add(self, stat: str, bucket: np.ndarray, row: np.ndarray, value: np.ndarray, x: np.ndarray) -> None:
        if len(row):
            self.parts[stat].append((bucket, row, value, x))

    def pick(self, stat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, values, xs) of the chosen point of each bucket."""
        got = self.parts[stat]
        if not got:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        bucket, row, value, x = (np.concatenate([g[i] for g in got]) for i in range(4))
        if stat == "first" or stat == "nan":
            order = np.lexsort((row, bucket))
        elif stat == "last":
            order = np.lexsort((-row, bucket))
        elif stat == "lo":
            order = np.lexsort((row, value, bucket))
        else:
            order = np.lexsort((row, -value, bucket))
        b = bucket[order]
        first = order[np.concatenate(([True], b[1:] != b[:-1]))]
        return row[first], value[first], x[first]


def sample_pieces(
    pieces: list[Piece], lo: float, hi: float, inner: np.ndarray, block: int = BLOCK, budget: int = STRADDLE_RAW
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(run rows, x, values) kept of one key over [lo, hi] in the buckets
    ``inner`` edges make (``history.edges``; x sorted over the pieces):
    each bucket's first, last, first minimum, first maximum and first NaN.
    A block counts for the bucket its first row is in, but the rows of
    these are read one by one (each in its own bucket): blocks only partly
    in [lo, hi], and blocks across a bucket edge where x is a step function
    (the block before or after all one x: ``epoch``) or when there are at
    most ``budget`` of them."""
    cands = _Candidates()
    across = [_across(p, lo, hi, inner) for p in pieces]
    few = sum(int(a.sum()) for a in across) <= budget
    for p, straddle in zip(pieces, across):
        inside = (p.x0 >= lo) & (p.x1 <= hi)
        const = p.x0 == p.x1
        steplike = np.zeros(len(const), bool)
        steplike[1:] |= const[:-1]
        steplike[:-1] |= const[1:]
        exact = straddle & (steplike | few)
        whole = np.flatnonzero(inside & ~exact)
        if len(whole):
            _block_points(cands, p, whole, np.searchsorted(inner, p.x0[whole], side="right"))
        partial = np.flatnonzero((~inside & (p.x1 >= lo) & (p.x0 <= hi)) | exact).tolist()
        ranges = [(b * block, min((b + 1) * block, p.rows)) for b in partial]
        for (start, _), got in zip(ranges, p.raw(ranges) if ranges else []):
            _raw_rows(cands, p.offset + start, got, lo, hi, inner)
    kept_rows: list[np.ndarray] = []
    kept_x: list[np.ndarray] = []
    kept_v: list[np.ndarray] = []
    for stat in STATS:
        r, v, x = cands.pick(stat)
        kept_rows.append(r)
        kept_v.append(v)
        kept_x.append(x)
    rows = np.concatenate(kept_rows)
    rows, first = np.unique(rows, return_index=True)
    return rows, np.concatenate(kept_x)[first], np.concatenate(kept_v)[first]


def _across(p: Piece, lo: float, hi: float, inner: np.ndarray) -> np.ndarray:
    """The blocks wholly in [lo, hi] whose first and last rows are in different buckets."""
    inside: np.ndarray = (p.x0 >= lo) & (p.x1 <= hi)
    differ: np.ndarray = np.searchsorted(inner, p.x0, side="right") != np.searchsorted(inner, p.x1, side="right")
    out: np.ndarray = inside & differ
    return out


def _block_points(cands: _Candidates, p: Piece, whole: np.ndarray, bucket: np.ndarray) -> None:
    """The points of blocks ``whole`` of a piece as candidates of ``bucket``."""
    for stat in STATS:
        r = p.points[f"r.{stat}"][whole]
        has = r >= 0
        at = whole[has]
        if f"x.{stat}" in p.points:
            xs = p.points[f"x.{stat}"][at]
        else:
            xs = p.to_x(p.points[f"s.{stat}"][at], p.points[f"t.{stat}"][at])
        cands.add(stat, bucket[has], r[has] + p.offset, p.points[f"v.{stat}"][at], xs)


def _raw_rows(
    cands: _Candidates,
    offset: int,
    got: tuple[np.ndarray, np.ndarray, np.ndarray],
    lo: float,
    hi: float,
    inner: np.ndarray,
) -> None:
    """Rows read one by one (those in [lo, hi]) as candidates; ``offset``:
    the run's row number of the first."""
    x, present, values = got
    with np.errstate(invalid="ignore"):
        ok = present & (x >= lo) & (x <= hi)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return
    bucket = np.searchsorted(inner, x[idx], side="right")
    rows = idx + offset
    vals = values[idx]
    xs = x[idx]
    nan = np.isnan(vals)
    for stat in ("first", "last"):
        cands.add(stat, bucket, rows, vals, xs)
    cands.add("lo", bucket[~nan], rows[~nan], vals[~nan], xs[~nan])
    cands.add("hi", bucket[~nan], rows[~nan], vals[~nan], xs[~nan])
    cands.add("nan", bucket[nan], rows[nan], vals[nan], xs[nan])


def for_key(summary: dict[str, np.ndarray], name: str, rows: int, xkey: str | None = None) -> dict[str, np.ndarray]:
    """The x bounds and the points of the column ``name`` (empty points
    where the file has no such column), named without the column; with
    ``xkey`` (an x key's column), its bounds too (``x0:x``...) and its values
    at the points (``x.<stat>``)."""
    out = {}
    points = {}
    for n, a in summary.items():
        stat, column = n.split(":", 1)
        if column in X_NAMES:
            out[n] = a
        elif xkey is not None and column == xkey and stat in ("x0", "x1", "ok"):
            out[f"{stat}:x"] = a
        elif column == name:
            points[stat] = a
    if not points:
        points = _empty_points(blocks_of(rows))
        if xkey is not None:
            points.update({f"x.{stat}": np.full(blocks_of(rows), np.nan) for stat in STATS})
    elif xkey is not None and f"x0:{xkey}" in summary:
        x0 = summary[f"x0:{xkey}"]
        for stat in STATS:
            found = summary.get(point_x(stat, xkey, name))
            if found is None:  # an x key the same in every row (not kept at the points)
                found = np.where(points[f"r.{stat}"] >= 0, x0[0] if len(x0) else np.nan, np.nan)
            points[f"x.{stat}"] = found
    out.update(points)
    return out
