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
  ``run.json`` or ``files/...``. A file larger than one request goes in
  parts: ``PATCH`` with ``Upload-Offset``, ``Upload-Length`` and
  ``Upload-Checksum: sha256 <base64>``; the file is moved into place once
  whole and checked.
- ``GET /v1/runs/{project}/{run}/files``: the run's files and sizes.

Read API: ``/v1/projects`` (only the projects the token may read),
``/v1/projects/{project}/runs``, ``/v1/runs/{project}/{run}`` (metadata,
config, summary, state), ``/v1/runs/{project}/{run}/history``,
``GET .../derived/{path}``. ``/health`` needs no token; ``/openapi.json``
and ``/docs`` need one unless the server was started with ``--public-docs``.
Every response carries ``Runship-Max-Body``, the largest body accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from runship import __version__
from runship.errors import RunNotFound
from runship.schema.values import json_safe
from runship.server.auth import Token, find_token
from runship.server.guard import LOOPBACK_NAMES, Limits, RequestGuard
from runship.server.storage import BadData, BadName, Storage, check_derived, check_name, check_stream
from runship.store import ConflictError, GapError, NotFollowed, TargetError
from runship.ui.app import UIAuth, add_ui
from runship.ui.data import StorePlace, app_cache

DEFAULT_MAX_BODY = 64 * 1024 * 1024
MAX_HISTORY_ROWS = 1_000_000
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
    public_docs: bool = False
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES  # Host header names answered; None: any


def _finite(value):
    """JSON for responses: NaN and infinities as strings."""
    return json_safe(value, strict_json=True)


def _error_response(request: Request, exc: Exception) -> JSONResponse:
    """The one place where library errors become HTTP answers. A 5xx names
    the request id; its cause goes to the log (``RequestGuard``)."""
    status, body, headers = _answer_for(request, exc)
    if status >= 500:
        request.state.error = f"{type(exc).__name__}: {exc}"
        body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body, status, headers=headers)


def _answer_for(request: Request, exc: Exception) -> tuple[int, dict, dict | None]:
    if isinstance(exc, GapError):
        return 409, {"detail": "gap", "size": exc.size}, {"Upload-Offset": str(exc.size)}
    if isinstance(exc, ConflictError):
        size = getattr(request.state, "stored_size", 0)
        return 409, {"detail": "different bytes at these offsets", "size": size}, {"Upload-Offset": str(size)}
    if isinstance(exc, NotFollowed):  # a link in the store: a run that is not there
        return 404, {"detail": "no such run (a link in the store is not followed)"}, None
    if isinstance(exc, TargetError):
        return 503 if exc.retryable else 500, {"detail": f"storage: {exc}"}, None
    for cls, status in ((BadName, 400), (BadData, 422), (RunNotFound, 404)):
        if isinstance(exc, cls):
            return status, {"detail": str(exc)}, None
    return 500, {"detail": "internal error"}, None


def create_app(config: ServerConfig) -> FastAPI:
    storage = Storage(config.root, config.storage_options)
    docs = config.public_docs
    app = FastAPI(
        title="runship server",
        version=__version__,
        description="Ingest (tus-style appends of committed record batches) and read API for runship runs.",
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url=None,
    )
    app.state.storage = storage
    for exc in (BadName, BadData, RunNotFound, TargetError):
        app.add_exception_handler(exc, _error_response)
    require = _auth(config)
    _operations(app, require, docs)
    _write_api(app, storage, require)
    _read_api(app, storage, require)
    # the web app at / (runship ui's, over this store, with the read tokens and their project scopes)
    add_ui(app, [StorePlace(storage, app_cache())], UIAuth(tokens=config.tokens))
    app.add_middleware(
        RequestGuard,
        max_body=config.max_body,
        body_timeout=config.limits.body_timeout,
        access_log=config.access_log,
        allowed_hosts=config.allowed_hosts,
    )
    return app


