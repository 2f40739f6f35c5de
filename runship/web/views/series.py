"""Points to draw and rows to read: the web app's charts (``/ui/api/series``,
one or more runs' keys downsampled by the reader, and
``/ui/api/system``, a run's system metrics downsampled the same way) and
``/v1``'s history rows, streamed."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from runship.web.context import NO_STORE, OpenedRun, Reader, ReadToken, answer, each_run, open_ref, store
from runship.web.errors import BadRequest
from runship.web.serialize import finite
from runship.web.storage import check_names

MAX_SAMPLES = 4000
MAX_SERIES_KEYS = 64
MAX_SERIES_RUNS = 100
MAX_CSV_ROWS = 5_000_000  # rows of /ui/api/series.csv at most; past it the answer says it was cut
CSV_CHUNK = 65536
MAX_SYSTEM_KEYS = 400
MAX_HISTORY_ROWS = 1_000_000
X_OF_EVERY_ROW = ("_step", "_runtime", "_timestamp")

ui = APIRouter(tags=["ui"])
v1 = APIRouter(tags=["read"])
Samples = Annotated[int, Query(ge=10, le=MAX_SAMPLES)]


@ui.get("/ui/api/series")
def api_series(
    request: Request,
    may: Reader,
    run: Annotated[list[str], Query()],
    keys: Annotated[str, Query()],
    x: Annotated[str, Query(max_length=500)] = "_step",
    samples: Samples = 800,
    lo: Annotated[float | None, Query()] = None,
    hi: Annotated[float | None, Query()] = None,
) -> JSONResponse:
    if len(run) > MAX_SERIES_RUNS:
        raise HTTPException(400, f"at most {MAX_SERIES_RUNS} runs a request")
    wanted = split_keys(keys, MAX_SERIES_KEYS)
    if (lo is None) != (hi is None) or (lo is not None and hi is not None and not lo <= hi):
        raise HTTPException(400, "lo and hi go together, lo <= hi")
    xrange = (lo, hi) if lo is not None and hi is not None else None
    refs = list(dict.fromkeys(run))

    def one(ref: str) -> dict[str, Any]:
        return series(open_ref(request, may, ref), wanted, x, samples, xrange)

    return answer({"x": x, "runs": each_run(request, refs, one)})


@ui.get("/ui/api/series.csv")
def api_series_csv(
    request: Request,
    may: Reader,
    run: Annotated[list[str], Query()],
    key: Annotated[str, Query(min_length=1, max_length=500)],
    x: Annotated[str, Query(min_length=1, max_length=500)] = "_step",
    lo: Annotated[float | None, Query()] = None,
    hi: Annotated[float | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CSV_ROWS)] = MAX_CSV_ROWS,
) -> StreamingResponse:
    """Every row of ``key`` in the range, at full resolution: ``run,x,key``
    lines, run after run, streamed; at most ``limit`` rows (MAX_CSV_ROWS),
    then a ``# cut`` line if the range holds more."""
    if len(run) > MAX_SERIES_RUNS:
        raise HTTPException(400, f"at most {MAX_SERIES_RUNS} runs a request")
    if (lo is None) != (hi is None) or (lo is not None and hi is not None and not lo <= hi):
        raise HTTPException(400, "lo and hi go together, lo <= hi")
    if key == x:
        raise HTTPException(400, "key and x are the same")
    xrange = (lo, hi) if lo is not None and hi is not None else None
    views = [(ref, open_ref(request, may, ref)) for ref in dict.fromkeys(run)]  # 403/404 before any byte
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)[:100] or "series"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}.csv"'}
    return StreamingResponse(
        _csv_rows(views, key, x, xrange, limit), media_type="text/csv; charset=utf-8", headers=headers
    )


def text_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("NaN" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):  # a packed value (a map, a list, a media reference): as JSON
        import msgpack

        from runship.schema import limits

        value = json.dumps(finite(msgpack.unpackb(value, **limits.DECODE)), default=str)
    return text_cell(str(value))


def _csv_rows(
    views: list[tuple[str, Any]], key: str, x: str, xrange: tuple[float, float] | None, limit: int
) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", text_cell(x), text_cell(key)])
    n = 0
    for ref, view in views:
        cell = text_cell(ref)
        for xs, ys in _tables(view, key, x, xrange):
            if n >= limit:
                yield f"# cut: the first {limit:,} rows only; the range holds more\n".encode()
                return
            take = min(len(xs), limit - n)
            writer.writerows(zip([cell] * take, map(_cell, xs[:take]), map(_cell, ys[:take])))
            n += take
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def _tables(view: Any, key: str, x: str, xrange: tuple[float, float] | None) -> Iterator[tuple[list[Any], list[Any]]]:
    """(x values, key values) of the rows that have both (and an x in the
    range), a stream file at a time."""
    import numpy as np
    import pyarrow as pa

    from runship.reader import arrow

    known = set(view.history_keys())
    if key not in known or (x not in X_OF_EVERY_ROW and x not in known):
        return
    wanted = [key] if x in X_OF_EVERY_ROW else [key, x]
    for _, table in view.history_tables(0, wanted):
        if not table.num_rows or key not in table.column_names or x not in table.column_names:
            continue
        xcol, ycol = table.column(x), table.column(key)
        have = arrow.valid(ycol) & arrow.valid(xcol)
        if xrange is not None:
            numeric = pa.types.is_integer(xcol.type) or pa.types.is_floating(xcol.type)
            if not numeric:
                continue
            values = arrow.values(xcol, fill=0)
            with np.errstate(invalid="ignore"):
                have &= (values >= xrange[0]) & (values <= xrange[1])
        rows = np.flatnonzero(have)
        for start in range(0, len(rows), CSV_CHUNK):  # a chunk of rows at a time: memory stays bounded
            at = arrow.indices(rows[start : start + CSV_CHUNK])
            yield xcol.take(at).to_pylist(), ycol.take(at).to_pylist()


