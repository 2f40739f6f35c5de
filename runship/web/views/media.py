"""A run's media and tables: the items logged under a key
(``/ui/api/media``, evenly thinned) and a page of a table file
(``/ui/api/table``, read by ``runship.web.tables`` in memory bounded by
the page)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from runship.web.context import OpenedRun, answer, web
from runship.web.errors import BadRequest
from runship.web.serialize import MEDIA_KINDS, kind_of, plain
from runship.web.tables import TableCache, TableError
from runship.web.tables import identity as table_identity
from runship.web.tables import page as table_rows

MAX_MEDIA_ITEMS = 2000
MAX_TABLE_PAGE = 1000

ui = APIRouter(tags=["ui"])


@ui.get("/ui/api/media")
def api_media(run: OpenedRun, key: Annotated[str, Query(max_length=1000)]) -> JSONResponse:
    return answer(media(run.view, key))


def media(view: Any, key: str) -> dict[str, Any]:
    """The key's logged media, evenly thinned to MAX_MEDIA_ITEMS (the last
    kept). A wandb.plot chart's key: its table's items, each as the chart
    (``{"_type": "plot", "spec", "fields", "string_fields", "table"}``)."""
    logged = key in set(view.history_keys())
    chart = view.charts.get(key)
    if chart is not None and logged and chart["table_key"] != key:
        chart = None  # a plot value under the key itself: the layout runship wrote before
    if chart is None and not logged:
        raise BadRequest(f"the run has no key {key[:200]!r}")
    source = chart["table_key"] if chart is not None else key
    items: list[dict[str, Any]] = []
    stride, seen = 1, 0
    last: dict[str, Any] | None = None
    kind = None
    for row in view.scan_history([source]):
        value = row.get(source)
        if chart is not None:
            value = _as_chart(chart, value)
        if not isinstance(value, dict) or value.get("_type") not in MEDIA_KINDS:
            continue
        kind = kind or MEDIA_KINDS[str(value["_type"])]
        last = {"step": row.get("_step"), "value": plain(value)}
        if seen % stride == 0:
            items.append(last)
            if len(items) >= 2 * MAX_MEDIA_ITEMS:
                items = items[::2]
                stride *= 2
        seen += 1
    if last is not None and (not items or items[-1] is not last):
        items.append(last)
    if len(items) > MAX_MEDIA_ITEMS:
        every = items[:-1][:: math.ceil((len(items) - 1) / (MAX_MEDIA_ITEMS - 1))]
        items = [*every, items[-1]]
    return {"kind": kind or kind_of(view.summary.get(key)), "items": items}


def _as_chart(chart: dict[str, Any], table: object) -> dict[str, Any] | None:
    """A chart's table reference and its spec, as one ``plot`` value."""
    if not isinstance(table, dict) or table.get("_type") != "table-file":
        return None
    return {"_type": "plot", **{k: chart[k] for k in ("spec", "fields", "string_fields")}, "table": table}


@ui.get("/ui/api/table")
def api_table(
    request: Request,
    run: OpenedRun,
    path: Annotated[str, Query(max_length=4096)],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_TABLE_PAGE)] = 50,
    sort: Annotated[str | None, Query(max_length=1000)] = None,
    desc: Annotated[bool, Query()] = False,
) -> JSONResponse:
    return answer(table_page(run.view, path, offset, limit, sort, desc, web(request).tables))


def table_page(
    view: Any, path: str, offset: int, limit: int, sort: str | None, desc: bool, tables: TableCache
) -> dict[str, Any]:
    """A page of a run's table file (``runship.web.tables``: memory bounded
    by the page, the file's row spans cached by its identity)."""
    limit = max(1, min(limit, MAX_TABLE_PAGE))
    try:
        with view.open_file(path) as f:
            key = (str(view.location), path, *table_identity(f))
            out = table_rows(tables.get(key, f), f, offset, limit, sort, desc)
    except TableError as e:
        raise BadRequest(f"{path}: {e}") from None
    out["rows"] = plain(out["rows"])  # as JSON can hold them: NaN as text, nesting cut at 20 levels
    return out