def _auth(config: ServerConfig):
    """``require("r"|"w")``: a dependency that checks the bearer token and its
    scope for the request's project; returns the token (None without auth)."""

    def require(access: str):
        def check(request: Request) -> Token | None:
            if config.tokens is None:
                return None
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                request.state.auth = "no token"
                raise HTTPException(401, "a bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
            token = find_token(config.tokens, header[7:].strip())
            if token is None:
                request.state.auth = "unknown token"  # (what was sent is never logged)
                raise HTTPException(401, "token not accepted", headers={"WWW-Authenticate": "Bearer"})
            request.state.token = token.name  # logged for refused requests too
            project = request.path_params.get("project")
            if not token.allows(access, project):
                request.state.auth = "not allowed"
                raise HTTPException(
                    403, f"this token may not {'write' if access == 'w' else 'read'} {project or 'this'}"
                )
            return token

        return Depends(check)

    return require


def _operations(app: FastAPI, require, public_docs: bool) -> None:
    @app.get("/health", tags=["operations"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    if public_docs:
        return

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_=require("r")) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_=require("r")):
        return get_swagger_ui_html(openapi_url="/openapi.json", title="runship server")


def _write_api(app: FastAPI, storage: Storage, require) -> None:
    @app.api_route(
        "/v1/runs/{project}/{run_id}/streams/{name}",
        methods=["HEAD"],
        tags=["write"],
        responses={404: {"description": "no such file"}},
    )
    def stream_head(project: str, run_id: str, name: str, _=require("w")) -> Response:
        _names(project, run_id, name)
        size = storage.size(project, run_id, name)
        return Response(
            status_code=200 if size else 404,
            headers={"Upload-Offset": str(size), "Tus-Resumable": "1.0.0", "Cache-Control": "no-store"},
        )

    @app.get("/v1/runs/{project}/{run_id}/streams/{name}", tags=["write"])
    def stream_size(project: str, run_id: str, name: str, _=require("w")) -> dict:
        _names(project, run_id, name)
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
        _names(project, run_id, name)
        offset = _header_int(request, "upload-offset")
        data = await request.body()
        try:
            size = await run_in_threadpool(storage.append, project, run_id, name, offset, data)
        except ConflictError:
            request.state.stored_size = await run_in_threadpool(storage.size, project, run_id, name)
            raise
        return Response(status_code=204, headers={"Upload-Offset": str(size), "Tus-Resumable": "1.0.0"})

    @app.put("/v1/runs/{project}/{run_id}/derived/{path:path}", tags=["write"], status_code=204, openapi_extra=OCTETS)
    async def derived_put(project: str, run_id: str, path: str, request: Request, _=require("w")) -> Response:
        _names(project, run_id)
        check_derived(path)
        data = await request.body()
        await run_in_threadpool(storage.put, project, run_id, path, data)
        return Response(status_code=204)

    @app.patch(
        "/v1/runs/{project}/{run_id}/derived/{path:path}",
        tags=["write"],
        status_code=204,
        openapi_extra=OCTETS,
        responses={409: {"description": "the staged upload holds another amount; see Upload-Offset"}},
    )
    async def derived_part(project: str, run_id: str, path: str, request: Request, _=require("w")) -> Response:
        _names(project, run_id)
        check_derived(path)
        offset = _header_int(request, "upload-offset")
        total = _header_int(request, "upload-length")
        checksum = request.headers.get("upload-checksum", "")
        data = await request.body()
        size, done = await run_in_threadpool(storage.stage, project, run_id, path, offset, data, total, checksum)
        return Response(status_code=204, headers={"Upload-Offset": str(size), "Upload-Complete": str(done).lower()})


def _read_api(app: FastAPI, storage: Storage, require) -> None:
    @app.get("/v1/runs/{project}/{run_id}/files", tags=["read"])
    def run_files(project: str, run_id: str, _=require("r")) -> list[dict]:
        _names(project, run_id)
        view = storage.open(project, run_id)
        out = [
            {"name": sf.name, "size": sf.size or storage.size(project, run_id, sf.name), "kind": "stream"}
            for fs in view.files.values()
            for sf in fs
        ]
        out += [{"name": rel, "size": rec.get("size"), "kind": "file"} for rel, rec in sorted(view.saved_files.items())]
        return out

    @app.get("/v1/projects", tags=["read"])
    def projects(token=require("r")) -> list[str]:
        return [p for p in storage.projects() if token is None or token.allows("r", p)]

    @app.get("/v1/projects/{project}/runs", tags=["read"])
    def project_runs(project: str, _=require("r")) -> list[dict]:
        check_name(project, "project")
        out = []
        for info in storage.list_infos(project):  # from the run index: only changed runs are read
            entry = {k: info.get(k) for k in ("id", "name", "state", "steps", "last_write")}
            if info.get("error"):
                entry.update(id=info["location"].rstrip("/").rsplit("/", 1)[-1], state="unreadable")
                entry["problems"] = [str(info["error"])]
            elif info.get("problem_list"):
                entry["problems"] = info["problem_list"]
            out.append(entry)
        return _finite(out)

    @app.get("/v1/runs/{project}/{run_id}", tags=["read"])
    def run_info(project: str, run_id: str, _=require("r")) -> dict:
        _names(project, run_id)
        return _finite(storage.open(project, run_id).to_dict())

    @app.get("/v1/runs/{project}/{run_id}/history", tags=["read"])
    def history(
        project: str,
        run_id: str,
        keys: str | None = Query(None, description="comma-separated keys: rows that have all of them"),
        match: str = Query("all", pattern="^(all|any)$", description="any: rows that have at least one of the keys"),
        min_step: int | None = Query(None),
        max_step: int | None = Query(None),
        limit: int = Query(10000, ge=1, le=MAX_HISTORY_ROWS),
        _=require("r"),
    ) -> StreamingResponse:
        _names(project, run_id)
        view = storage.open(project, run_id)
        wanted = [k for k in keys.split(",") if k] if keys else None

        def rows():  # streamed: memory does not grow with the rows asked for
            yield b"["
            n = 0
            for row in view.scan_history(wanted, match=match):
                step = row.get("_step")
                if min_step is not None and isinstance(step, int) and step < min_step:
                    continue
                if max_step is not None and isinstance(step, int) and step >= max_step:
                    break
                yield (b"," if n else b"") + json.dumps(_finite(row)).encode()
                n += 1
                if n >= limit:
                    break
            yield b"]"

        return StreamingResponse(rows(), media_type="application/json")

    @app.get(
        "/v1/runs/{project}/{run_id}/raw/{path:path}",
        tags=["read"],
        responses={206: {"description": "the range asked for"}},
    )
    def raw(project: str, run_id: str, path: str, request: Request, _=require("r")) -> StreamingResponse:
        """A stream file's bytes as stored (chunks put together), or a derived
        file's; ``Range: bytes=a-b`` for a part (206). What ``runship`` reads
        a run on a server with."""
        _names(project, run_id)
        if "/" not in path and path != "run.json":
            check_stream(path)
        else:
            check_derived(path)
        f, size = storage.open_file(project, run_id, path)
        start, end = _range(request.headers.get("range"), size)
        f.seek(start)
        left = end - start

        def chunks():
            nonlocal left
            with f:
                while left > 0 and (chunk := f.read(min(left, 1 << 20))):
                    left -= len(chunk)
                    yield chunk

        headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start), "Cache-Control": "no-store"}
        status = 200
        if request.headers.get("range"):
            status = 206
            headers["Content-Range"] = f"bytes {start}-{max(start, end - 1)}/{size}"
        return StreamingResponse(chunks(), status_code=status, headers=headers, media_type="application/octet-stream")

    @app.get("/v1/runs/{project}/{run_id}/derived/{path:path}", tags=["read"])
    def derived_get(project: str, run_id: str, path: str, _=require("r")) -> StreamingResponse:
        _names(project, run_id)
        check_derived(path)
        f = storage.open_derived(project, run_id, path)

        def chunks():
            with f:
                while chunk := f.read(1 << 20):
                    yield chunk

        media = "application/json" if path.endswith(".json") else "application/octet-stream"
        return StreamingResponse(chunks(), media_type=media)


