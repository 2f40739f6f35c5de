"""One run: the run page's answer (``/ui/api/run``), ``/v1``'s record of a
run and the list of its files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from runship.web.context import OpenedRun, ReadToken, answer, store
from runship.web.serialize import detail_page, detail_v1
from runship.web.storage import check_names

ui = APIRouter(tags=["ui"])
v1 = APIRouter(tags=["read"])


@ui.get("/ui/api/run")
def api_run(run: OpenedRun) -> JSONResponse:
    return answer(detail_page(run.ref, run.view))


@v1.get("/v1/runs/{project}/{run_id}")
def run_info(request: Request, project: str, run_id: str, _: ReadToken) -> dict[str, Any]:
    check_names(project, run_id)
    return detail_v1(store(request).open(project, run_id))


@v1.get("/v1/runs/{project}/{run_id}/files")
def run_files(request: Request, project: str, run_id: str, _: ReadToken) -> list[dict[str, Any]]:
    check_names(project, run_id)
    storage = store(request)
    view = storage.open(project, run_id)
    out = [
        {"name": sf.name, "size": sf.size or storage.size(project, run_id, sf.name), "kind": "stream"}
        for fs in view.files.values()
        for sf in fs
    ]
    out += [{"name": rel, "size": rec.get("size"), "kind": "file"} for rel, rec in sorted(view.saved_files.items())]
    return out
