"""The web app: the page at ``/``, its files under ``/ui/static/`` and its
JSON API under ``/ui/api/`` (see docs/UI.md). ``add_ui`` puts it on a
FastAPI app: the one ``runship ui`` starts and the one of ``runship
serve``, so both serve the same code.

Who may look: ``UIAuth``. Under ``runship ui`` one random token (or none,
on loopback, when asked); under ``runship serve`` the server's read tokens
with their project scopes. The token arrives once, in the body of a POST
to ``/ui/login`` (the sign-in form, or the sign-in page's script with the
token of the printed URL's fragment, ``/ui/signin#token=...``, which the
browser never sends) and lives on as an HttpOnly, SameSite=Strict cookie
named for the port (``runship_ui_<port>``: cookies ignore ports, so each
UI on a host keeps its own); scripts may send ``Authorization: Bearer``.
"""

from __future__ import annotations

import functools
import hmac
import mimetypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from runship.errors import RunNotFound
from runship.server.guard import LOOPBACK_NAMES, Limits, RequestGuard
from runship.ui import data
from runship.ui.tables import TableCache

COOKIE = "runship_ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# the page's own files by suffix, not by the system's table of types (some call .js text/plain,
# and a browser runs no module script that is not served as JavaScript)
STATIC_TYPES = {"js": "text/javascript", "css": "text/css"}
MAX_LOGIN_BODY = 8192
READ_THREADS = 4  # runs of one request read at once


@dataclass
class UIAuth:
    """``secret``: the one token of ``runship ui``; ``tokens``: the
    server's (``runship.server.auth.Token``); neither: no check (loopback
    only, checked by the caller)."""

    secret: str | None = None
    tokens: list[Any] | None = None

    @property
    def open(self) -> bool:
        return self.secret is None and self.tokens is None

    def check(self, presented: str | None) -> Callable[[str], bool] | None:
        """Which projects the presented token may read (a predicate), or
        None when it is not accepted."""
        if self.open:
            return lambda project: True
        if not presented:
            return None
        if self.secret is not None:
            ok = hmac.compare_digest(self.secret.encode(), presented.encode())
            return (lambda project: True) if ok else None
        from runship.server.auth import find_token

        token = find_token(self.tokens or [], presented)
        if token is None:
            return None
        return lambda project: token.allows("r", project)

    def label(self, presented: str | None) -> str | None:
        """What the access log names an accepted token by (the server's
        token's label; None for runship ui's one token): never its value."""
        from runship.server.auth import find_token

        token = find_token(self.tokens or [], presented) if presented and self.tokens else None
        return token.name if token is not None else None


def cookie_name(request: Request) -> str:
    """``runship_ui_<port>``, the port the browser sees: a browser sends a
    cookie of 127.0.0.1 to every port there, so one name for all would let
    a second UI's cookie replace the first's."""
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    return f"{COOKIE}_{port}"


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(cookie_name(request))


