"""The runship server: an HTTP API (FastAPI on uvicorn) over a storage root.

Write API, in the manner of the tus resumable-upload protocol:

- ``HEAD /v1/runs/{project}/{run}/streams/{name}``: the stored size, in the
  ``Upload-Offset`` header (also ``GET`` as JSON).
- ``PATCH /v1/runs/{project}/{run}/streams/{name}`` with ``Upload-Offset: N``:
  append the body at N. Bytes already stored and identical: success, nothing
  changes. A gap or different bytes: 409 with the stored size. The new bytes
  must be whole, committed batches (422 otherwise), so nothing torn or foreign
  ever reaches a stored run.
- ``PUT /v1/runs/{project}/{run}/derived/{path}``: create or replace
  ``run.json`` or ``files/...``.
- ``GET /v1/runs/{project}/{run}/files``: the run's files and sizes.

Read API: ``/v1/projects``, ``/v1/projects/{project}/runs``,
``/v1/runs/{project}/{run}`` (metadata, config, summary, state),
``/v1/runs/{project}/{run}/history``, ``GET .../derived/{path}``. The OpenAPI
description is at ``/openapi.json``; ``/health`` needs no token.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from runship import __version__
from runship.errors import RunNotFound
from runship.schema.values import json_safe
from runship.server.auth import Token, find_token
from runship.server.storage import BadData, BadName, Storage, check_derived, check_name, check_stream
from runship.uploader.target import ConflictError, GapError, TargetError

DEFAULT_MAX_BODY = 64 * 1024 * 1024
OCTETS = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@dataclass
class ServerConfig:
    root: str
    tokens: list[Token] | None = None  # None: no auth (--no-auth, loopback only)
    max_body: int = DEFAULT_MAX_BODY
    storage_options: dict = field(default_factory=dict)
    access_log: bool = True


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_body`` bytes, checked on the
    declared length and on the bytes as they arrive."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_body
                except ValueError:
                    too_big = False
                if too_big:
                    return await _plain(send, 413, f"request body over {self.max_body} bytes")
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooBig()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooBig:
            await _plain(send, 413, f"request body over {self.max_body} bytes")


class _TooBig(Exception):
    pass


async def _plain(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _finite(value):
    """JSON for responses: NaN and infinities as strings."""
    return json_safe(value, strict_json=True)


def create_app(config: ServerConfig) -> FastAPI:
    storage = Storage(config.root, config.storage_options)
    app = FastAPI(
        title="runship server",
        version=__version__,
        description="Ingest (tus-style appends of committed record batches) and read API for runship runs.",
    )
    app.state.storage = storage

    def require(access: str):
        def check(request: Request) -> Token | None:
            if config.tokens is None:
                return None
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                raise HTTPException(401, "a bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
            token = find_token(config.tokens, header[7:].strip())
            if token is None:
                raise HTTPException(401, "token not accepted", headers={"WWW-Authenticate": "Bearer"})
            project = request.path_params.get("project")
            if not token.allows(access, project):
                raise HTTPException(
                    403, f"this token may not {'write' if access == 'w' else 'read'} {project or 'this'}"
                )
            request.state.token = token.name
            return token

        return Depends(check)

    def names(project: str, run_id: str) -> None:
        try:
            check_name(project, "project")
            check_name(run_id, "run id")
        except BadName as e:
            raise HTTPException(400, str(e)) from None

    @app.middleware("http")
    async def access_log(request: Request, call_next):
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            if config.access_log:
                entry = {
                    "t": round(time.time(), 3),
                    "method": request.method,
                    "path": request.url.path,
                    "status": status,
                    "ms": round((time.perf_counter() - t0) * 1000, 2),
                    "client": request.client.host if request.client else None,
                    "token": getattr(request.state, "token", None),
                    "bytes_in": int(request.headers.get("content-length") or 0),
                }
                print(json.dumps(entry), file=sys.stderr, flush=True)

    @app.exception_handler(TargetError)
    async def target_error(request: Request, exc: TargetError):
        return JSONResponse({"detail": f"storage: {exc}"}, status_code=503 if exc.retryable else 500)

    @app.get("/health", tags=["operations"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    # ---- write API -----------------------------------------------------------------
    @app.api_route(
        "/v1/runs/{project}/{run_id}/streams/{name}",
        methods=["HEAD"],
        tags=["write"],
        responses={404: {"description": "no such file"}},
    )
    def stream_head(project: str, run_id: str, name: str, _=require("w")) -> Response:
        names(project, run_id)
        _stream(name)
        size = storage.size(project, run_id, name)
        return Response(
            status_code=200 if size else 404,
            headers={"Upload-Offset": str(size), "Tus-Resumable": "1.0.0", "Cache-Control": "no-store"},
        )

    @app.get("/v1/runs/{project}/{run_id}/streams/{name}", tags=["write"])
    def stream_size(project: str, run_id: str, name: str, _=require("w")) -> dict:
        names(project, run_id)
        _stream(name)
        return {"name": name, "size": storage.size(project, run_id, name)}

    @app.patch(
        "/v1/runs/{project}/{run_id}/streams/{name}",
        tags=["write"],
        status_code=204,
        openapi_extra=OCTETS,
        responses={
            409: {"description": "gap or different bytes; Upload-Offset holds the stored size"},
            413: {"description": "body too large"},
            422: {"description": "not whole committed batches"},
        },
    )
    async def stream_append(project: str, run_id: str, name: str, request: Request, _=require("w")) -> Response:
        names(project, run_id)
        _stream(name)
        raw = request.headers.get("upload-offset")
        try:
            offset = int(raw) if raw is not None else -1
        except ValueError:
            offset = -1
        if offset < 0:
            raise HTTPException(400, "an Upload-Offset header with a non-negative integer is needed")
        data = await request.body()
        try:
            size = await run_in_threadpool(storage.append, project, run_id, name, offset, data)
        except GapError as e:
            return JSONResponse(
                {"detail": "gap", "size": e.size}, status_code=409, headers={"Upload-Offset": str(e.size)}
            )
        except ConflictError:
            size = await run_in_threadpool(storage.size, project, run_id, name)
            return JSONResponse(
                {"detail": "different bytes at these offsets", "size": size},
                status_code=409,
                headers={"Upload-Offset": str(size)},
            )
        except BadData as e:
            raise HTTPException(422, str(e)) from None
        return Response(status_code=204, headers={"Upload-Offset": str(size), "Tus-Resumable": "1.0.0"})

    @app.put("/v1/runs/{project}/{run_id}/derived/{path:path}", tags=["write"], status_code=204, openapi_extra=OCTETS)
    async def derived_put(project: str, run_id: str, path: str, request: Request, _=require("w")) -> Response:
        names(project, run_id)
        try:
            check_derived(path)
        except BadName as e:
            raise HTTPException(400, str(e)) from None
        data = await request.body()
        await run_in_threadpool(storage.put, project, run_id, path, data)
        return Response(status_code=204)

    @app.get("/v1/runs/{project}/{run_id}/files", tags=["read"])
    def run_files(project: str, run_id: str, _=require("r")) -> list[dict]:
        names(project, run_id)
        view = _open(storage, project, run_id)
        out = [
            {"name": sf.name, "size": sf.size or storage.size(project, run_id, sf.name), "kind": "stream"}
            for fs in view.files.values()
            for sf in fs
        ]
        out += [{"name": rel, "size": rec.get("size"), "kind": "file"} for rel, rec in sorted(view.saved_files.items())]
        return out

    # ---- read API --------------------------------------------------------------------
    @app.get("/v1/projects", tags=["read"])
    def projects(_=require("r")) -> list[str]:
        return storage.projects()

    @app.get("/v1/projects/{project}/runs", tags=["read"])
    def project_runs(project: str, _=require("r")) -> list[dict]:
        try:
            check_name(project, "project")
        except BadName as e:
            raise HTTPException(400, str(e)) from None
        out = []
        for run_id in storage.runs(project):
            try:
                view = storage.open(project, run_id)
            except RunNotFound:
                continue
            out.append(
                {
                    "id": view.id,
                    "name": view.name,
                    "state": view.state,
                    "steps": view.next_step,
                    "last_write": view.last_write,
                }
            )
        return _finite(out)

    @app.get("/v1/runs/{project}/{run_id}", tags=["read"])
    def run_info(project: str, run_id: str, _=require("r")) -> dict:
        names(project, run_id)
        return _finite(_open(storage, project, run_id).to_dict())

    @app.get("/v1/runs/{project}/{run_id}/history", tags=["read"])
    def history(
        project: str,
        run_id: str,
        keys: str | None = Query(None, description="comma-separated keys"),
        min_step: int | None = Query(None),
        max_step: int | None = Query(None),
        limit: int = Query(10000, ge=1, le=1_000_000),
        _=require("r"),
    ) -> list[dict]:
        names(project, run_id)
        view = _open(storage, project, run_id)
        wanted = [k for k in keys.split(",") if k] if keys else None
        rows = []
        for row in view.scan_history(wanted):
            step = row.get("_step")
            if min_step is not None and isinstance(step, int) and step < min_step:
                continue
            if max_step is not None and isinstance(step, int) and step >= max_step:
                break
            rows.append(row)
            if len(rows) >= limit:
                break
        return _finite(rows)

    @app.get("/v1/runs/{project}/{run_id}/derived/{path:path}", tags=["read"])
    def derived_get(project: str, run_id: str, path: str, _=require("r")) -> Response:
        names(project, run_id)
        try:
            check_derived(path)
        except BadName as e:
            raise HTTPException(400, str(e)) from None
        try:
            data = storage.read_derived(project, run_id, path)
        except RunNotFound as e:
            raise HTTPException(404, str(e)) from None
        return Response(data, media_type="application/json" if path.endswith(".json") else "application/octet-stream")

    app.add_middleware(BodyLimit, max_body=config.max_body)
    return app


def _stream(name: str) -> None:
    try:
        check_stream(name)
    except BadName as e:
        raise HTTPException(400, str(e)) from None


def _open(storage: Storage, project: str, run_id: str):
    try:
        return storage.open(project, run_id)
    except RunNotFound:
        raise HTTPException(404, f"no run {project}/{run_id}") from None


def app_from_env() -> FastAPI:
    """For ``uvicorn --workers``: the config comes in $RUNSHIP_SERVE_CONFIG
    (JSON with the token file's path, never a token)."""
    from runship.server.auth import load_tokens

    raw = json.loads(os.environ["RUNSHIP_SERVE_CONFIG"])
    tokens = load_tokens(raw["token_file"]) if raw.get("token_file") else None
    return create_app(
        ServerConfig(raw["root"], tokens, raw.get("max_body", DEFAULT_MAX_BODY), raw.get("storage_options") or {})
    )