def _names(project: str, run_id: str, stream: str | None = None) -> None:
    check_name(project, "project")
    check_name(run_id, "run id")
    if stream is not None:
        check_stream(stream)


def _range(header: str | None, size: int) -> tuple[int, int]:
    """[start, end) of a ``Range: bytes=a-b`` header (one range; a-, -n too)."""
    if not header:
        return 0, size
    unit, _, spec = header.partition("=")
    first, _, last = spec.partition("-")
    try:
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError
        if first == "":
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        raise HTTPException(416, f"a Range header of one 'bytes=a-b' range is needed, got {header[:60]!r}") from None
    if start > size:
        raise HTTPException(
            416, f"range starts past the end ({size} bytes)", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, max(start, end)


def _header_int(request: Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 18:
        raise HTTPException(400, f"a {name.title()} header with a non-negative integer is needed")
    return int(raw)


def app_from_env() -> FastAPI:
    """For ``uvicorn --workers``: the config comes from the file named in
    $RUNSHIP_SERVE_CONFIG (JSON, mode 0600, written by ``serve``): the token
    file's path, storage options; never a token in the environment."""
    from runship.safefile import read_private
    from runship.server.auth import load_tokens

    raw = json.loads(read_private(os.environ["RUNSHIP_SERVE_CONFIG"], "server config"))
    tokens = load_tokens(raw["token_file"]) if raw.get("token_file") else None
    return create_app(
        ServerConfig(
            raw["root"],
            tokens,
            raw.get("max_body", DEFAULT_MAX_BODY),
            raw.get("storage_options") or {},
            public_docs=bool(raw.get("public_docs")),
            limits=Limits(**(raw.get("limits") or {})),
            allowed_hosts=None if raw.get("allowed_hosts") is None else frozenset(raw["allowed_hosts"]),
        )
    )