async def _small_body(request: Request, limit: int) -> bytes:
    """The request's body, read only while it stays within ``limit`` bytes:
    413 for one declared or sent larger, before the rest is read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"a sign-in body is at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"a sign-in body is at most {limit} bytes")
    return bytes(body)


def _static(name: str) -> bytes | None:
    """A file of the app (inside the package); None for anything else."""
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


def _page(name: str, status: int = 200) -> Response:
    body = _static(name) or b""
    return Response(
        body, status, media_type="text/html; charset=utf-8", headers={**HEADERS, "Cache-Control": "no-store"}
    )


def add_ui(app: FastAPI, places: list[Any], auth: UIAuth) -> None:
    """The page, its files and its API, on ``app``."""
    readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="runship-ui-read")
    tables = TableCache()  # the row spans of the table files last paged through

    def allowed(request: Request) -> Callable[[str], bool]:
        presented = _presented(request)
        may = auth.check(presented)
        if may is None:
            request.state.auth = "unknown token" if presented else "no token"
            raise HTTPException(401, "not signed in: open the URL that runship ui printed (it carries the token)")
        request.state.token = auth.label(presented)  # the access log's (its label, never its value)
        return may

    def open_run(request: Request, ref: str) -> Any:
        may = allowed(request)
        index, project, run_id = data.parse_ref(ref, len(places))
        if not may(project):
            request.state.auth = "not allowed"
            raise HTTPException(403, f"this token may not read {project}")
        try:
            return places[index].open(project, run_id)
        except RunNotFound:
            raise HTTPException(404, f"no run {project}/{run_id}") from None

    def answer(value: Any) -> JSONResponse:
        return JSONResponse(value, headers={**HEADERS, "Cache-Control": "no-store"})

    # ---- the page and its files ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        # a token in the query (the old /?token=) is not taken: it would reach logs and the history
        if auth.check(_presented(request)) is None:
            return _page("login.html", 401)
        return _page("index.html")

    @app.get("/ui/signin", include_in_schema=False)
    def signin() -> Response:
        """The sign-in page, which holds no data: the printed URL opens it
        (``/ui/signin#token=...``) and its script posts the fragment."""
        return _page("login.html")

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        body = await _small_body(request, MAX_LOGIN_BODY)
        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        if auth.check(token) is None:
            return _page("login.html", 401)
        response = RedirectResponse("/", 303, headers=HEADERS)
        _set_cookie(response, token, request)
        return response

    @app.get("/ui/static/{name:path}", include_in_schema=False)
    def static(name: str) -> Response:
        body = _static(name)
        if body is None or name.endswith(".html"):
            raise HTTPException(404, "no such file")
        media = STATIC_TYPES.get(name.rpartition(".")[2]) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media.startswith("text/") or media.endswith("javascript"):
            media += "; charset=utf-8"
        return Response(body, media_type=media, headers={**HEADERS, "Cache-Control": "no-cache"})

    # ---- the API ------------------------------------------------------------------------------------------------------
    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        """A bad request or a run that cannot be read: an answer that says
        what was wrong (400/404), never a 500."""

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (data.BadRequest, ValueError) as e:
                raise HTTPException(400, str(e)[:500]) from None
            except (FileNotFoundError, RunNotFound) as e:
                raise HTTPException(404, f"not found: {e}"[:500]) from None
            except OSError as e:
                raise HTTPException(400, f"cannot read: {e.strerror or e}"[:500]) from None

        return call

    @app.get("/ui/api/runs", tags=["ui"])
    @guarded
    def api_runs(request: Request, project: str | None = Query(None)) -> Response:
        may = allowed(request)
        if project is not None:
            data.check_project(project)
            if not may(project):
                request.state.auth = "not allowed"
                raise HTTPException(403, f"this token may not read {project}")
        body = data.runs(places, project, may)
        return Response(body, media_type="application/json", headers={**HEADERS, "Cache-Control": "no-store"})

    @app.get("/ui/api/run", tags=["ui"])
    @guarded
    def api_run(request: Request, run: str = Query(...)) -> JSONResponse:
        return answer(data.run_detail(run, open_run(request, run)))

    @app.get("/ui/api/series", tags=["ui"])
    @guarded
    def api_series(
        request: Request,
        run: list[str] = Query(...),
        keys: str = Query(...),
        x: str = Query("_step", max_length=500),
        samples: int = Query(800, ge=10, le=data.MAX_SAMPLES),
        lo: float | None = Query(None),
        hi: float | None = Query(None),
    ) -> JSONResponse:
        if len(run) > data.MAX_SERIES_RUNS:
            raise HTTPException(400, f"at most {data.MAX_SERIES_RUNS} runs a request")
        wanted = data.split_keys(keys, data.MAX_SERIES_KEYS)
        if (lo is None) != (hi is None) or (lo is not None and hi is not None and not lo <= hi):
            raise HTTPException(400, "lo and hi go together, lo <= hi")
        xrange = (lo, hi) if lo is not None and hi is not None else None
        refs = list(dict.fromkeys(run))

        def one(ref: str) -> dict[str, Any]:
            return data.series(open_run(request, ref), wanted, x, samples, xrange)

        if len(refs) > 1:  # numpy and Parquet let go of the GIL: runs are read side by side
            out = dict(zip(refs, readers.map(one, refs)))
        else:
            out = {ref: one(ref) for ref in refs}
        return answer({"x": x, "runs": out})

    @app.get("/ui/api/system", tags=["ui"])
    @guarded
    def api_system(request: Request, run: str = Query(...), samples: int = Query(800, ge=10, le=data.MAX_SAMPLES)):
        return answer(data.system_series(open_run(request, run), samples))

    @app.get("/ui/api/console", tags=["ui"])
    @guarded
    def api_console(
        request: Request,
        run: str = Query(...),
        offset: int = Query(0, ge=0),
        tail: int | None = Query(None, ge=1, le=data.MAX_CONSOLE_LINES),
        limit: int = Query(2000, ge=1, le=data.MAX_CONSOLE_LINES),
        q: str | None = Query(None, max_length=1000),
    ) -> JSONResponse:
        return answer(data.console(open_run(request, run), offset, tail, limit, q or None))

    @app.get("/ui/api/media", tags=["ui"])
    @guarded
    def api_media(request: Request, run: str = Query(...), key: str = Query(..., max_length=1000)):
        return answer(data.media(open_run(request, run), key))

    @app.get("/ui/api/table", tags=["ui"])
    @guarded
    def api_table(
        request: Request,
        run: str = Query(...),
        path: str = Query(..., max_length=4096),
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=1000),
        sort: str | None = Query(None, max_length=1000),
        desc: bool = Query(False),
    ) -> JSONResponse:
        return answer(data.table_page(open_run(request, run), path, offset, limit, sort, desc, tables))

    @app.get("/ui/api/file", tags=["ui"])
    @guarded
    def api_file(
        request: Request, run: str = Query(...), path: str = Query(..., max_length=4096), download: bool = Query(False)
    ) -> StreamingResponse:
        view = open_run(request, run)
        f = view.open_file(path)
        inline = None if download else data.file_type(path)
        name = path.rsplit("/", 1)[-1]
        headers = {**HEADERS, "Cache-Control": "no-store", "Content-Security-Policy": CSP + "; sandbox"}
        if inline is None:
            headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + _quote(name)
        return StreamingResponse(data.chunks(f), media_type=inline or "application/octet-stream", headers=headers)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _set_cookie(response: Response, token: str, request: Request) -> None:
    response.set_cookie(
        cookie_name(request),
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def create_ui_app(
    places: list[Any],
    auth: UIAuth,
    *,
    limits: Limits | None = None,
    allowed_hosts: frozenset[str] | None = LOOPBACK_NAMES,
) -> FastAPI:
    """The app of ``runship ui``: the web app alone, no docs, behind the
    request guard of ``runship serve`` (no body over the sign-in form's
    8 KiB, ``limits.body_timeout``, only ``allowed_hosts`` in the Host
    header: None for any, as an in-process test client may need)."""
    app = FastAPI(title="runship ui", openapi_url=None, docs_url=None, redoc_url=None)
    add_ui(app, places, auth)
    app.add_middleware(
        RequestGuard,
        max_body=MAX_LOGIN_BODY,
        body_timeout=(limits or Limits()).body_timeout,
        access_log=False,
        allowed_hosts=allowed_hosts,
    )
    return app
