"""The page at ``/``, the sign-in page and form, and the page's files
under ``/ui/static/`` (everything under ``runship/web/static``, nested
folders too; no HTML file but through its own route)."""

from __future__ import annotations

import functools
import mimetypes
from importlib import resources
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from runship.web.context import HEADERS, cookie_name, signed_in, small_body, web

MAX_LOGIN_BODY = 8192
SESSION_DAYS = 30  # how long a browser keeps the sign-in cookie (a restart with the same token keeps it valid)
TYPES = {  # what the page's files are served as (ES modules need a JavaScript type), the rest as mimetypes says
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/vnd.microsoft.icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
}

ui = APIRouter(include_in_schema=False)


def static_file(name: str) -> bytes | None:
    """A file of the page (inside the package); None for anything else."""
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    node = resources.files("runship.web").joinpath("static")
    for p in parts:
        node = node.joinpath(p)
    try:
        return node.read_bytes() if node.is_file() else None
    except OSError:
        return None


def media_type(name: str) -> str:
    """The Content-Type of a page's file: JavaScript as ``text/javascript``
    (``.js``, ``.mjs``), text with its charset."""
    dot = name.rfind(".")
    media = TYPES.get(name[dot:].lower()) if dot >= 0 else None
    media = media or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/") or media.endswith("javascript"):
        media += "; charset=utf-8"
    return media


@functools.cache
def index_page() -> bytes:
    """The page, with a ``modulepreload`` link for each of its modules (the
    package's ``static/js/*.js``): the browser asks for them all at once
    instead of level by level of their imports (about 0.4 s less before
    anything is drawn, each level a round trip)."""
    body = static_file("index.html") or b""
    folder = resources.files("runship.web").joinpath("static").joinpath("js")
    names = sorted(n.name for n in folder.iterdir() if n.name.endswith(".js") and n.is_file())
    links = "".join(f'<link rel="modulepreload" href="/ui/static/js/{n}">\n' for n in names)
    return body.replace(b"</head>", links.encode() + b"</head>", 1)


def _page(name: str, status: int = 200) -> Response:
    body = index_page() if name == "index.html" else static_file(name) or b""
    return Response(
        body, status, media_type="text/html; charset=utf-8", headers={**HEADERS, "Cache-Control": "no-store"}
    )


@ui.get("/")
def index(request: Request) -> Response:
    # a token in the query (the old /?token=) is not taken: it would reach logs and the history
    return _page("index.html") if signed_in(request) else _page("login.html", 401)


@ui.get("/ui/signin")
def signin() -> Response:
    """The sign-in page, which holds no data: the printed URL opens it
    (``/ui/signin#token=...``) and its script posts the fragment."""
    return _page("login.html")


@ui.post("/ui/login")
async def login(request: Request) -> Response:
    body = await small_body(request, MAX_LOGIN_BODY, "a sign-in body")
    token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
    gate = web(request).gate
    found = gate.find(token)
    if found is None and not gate.open:
        return _page("login.html", 401)
    response = RedirectResponse("/", 303, headers=HEADERS)
    response.set_cookie(  # the token's HMAC, not the token: it survives a restart with the same token
        cookie_name(request),
        found.session if found is not None else "",
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@ui.get("/ui/static/{name:path}")
def static(name: str) -> Response:
    body = static_file(name)
    if body is None or name.endswith(".html"):
        raise HTTPException(404, "no such file")
    return Response(body, media_type=media_type(name), headers={**HEADERS, "Cache-Control": "no-cache"})
