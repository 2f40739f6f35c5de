"""What every view is given: the app's state (``Web``: where runs are,
the store of ``runship serve``, the tokens), who is asking (the
dependencies ``ReadToken``, ``WriteToken`` and ``Reader``) and how the web
app's answers are sent (``answer``, with the page's security headers).

``/v1`` takes a token in ``Authorization: Bearer`` only. The web app
(``/`` and ``/ui/...``) takes it once, in the body of a POST to
``/ui/login`` (the sign-in form, or the sign-in page's script with the
token of the printed URL's fragment, which the browser never sends); it
lives on as an HttpOnly, SameSite=Strict cookie named for the port
(``runship_ui_<port>``: cookies ignore ports, so each UI on a host keeps
its own); scripts may send ``Authorization: Bearer``."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn, cast

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from runship.errors import RunNotFound
from runship.web.auth import Gate, Token
from runship.web.places import Runs
from runship.web.serialize import parse_ref
from runship.web.storage import Storage
from runship.web.tables import TableCache

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
NO_STORE = {**HEADERS, "Cache-Control": "no-store"}
READ_THREADS = 4  # runs of one request read at once


@dataclass
class Web:
    """The state of one app, shared by its views."""

    places: list[Runs]  # where the web app reads runs (a reference's place is an index here)
    gate: Gate
    storage: Storage | None = None  # runship serve's store: the ingest and read API
    tables: TableCache = field(default_factory=TableCache)  # the row spans of the table files last paged
    readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="runship-ui-read")
    )


def web(request: Request) -> Web:
    return cast(Web, request.app.state.web)


def store(request: Request) -> Storage:
    """runship serve's store (the ``/v1`` views are only on its app)."""
    storage = web(request).storage
    assert storage is not None, "a /v1 view on an app without a store"
    return storage


def answer(value: Any) -> JSONResponse:
    """A JSON answer of the web app's API."""
    return JSONResponse(value, headers=NO_STORE)


# ---- /v1: a bearer token with the scope asked for ---------------------------------------------------
def bearer_token(request: Request) -> Token | None:
    """The request's bearer token (None when the server has no auth); 401
    without one, or with one the server does not know."""
    gate = web(request).gate
    if gate.open:
        return None
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        request.state.auth = "no token"
        raise HTTPException(401, "a bearer token is needed", headers={"WWW-Authenticate": "Bearer"})
    token = gate.find(header[7:].strip(), sessions=False)  # a sign-in cookie's value is no /v1 token
    if token is None:
        request.state.auth = "unknown token"  # (what was sent is never logged)
        raise HTTPException(401, "token not accepted", headers={"WWW-Authenticate": "Bearer"})
    request.state.token = token.name  # logged for refused requests too
    return token


def _bearer(access: str) -> Callable[[Request], Token | None]:
    """The dependency that checks the bearer token and its scope for the
    request's project; it gives the token (None without auth)."""

    def check(request: Request) -> Token | None:
        token = bearer_token(request)
        if token is None:
            return None
        project = request.path_params.get("project")
        if not token.allows(access, project):
            request.state.auth = "not allowed"
            raise HTTPException(403, f"this token may not {'write' if access == 'w' else 'read'} {project or 'this'}")
        return token

    return check


ReadToken = Annotated[Token | None, Depends(_bearer("r"))]
WriteToken = Annotated[Token | None, Depends(_bearer("w"))]


# ---- the web app: a bearer token or the sign-in cookie ------------------------------------------------
def cookie_name(request: Request) -> str:
    """``runship_ui_<port>``, the port the browser sees: a browser sends a
    cookie of 127.0.0.1 to every port there, so one name for all would let
    a second UI's cookie replace the first's."""
    port = request.url.port or (443 if request.url.scheme == "https" else 80)
    return f"{COOKIE}_{port}"


def presented(request: Request) -> str | None:
    """The token the web app was given: a bearer token, else the cookie's."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(cookie_name(request))


def signed_in(request: Request) -> bool:
    return web(request).gate.readable(presented(request)) is not None


def _reader(request: Request) -> Callable[[str], bool]:
    """Which projects the web app's caller may read; 401 when not signed in."""
    given = presented(request)
    gate = web(request).gate
    may = gate.readable(given)
    if may is None:
        request.state.auth = "unknown token" if given else "no token"
        raise HTTPException(401, "not signed in: open the URL that runship ui printed (it carries the token)")
    token = gate.find(given)
    request.state.token = token.name if token is not None else None  # the access log's (never the value)
    return may


Reader = Annotated[Callable[[str], bool], Depends(_reader)]


def refuse(request: Request, project: str) -> NoReturn:
    """403: the caller's token may not read ``project``."""
    request.state.auth = "not allowed"
    raise HTTPException(403, f"this token may not read {project}")


def open_ref(request: Request, may: Callable[[str], bool], ref: str) -> Any:
    """The run a reference names (a ``RunView``), if the caller may read its project."""
    places = web(request).places
    index, project, run_id = parse_ref(ref, len(places))
    if not may(project):
        refuse(request, project)
    try:
        return places[index].open(project, run_id)
    except RunNotFound:
        raise HTTPException(404, f"no run {project}/{run_id}") from None


@dataclass
class Opened:
    """A run the request names by its reference (``?run=``), opened."""

    ref: str
    view: Any  # a RunView


def _opened(request: Request, may: Reader, run: Annotated[str, Query()]) -> Opened:
    return Opened(run, open_ref(request, may, run))


OpenedRun = Annotated[Opened, Depends(_opened)]


async def small_body(request: Request, limit: int, what: str) -> bytes:
    """The request's body, read only while it stays within ``limit`` bytes:
    413 ("``what`` is at most ... bytes") for one declared or sent larger,
    before the rest is read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"{what} is at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"{what} is at most {limit} bytes")
    return bytes(body)


def each_run(request: Request, refs: list[str], one: Callable[[str], Any]) -> dict[str, Any]:
    """``one(ref)`` of each run, by ref: several read side by side (numpy and
    Parquet let go of the GIL), one in the request's own thread."""
    if len(refs) > 1:
        return dict(zip(refs, web(request).readers.map(one, refs)))
    return {ref: one(ref) for ref in refs}
