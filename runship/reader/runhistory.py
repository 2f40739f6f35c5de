"""A run's history and its other streams, read from the decoded stream files.

``RunHistory`` is what ``RunView`` offers of the rows: all of them or some
keys (``scan_history``, ``history``, ``history_df``, ``history_tables``),
sampled for charts (``series``, see ``runship.reader.history``), and the
records of the ``system`` and ``console`` streams. It reads the columns of
``runship.reader.segments`` in the order of the fold's sessions
(``runship.reader.fold``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from runship.reader.fold import Fold, Session, sessions_of
from runship.reader.plain import KEY_PREFIX, need_columns
from runship.reader.segments import RunFiles
from runship.reader.stream import StreamFile
from runship.schema import format as fmt
from runship.schema.records import rank_of

if TYPE_CHECKING:
    import numpy as np

    from runship.reader.history import Stack

#: what a query of the history columns says it needs without the ``read`` extra
_COLUMNS = "reading a run's history"


class RunHistory:
    """The history queries of a run view (``RunView`` is one): they read
    ``_files`` (the decoded stream files) in the order of ``_fold``'s sessions."""

    _files: RunFiles
    _fold: Fold

    def scan_history(
        self,
        keys: Iterable[str] | None = None,
        stream: str = fmt.RUN_STREAM,
        match: str = "all",
        *,
        rank: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield history rows in order, each with ``_step``, ``_timestamp`` and
        ``_runtime``. With ``keys``, the rows that have all of them (as
        wandb's public API; ``match="any"``: at least one of them), holding
        only those keys (and ``_step``...). ``rank``: the rows a distributed
        job's rank logged (rank 0's are the run's history)."""
        wanted = list(keys) if keys is not None else None
        if match not in ("all", "any"):
            raise ValueError(f"match must be 'all' or 'any', got {match!r}")
        need = len(wanted) if wanted is not None and match == "all" else 1
        if stream != fmt.RUN_STREAM:
            yield from self._raw_history(stream, wanted, need)
            return
        need_columns(_COLUMNS)
        from runship.reader.columns import rows_of

        for s in self._of_rank(rank):
            runtime = (s.runtime_base, s.start_t) if s.start_t is not None else None
            for sf in s.files:
                cols = self._files.columns(
                    sf, ["_step", "_t", *(KEY_PREFIX + k for k in (wanted or []))] if wanted else None
                )
                yield from rows_of(cols, wanted, need, runtime=runtime)

    def _of_rank(self, rank: int | None) -> list[Session]:
        """The sessions whose rows are ``rank``'s (None or 0: the run's)."""
        if rank is None or rank == 0:
            return self._fold.sessions
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise ValueError(f"rank must be a whole number, got {rank!r}")
        return [s for s in [*self._fold.sessions, *self._fold.rank_sessions] if rank_of(s.start) == rank]

    def history_length(self) -> int:
        """How many history rows the run holds (no column is read)."""
        return sum(self._files.segment(sf).rows for s in self._fold.sessions for sf in s.files)

    def _files_from(self, start: int) -> Iterator[tuple[Session, StreamFile, int, int]]:
        """(session, file, number of its first row in the run, its first row
        at or after ``start``) of each run stream file holding rows from
        ``start`` on."""
        at = 0
        for s in self._fold.sessions:
            for sf in s.files:
                n = self._files.segment(sf).rows
                if at + n > start:
                    yield s, sf, at, max(0, start - at)
                at += n

    def history_tables(self, start: int = 0, keys: Iterable[str] | None = None) -> Iterator[tuple[int, Any]]:
        """The history from row number ``start`` on, as Arrow tables, one per
        stream file it spans: (the number of the table's first row, a table
        of ``_step``, ``_timestamp``, ``_runtime``, then one column per key
        (``keys``: only those), null where a row has none). Numbers, bools and
        text are Arrow's own types; any other value is msgpack-packed
        (``large_binary``). Only the files the rows are in are read: what an
        incremental export needs."""
        need_columns(_COLUMNS)
        import pyarrow as pa

        from runship.reader import arrow

        wanted = None if keys is None else ["_step", "_t", *(KEY_PREFIX + k for k in keys)]
        for s, sf, at, lo in self._files_from(start):
            cols = self._files.columns(sf, wanted)
            names = cols.names if wanted is None else [n for n in wanted if n in cols.names]
            table = pa.table({n: cols.named(n) for n in names}).slice(lo)
            times = arrow.values(table.column("_t"))
            runtime = s.runtime_base + (times - s.start_t) if s.start_t is not None else times * float("nan")
            arrays = {
                "_step": table.column("_step"),
                "_timestamp": table.column("_t"),
                "_runtime": arrow.numbers(runtime, pa.float64()),
            }
            for n in names:
                if n.startswith(KEY_PREFIX):
                    arrays[n[len(KEY_PREFIX) :]] = table.column(n)
            yield at + lo, pa.table(arrays)

    def rows_from(self, start: int) -> Iterator[dict[str, Any]]:
        """History rows (as ``scan_history``) from row number ``start`` on;
        only the files they are in are read."""
        need_columns(_COLUMNS)
        from runship.reader.columns import Columns, rows_of

        for s, sf, _, lo in self._files_from(start):
            runtime = (s.runtime_base, s.start_t) if s.start_t is not None else None
            cols = self._files.columns(sf, None)
            if lo:
                cols = Columns(cols.whole().slice(lo))
            yield from rows_of(cols, None, 1, runtime=runtime)

    def _raw_history(self, stream: str, wanted: list[str] | None, need: int) -> Iterator[dict[str, Any]]:
        for s in sessions_of(self._files.files.get(stream, [])):
            for sf in s.files:
                for r in self._files.records(sf):
                    for d, step, t in fmt.rows_of_record(r):
                        if wanted is not None:
                            d = {k: d[k] for k in wanted if k in d}
                            if len(d) < need:
                                continue
                        yield {**d, "_step": step, "_timestamp": t}

    def history_keys(self) -> list[str]:
        """Every logged key of the history, in the order first logged (no
        column is read)."""
        keys: dict[str, None] = {}
        for s in self._fold.sessions:
            for sf in s.files:
                keys.update(dict.fromkeys(self._files.keys(sf)))
        return list(keys)

    def _parts(self, keys: Iterable[str]) -> Stack:
        """Every run stream file's rows in order, with these keys' columns read."""
        need_columns(_COLUMNS)
        from runship.reader.history import Part, Stack

        wanted = ["_step", "_t", *(KEY_PREFIX + k for k in keys)]
        files = [(s, sf) for s in self._fold.sessions for sf in s.files]
        return Stack([Part(self._files.columns(sf, wanted), s.runtime_base, s.start_t) for s, sf in files])

    def history(
        self,
        keys: Iterable[str] | None = None,
        match: str = "all",
        *,
        rank: int | None = None,
        samples: int | None = None,
        x: str = "_step",
        xrange: tuple[float, float] | None = None,
    ) -> list[dict[str, Any]]:
        """History rows (see ``scan_history``; ``rank``: a distributed job's
        rank's rows, not with ``samples``). With ``samples``: at most
        about that many points per key, keeping each x-bucket's first, last,
        minimum, maximum and first NaN (see ``runship.reader.history``); ``x``
        is ``_step``, ``_runtime``, ``_timestamp`` or a logged key (a step
        metric such as ``epoch``), ``xrange`` the (low, high) part of it."""
        if samples is None:
            if xrange is not None or x != "_step":
                raise ValueError("history(): x= and xrange= go with samples=")
            return list(self.scan_history(keys, match=match, rank=rank))
        if rank not in (None, 0):
            raise ValueError("history(): rank= does not go with samples= (a rank's rows are read whole)")
        _, parts, rows, kept = self._sampled(keys, match, samples, x, xrange)
        from runship.reader.history import rows_at

        return list(rows_at(parts, rows, kept, x))

    def series(
        self,
        keys: Iterable[str],
        samples: int,
        *,
        x: str = "_step",
        xrange: tuple[float, float] | None = None,
    ) -> dict[str, tuple[Any, Any]]:
        """Per key, the points ``history(keys, match="any", samples=...)``
        keeps of it, as two numpy arrays (x, then float64 values; NaN stays
        NaN), for charts: no row is made. A key whose values are not all
        numbers has none; ``x`` and ``xrange`` as ``history``."""
        wanted = [k for k in dict.fromkeys(keys) if k != x]
        samples = _samples(samples)
        out: dict[str, tuple[Any, Any]] = {}
        for key in wanted:  # from the block summaries where they serve (a sorted x, many rows)
            got = self._from_blocks(key, samples, x, xrange)
            if got is not None:
                out[key] = got
        wanted = [k for k in wanted if k not in out]
        if not wanted:
            return out
        parts = self._parts([*wanted, x])
        from runship.reader.history import DERIVED_X, derived, key_arrays, sample

        _, kept = sample(parts, wanted, samples, x, xrange, False)
        xs = derived(parts, x) if x in DERIVED_X else key_arrays(parts, x)[1]
        for key in wanted:
            values = key_arrays(parts, key)[1]
            if values is None or xs is None:
                continue
            rows = kept[key]
            out[key] = (xs[rows], values[rows])
        return out

    def _from_blocks(
        self, key: str, samples: int, x: str, xrange: tuple[float, float] | None
    ) -> tuple[Any, Any] | None:
        """``series`` of one key read from the files' block summaries
        (``runship.reader.pyramid``): None where they do not serve (x not
        sorted, a key of other values, too few rows for the buckets)."""
        need_columns(_COLUMNS)
        from runship.reader import pyramid
        from runship.reader.cache import CacheDamaged
        from runship.reader.history import keep_pieces, sample_pieces

        try:
            pieces = self._pieces(key, x)
            if pieces is None or not pyramid.ordered(pieces):
                return None
            found = xrange if xrange is not None else pyramid.span(pieces)
            if found is None or not found[0] <= found[1]:
                return None
            count = max(1, samples // 4)
            if pyramid.rows_within(pieces, *found) >= count * pyramid.MIN_BLOCKS * pyramid.BLOCK:
                return sample_pieces(pieces, found[0], found[1], count)
            if xrange is None:
                return None  # a short run: read whole
            return keep_pieces(pieces, found[0], found[1], count)  # a narrow range: its rows only
        except CacheDamaged:  # an entry failed a check: read the ordinary way (which decodes it again)
            return None

    def _pieces(self, key: str, x: str) -> list[Any] | None:
        """Each run stream file's block summary for ``key`` over ``x`` (None
        where one cannot serve: x not in every row, going down in a block)."""
        from runship.reader.history import DERIVED_X
        from runship.reader.pyramid import Piece

        logged = x not in DERIVED_X
        name = "x" if logged else "_step" if x == "_step" else "_t"
        pieces = []
        offset = 0
        for s in self._fold.sessions:
            for sf in s.files:
                cols = self._files.columns(sf, [])
                summary = cols.summary(key, x if logged else None)
                if summary is None or not summary[f"ok:{name}"].all():
                    return None
                to_x = _x_of(x, s.runtime_base, s.start_t)
                if to_x is None:
                    return None
                x0, x1 = summary[f"x0:{name}"], summary[f"x1:{name}"]
                if x in ("_timestamp", "_runtime"):
                    x0, x1 = to_x(x0, x0), to_x(x1, x1)
                pieces.append(Piece(x0, x1, summary, offset, cols.rows, _raw_of(cols, key, x, to_x), to_x))
                offset += cols.rows
        return pieces

    def _sampled(
        self, keys: Iterable[str] | None, match: str, samples: int, x: str, xrange: tuple[float, float] | None
    ) -> tuple[list[str], Stack, np.ndarray, dict[str, np.ndarray]]:
        """What ``history`` and ``history_df`` keep with ``samples``: (the
        keys, their rows' parts, the rows kept, each key's rows kept)."""
        wanted = [k for k in self.history_keys() if k != x] if keys is None else list(dict.fromkeys(keys))
        parts = self._parts([*wanted, x])
        from runship.reader.history import sample

        together = keys is not None and _match(match) == "all"
        rows, kept = sample(parts, wanted, _samples(samples), x, xrange, together)
        return wanted, parts, rows, kept

    def history_df(
        self,
        keys: Iterable[str] | None = None,
        match: str = "all",
        *,
        samples: int | None = None,
        x: str = "_step",
        xrange: tuple[float, float] | None = None,
    ) -> Any:
        """The history as a pandas DataFrame, built from the columns: one
        column per key (NaN where a row has none), then _step, _timestamp
        and _runtime. ``keys``, ``match``, ``samples``, ``x`` and ``xrange``
        as ``history``."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError("history_df() needs pandas: pip install pandas") from None
        if match not in ("all", "any"):
            raise ValueError(f"match must be 'all' or 'any', got {match!r}")
        need_columns(_COLUMNS)
        from runship.reader.history import frame, matching

        if samples is not None:
            wanted, parts, rows, kept = self._sampled(keys, match, samples, x, xrange)
            return frame(parts, wanted, rows, kept)
        if xrange is not None or x != "_step":
            raise ValueError("history_df(): x= and xrange= go with samples=")
        if keys is None:
            wanted = self.history_keys()
            return frame(self._parts(wanted), wanted, None)
        wanted = list(dict.fromkeys(keys))
        parts = self._parts(wanted)
        return frame(parts, wanted, matching(parts, wanted, len(wanted) if match == "all" else 1))

    def _timed(
        self, stream: str, kind: str, rank: int | None = None, node: str | None = None
    ) -> Iterator[tuple[dict[str, Any], float | None, dict[str, Any] | None]]:
        """(record, its runtime, its session's placement) of ``kind`` in a
        stream, every kept session's (``rank``/``node``: that one's only)."""
        kept = {s.id: s for s in self._fold.sessions}
        apart = {s.id: s for s in self._fold.rank_sessions}
        dropped = {s.id for s in self._fold.all_sessions if s.dropped_by_reset}
        for s in sessions_of(self._files.files.get(stream, [])):
            run_session = kept.get(s.id)
            placed = run_session or apart.get(s.id)
            if placed is None and (s.id in dropped or (self._fold.sessions and s.id < self._fold.sessions[0].id)):
                continue  # before a reset
            placement = placed.placement if placed is not None else None
            if rank is not None and (rank_of(placed.start if placed else None) or 0) != rank:
                continue
            if node is not None and (placement or {}).get("node") != node:
                continue
            for sf in s.files:
                for r in self._files.records(sf):
                    if r.get("k") != kind:
                        continue
                    t = r.get("t")
                    runtime = None  # a rank's session: from its own start
                    if placed is not None and placed.start_t is not None and isinstance(t, (int, float)):
                        runtime = placed.runtime_base + (t - placed.start_t)
                    yield r, runtime, placement

    def system(self, keys: Iterable[str] | None = None, *, node: str | None = None) -> Iterator[dict[str, Any]]:
        """System metrics samples: ``{"_timestamp", "_runtime", "cpu", ...}``;
        in a distributed run each sample names its node (``_node``), and
        ``node`` picks one."""
        wanted = list(keys) if keys is not None else None
        for r, runtime, placement in self._timed(fmt.SYSTEM_STREAM, fmt.STATS, node=node):
            d = r["d"]  # a stats record's shape was checked: a map
            if wanted is not None:
                d = {k: d[k] for k in wanted if k in d}
            where = {"_node": placement.get("node")} if placement else {}
            yield {"_timestamp": r.get("t"), "_runtime": runtime, **where, **d}

    def console(self, *, rank: int | None = None) -> Iterator[dict[str, Any]]:
        """Console lines: ``{"t", "stream": "stdout"|"stderr", "text"}``, in
        a distributed run with the ``rank`` that wrote each (``rank``: that
        rank's only), session after session. A line not ended yet (a
        progress bar being drawn) comes last, with ``"partial": True``, and
        only while it is the newest record of its stream (of its rank)."""
        pending: dict[tuple[Any, ...], dict[str, Any]] = {}  # the newest partial line of each stream
        for r, _, placement in self._timed(fmt.CONSOLE_STREAM, fmt.OUT, rank=rank):
            line = {"t": r.get("t"), "stream": r.get("s"), "text": r.get("text", "")}
            if placement is not None:
                line["rank"] = placement.get("rank")
            where = (r.get("s"), line.get("rank"))
            pending.pop(where, None)  # superseded by any later record of its stream
            if r.get("partial") is True:
                pending[where] = {**line, "partial": True}
                continue
            yield line
        yield from pending.values()


def _x_of(x: str, base: float, start_t: float | None) -> Any:
    """(steps, times) -> x of a session's rows (None: its _runtime is not
    known); a logged key's values as they are."""
    if x not in ("_timestamp", "_runtime"):
        return lambda steps, times: steps
    if x == "_timestamp":
        return lambda steps, times: times
    if start_t is None:
        return None
    return lambda steps, times: base + (times - start_t)


def _raw_of(cols: Any, key: str, x: str, to_x: Any) -> Any:
    """Ranges of a file's rows as a block summary reads them: (x, present,
    values) of each, the x column and the key's only."""
    from runship.reader import arrow

    name = KEY_PREFIX + key
    base = "_step" if x == "_step" else "_t" if x in ("_timestamp", "_runtime") else KEY_PREFIX + x

    def raw(ranges: list[tuple[int, int]]) -> list[tuple[Any, Any, Any]]:
        import numpy as np

        out = []
        for (start, stop), got in zip(
            ranges, cols.rows_slices([base, *([name] if name in cols.names else [])], ranges)
        ):
            xs = arrow.values(got[base]) if base[0] == "_" else arrow.values(got[base]).astype(np.float64)
            part = got.get(name)
            if part is None:
                present, values = np.zeros(stop - start, bool), np.full(stop - start, np.nan)
            else:
                present = arrow.valid(part) if part.null_count else np.ones(stop - start, bool)
                values = arrow.values(part, fill=0).astype(np.float64)
            out.append((to_x(xs, xs), present, values))
        return out

    return raw


def _match(match: str) -> str:
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', got {match!r}")
    return match


def _samples(samples: int) -> int:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive number of points, got {samples!r}")
    return samples
