"""The ingest API, in the manner of the tus resumable-upload protocol
(what the uploader sends to ``runship serve``; see ``runship.web.app``):
a stream file's stored size (``HEAD``/``GET``), an append at an offset
(``PATCH``), a derived file put whole (``PUT``) or in parts (``PATCH``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from runship.store import ConflictError
from runship.web.context import WriteToken, store
from runship.web.storage import check_derived, check_names

OCTETS: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
STREAM = "/v1/runs/{project}/{run_id}/streams/{name}"
DERIVED = "/v1/runs/{project}/{run_id}/derived/{path:path}"

v1 = APIRouter(tags=["write"])


@v1.api_route(STREAM, methods=["HEAD"], responses={404: {"description": "no such file"}})
def stream_head(request: Request, project: str, run_id: str, name: str, _: WriteToken) -> Response:
    check_names(project, run_id, name)
    size = store(request).size(project, run_id, name)
    return Response(
        status_code=200 if size else 404,
        headers={"Upload-Offset": str(size), "Tus-Resumable": "1.0.0", "Cache-Control": "no-store"},
    )


@v1.get(STREAM)
def stream_size(request: Request, project: str, run_id: str, name: str, _: WriteToken) -> dict[str, Any]:
    check_names(project, run_id, name)
    return {"name": name, "size": store(request).size(project, run_id, name)}


@v1.patch(
    STREAM,
    status_code=204,
    openapi_extra=OCTETS,
    responses={
        409: {"description": "gap or different bytes; Upload-Offset holds the stored size"},
        413: {"description": "body too large"},
        422: {"description": "not whole committed batches"},
    },
)
async def stream_append(request: Request, project: str, run_id: str, name: str, _: WriteToken) -> Response:
    check_names(project, run_id, name)
    offset = _header_int(request, "upload-offset")
    data = await request.body()
    storage = store(request)
    try:
        size = await run_in_threadpool(storage.append, project, run_id, name, offset, data)
    except ConflictError:
        request.state.stored_size = await run_in_threadpool(storage.size, project, run_id, name)
        raise
    return Response(status_code=204, headers={"Upload-Offset": str(size), "Tus-Resumable": "1.0.0"})


@v1.put(DERIVED, status_code=204, openapi_extra=OCTETS)
async def derived_put(request: Request, project: str, run_id: str, path: str, _: WriteToken) -> Response:
    check_names(project, run_id)
    check_derived(path)
    data = await request.body()
    await run_in_threadpool(store(request).put, project, run_id, path, data)
    return Response(status_code=204)


@v1.patch(
    DERIVED,
    status_code=204,
    openapi_extra=OCTETS,
    responses={409: {"description": "the staged upload holds another amount; see Upload-Offset"}},
)
async def derived_part(request: Request, project: str, run_id: str, path: str, _: WriteToken) -> Response:
    check_names(project, run_id)
    check_derived(path)
    offset = _header_int(request, "upload-offset")
    total = _header_int(request, "upload-length")
    checksum = request.headers.get("upload-checksum", "")
    data = await request.body()
    storage = store(request)
    size, done = await run_in_threadpool(storage.stage, project, run_id, path, offset, data, total, checksum)
    return Response(status_code=204, headers={"Upload-Offset": str(size), "Upload-Complete": str(done).lower()})


def _header_int(request: Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 18:
        raise HTTPException(400, f"a {name.title()} header with a non-negative integer is needed")
    return int(raw)
