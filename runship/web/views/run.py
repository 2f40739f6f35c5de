"""One run: the run page's answer (``/ui/api/run``), what the charts of
many runs need of each (``/ui/api/keys``), ``/v1``'s record of a run and
the list of its files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from runship.web.context import OpenedRun, Reader, ReadToken, answer, each_run, open_ref, store
from runship.web.serialize import chart_keys, detail_page, detail_v1
from runship.web.storage import check_names

MAX_KEYS_RUNS = 100  # runs a /ui/api/keys request, as /ui/api/series

ui = APIRouter(tags=["ui"])
v1 = APIRouter(tags=["read"])


@ui.get("/ui/api/run")
def api_run(run: OpenedRun) -> JSONResponse:
    return answer(detail_page(run.ref, run.view))


@ui.get("/ui/api/keys")
def api_keys(request: Request, may: Reader, run: Annotated[list[str], Query()]) -> JSONResponse:
    """Each run's history keys and metric definitions (``chart_keys``), for
    charting up to 100 runs with one request, read side by side; a run that
    cannot be read is ``{"error": why}`` and the others are answered."""
    if len(run) > MAX_KEYS_RUNS:
        raise HTTPException(400, f"at most {MAX_KEYS_RUNS} runs a request, got {len(run)}")
    refs = list(dict.fromkeys(run))

    def one(ref: str) -> dict[str, Any]:
        try:
            return chart_keys(open_ref(request, may, ref))
        except HTTPException as e:
            if e.status_code in (401, 403):
                raise
            return {"error": str(e.detail)}

    return answer({"runs": each_run(request, refs, one)})


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