def split_keys(raw: str | None, limit: int) -> list[str]:
    keys = [k for k in (raw or "").split(",") if k]
    if len(keys) > limit:
        raise BadRequest(f"at most {limit} keys a request, got {len(keys)}")
    return list(dict.fromkeys(keys))


def series(
    view: Any, keys: list[str], x: str, samples: int, xrange: tuple[float, float] | None
) -> dict[str, dict[str, list[Any]]]:
    """Per key, the downsampled (x, y) points of one run (each bucket's
    first, last, min and max kept by the reader); NaN and infinities are
    gaps (null)."""
    import numpy as np

    known = set(view.history_keys())
    wanted = [k for k in keys if k in known and k != x]
    out: dict[str, dict[str, list[Any]]] = {k: {"x": [], "y": []} for k in keys}
    if not wanted or (x not in X_OF_EVERY_ROW and x not in known):
        return out
    try:
        points = view.series(wanted, samples, x=x, xrange=xrange)
    except ValueError as e:  # an x that is not numbers
        raise BadRequest(str(e)) from None
    for key, (xs, ys) in points.items():
        y = ys.tolist()
        for i in np.flatnonzero(~np.isfinite(ys)).tolist():
            y[i] = None
        out[key] = {"x": xs.tolist(), "y": y}
    return out


@ui.get("/ui/api/system")
def api_system(run: OpenedRun, samples: Samples = 800) -> JSONResponse:
    return answer(system_series(run.view, samples))


def number(value: Any) -> float | None:
    """A y value for a chart: finite numbers; NaN, infinities and anything
    else are gaps."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    return None


def system_series(view: Any, samples: int) -> dict[str, Any]:
    """A run's system metrics over ``_runtime``, each node's apart
    (``node/key``), downsampled as the history is (``reader.history.keep``)."""
    points: dict[str, tuple[list[float], list[float | None]]] = {}
    for s in view.system():
        t = s.get("_runtime")
        if not isinstance(t, (int, float)):
            continue
        node = s.get("_node")  # a distributed run: each node's metrics (its GPUs) apart
        for k, v in s.items():
            if k.startswith("_"):
                continue
            if node is not None:
                k = f"{node}/{k}"
            found = points.get(k)
            if found is None:
                if len(points) >= MAX_SYSTEM_KEYS:
                    continue
                found = points[k] = ([], [])
            found[0].append(t)
            found[1].append(number(v))
    return {"x": "_runtime", "series": {k: _thinned(*points[k], samples) for k in sorted(points)}}


def _thinned(ts: list[float], ys: list[float | None], samples: int) -> dict[str, list[Any]]:
    """At most about ``samples`` of the points: those the reader's
    downsampler keeps of ``samples // 4`` buckets over their range."""
    if len(ts) <= samples:
        return {"x": ts, "y": ys}
    import numpy as np

    from runship.reader.history import keep, x_range

    x = np.asarray(ts, dtype=np.float64)
    values = np.array([np.nan if y is None else y for y in ys], dtype=np.float64)
    found = x_range(x, None)
    kept = [] if found is None else keep(x, None, values, *found, max(1, samples // 4)).tolist()
    return {"x": [ts[i] for i in kept], "y": [ys[i] for i in kept]}


@v1.get("/v1/runs/{project}/{run_id}/history")
def history(
    request: Request,
    project: str,
    run_id: str,
    _: ReadToken,
    keys: Annotated[str | None, Query(description="comma-separated keys: rows that have all of them")] = None,
    match: Annotated[
        str, Query(pattern="^(all|any)$", description="any: rows that have at least one of the keys")
    ] = "all",
    min_step: Annotated[int | None, Query()] = None,
    max_step: Annotated[int | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_ROWS)] = 10000,
) -> StreamingResponse:
    check_names(project, run_id)
    view = store(request).open(project, run_id)
    wanted = [k for k in keys.split(",") if k] if keys else None
    steps = (min_step, max_step)
    return StreamingResponse(_rows(view, wanted, match, steps, limit), media_type="application/json")


def _rows(
    view: Any, keys: list[str] | None, match: str, steps: tuple[int | None, int | None], limit: int
) -> Iterator[bytes]:
    """The history's rows as a JSON list, streamed: memory does not grow
    with the rows asked for. ``steps``: [min, max) of ``_step``."""
    min_step, max_step = steps
    yield b"["
    n = 0
    for row in view.scan_history(keys, match=match):
        step = row.get("_step")
        if min_step is not None and isinstance(step, int) and step < min_step:
            continue
        if max_step is not None and isinstance(step, int) and step >= max_step:
            break
        yield (b"," if n else b"") + json.dumps(finite(row)).encode()
        n += 1
        if n >= limit:
            break
    yield b"]"
