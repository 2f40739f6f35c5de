"""Lists of runs: the web app's runs table (``/ui/api/runs``: every place's
runs, or one project's) and ``/v1``'s projects and a project's runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from runship.schema import redact
from runship.store import TargetError
from runship.web.context import NO_STORE, Reader, ReadToken, refuse, store, web
from runship.web.places import Runs
from runship.web.serialize import check_project, encode, summary_entry
from runship.web.storage import check_name

ui = APIRouter(tags=["ui"])
v1 = APIRouter(tags=["read"])


@ui.get("/ui/api/runs")
def api_runs(request: Request, may: Reader, project: Annotated[str | None, Query()] = None) -> Response:
    if project is not None:
        check_project(project)
        if not may(project):
            refuse(request, project)
    body = runs_table(web(request).places, project, may)
    return Response(body, media_type="application/json", headers=NO_STORE)


def runs_table(places: list[Runs], project: str | None, allowed: Callable[[str], bool]) -> bytes:
    """The runs table as JSON bytes (rows already encoded are reused). A
    place that cannot be listed (a server gone, a root removed) is an entry
    of ``errors`` (its root and why); the other places' runs are listed."""
    rows: list[tuple[dict[str, Any], bytes]] = []
    projects: set[str] = set()
    errors: list[dict[str, Any]] = []
    for i, place in enumerate(places):
        try:
            infos = place.infos(project, allowed)
        except Exception as e:  # one root failing never hides the others' runs
            errors.append({"place": i, "root": redact.for_log(str(place)), "error": _why(e)})
            continue
        for row, encoded in place.memo.rows(i, project, infos):
            if not allowed(row["project"]):
                continue
            projects.add(row["project"])
            rows.append((row, encoded))
    rows.sort(key=lambda r: -(r[0]["start_time"] or 0))
    head = encode({"now": time.time(), "projects": sorted(projects), "errors": errors})
    return head[:-1] + b',"runs":[' + b",".join(e for _, e in rows) + b"]}"


def _why(e: Exception) -> str:
    """One line saying why a place could not be listed (no traceback, no credentials)."""
    if isinstance(e, OSError) and e.strerror:
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    elif isinstance(e, (ValueError, OSError, TargetError)):
        text = str(e)
    else:
        text = f"{type(e).__name__}: {e}"
    return redact.for_log(" ".join(text.split()))[:500]


@v1.get("/v1/projects")
def projects(request: Request, token: ReadToken) -> list[str]:
    return [p for p in store(request).projects() if token is None or token.allows("r", p)]


@v1.get("/v1/projects/{project}/runs")
def project_runs(request: Request, project: str, _: ReadToken) -> list[dict[str, Any]]:
    check_name(project, "project")
    # from the run index: only changed runs are read
    return [summary_entry(info) for info in store(request).list_infos(project)]
