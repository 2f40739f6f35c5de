"""What an operator asks ``runship serve``: ``/health`` (no token), and the
API's description (``/openapi.json``, ``/docs``), which need a read token
unless the server was started with ``--public-docs``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from runship import __version__
from runship.web.context import ReadToken

health_router = APIRouter(tags=["operations"])
docs_router = APIRouter(include_in_schema=False)


@health_router.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@docs_router.get("/openapi.json")
def openapi(request: Request, _: ReadToken) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs_router.get("/docs")
def docs(_: ReadToken) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="runship server")
