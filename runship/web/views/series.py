"""Points to draw and rows to read: the web app's charts (``/ui/api/series``,
one or more runs' keys downsampled by the reader, and
``/ui/api/system``, a run's system metrics downsampled the same way) and
``/v1``'s history rows, streamed."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from runship.web.context import OpenedRun, Reader, ReadToken, answer, open_ref, store, web
from runship.web.errors import BadRequest
from runship.web.serialize import finite
from runship.web.storage import check_names

MAX_SAMPLES = 4000
MAX_SERIES_KEYS = 64
MAX_SERIES_RUNS = 50
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

    if len(refs) > 1:  # numpy and Parquet let go of the GIL: runs are read side by side
        out = dict(zip(refs, web(request).readers.map(one, refs)))
    else:
        out = {ref: one(ref) for ref in refs}
    return answer({"x": x, "runs": out})


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
