"""Saved workspaces (docs/UI.md, "Saved workspaces"): the web app's
``/ui/api/workspaces``, ``/ui/api/workspace`` and
``/ui/api/workspace-default``, and their twins on ``runship serve``'s
``/v1`` (which ``runship ui http://server`` and ``runship workspace`` call).

Where they are kept: the place holding the project (the first, when
several roots are open and more than one holds it); the all-projects
view's in the first place. Reading needs the page's session (or a token
that reads the project); writing, under ``runship serve``, a token with
write scope for the project (for the all-projects view, one scoped to
every project: it is shared by everyone). Bodies are read only while they
stay within ``workspace.MAX_BYTES`` (413 past it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from runship.schema import workspace as ws
from runship.store.workspaces import Refused, Workspaces, workspaces_at
from runship.web.auth import Token
from runship.web.context import answer, presented, small_body, web
from runship.web.places import Place, Runs, StorePlace

ui = APIRouter(tags=["ui"])
v1 = APIRouter(tags=["workspaces"])

Project = Annotated[str | None, Query(max_length=200)]
Name = Annotated[str, Query(max_length=200)]
#: the paths whose bodies may be as large as a workspace (the app's guard lets them through)
LARGE_BODY_PATHS = {"/ui/api/workspace": ws.MAX_BYTES + 1024, "/v1/workspace": ws.MAX_BYTES + 1024}


# ---- who may ----------------------------------------------------------------------------------------
def _token(request: Request, bearer_only: bool) -> Token | None:
    """The token presented (None under an open gate); 401 when none is accepted."""
    gate = web(request).gate
    if gate.open:
        return None
    given = presented(request)
    if bearer_only and not request.headers.get("authorization", "").lower().startswith("bearer "):
        given = None
    token = gate.find(given, sessions=not bearer_only)  # /v1: tokens only, no sign-in cookie's value
    if token is None:
        request.state.auth = "unknown token" if given else "no token"
        raise HTTPException(401, "not signed in (the page's session or a bearer token is needed)")
    request.state.token = token.name
    return token


def _check(request: Request, project: str | None, access: str, bearer_only: bool = False) -> None:
    """401/403 unless the caller may ``access`` ("r" or "w") the project's
    workspaces. ``runship ui``'s one token may save (it is the page's
    owner's); under ``runship serve`` a token's scope decides, and the
    all-projects view needs a token of every project."""
    token = _token(request, bearer_only)
    if token is None:
        return
    serving = web(request).storage is not None
    if access == "w" and not serving:
        return
    allowed = token.allows(access, project) and (project is not None or token.projects is None)
    if not allowed:
        request.state.auth = "not allowed"
        verb = "save workspaces of" if access == "w" else "read workspaces of"
        raise HTTPException(403, f"this token may not {verb} {project or 'the all-projects view'}")


# ---- where ------------------------------------------------------------------------------------------
def _store_of(place: Runs) -> Workspaces:
    if isinstance(place, StorePlace):
        return workspaces_at(place.storage.root, place.storage.storage_options)
    assert isinstance(place, Place), f"a place of no known kind: {type(place).__name__}"
    return workspaces_at(place.root, place.storage_options)


def home(places: list[Runs], project: str | None) -> Workspaces | None:
    """The store of the first place holding the project (None: no place does)."""
    for place in places if project is not None else places[:1]:
        found = _store_of(place)
        if found.holds(project):
            return found
    return None


def _home(request: Request, project: str | None) -> Workspaces:
    found = home(web(request).places, project)
    if found is None:
        raise FileNotFoundError(f"no project {project} in the roots shown")
    return found


def _refusal(e: Refused) -> HTTPException:
    return HTTPException(e.status, str(e)[:500])


async def _body(request: Request) -> dict[str, Any]:
    """The request's document, read only while it stays within MAX_BYTES."""
    return ws.parse(await small_body(request, ws.MAX_BYTES, "a workspace"))


# ---- the operations (both APIs) -------------------------------------------------------------------------
def _listing(request: Request, project: str | None) -> dict[str, Any]:
    found = home(web(request).places, project)
    if found is None:
        return {"workspaces": [], "default": None}
    try:
        entries, default = found.list(project)
    except Refused as e:
        raise _refusal(e) from None
    return {"workspaces": entries, "default": default}


def _load(request: Request, project: str | None, name: str) -> dict[str, Any]:
    try:
        return _home(request, project).load(project, name)
    except Refused as e:
        raise _refusal(e) from None


def _save(request: Request, project: str | None, name: str, doc: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"name": name, "saved_at": _home(request, project).save(project, name, doc)}
    except Refused as e:
        raise _refusal(e) from None


def _delete(request: Request, project: str | None, name: str) -> dict[str, Any]:
    try:
        _home(request, project).delete(project, name)
    except Refused as e:
        raise _refusal(e) from None
    return {"deleted": name}


def _default(request: Request, project: str | None, name: str | None) -> dict[str, Any]:
    try:
        return {"default": _home(request, project).set_default(project, name)}
    except Refused as e:
        raise _refusal(e) from None


def _names(project: str | None, name: str | None) -> tuple[str | None, str | None]:
    """The project (None: the all-projects view) and the name, checked (400 naming what was wrong)."""
    return ws.check_project(project), None if name is None else ws.check_name(name)


# ---- /ui/api: the page's session ---------------------------------------------------------------------
@ui.get("/ui/api/workspaces")
def api_workspaces(request: Request, project: Project = None) -> JSONResponse:
    p, _ = _names(project, None)
    _check(request, p, "r")
    return answer(_listing(request, p))


@ui.get("/ui/api/workspace")
def api_workspace(request: Request, name: Name, project: Project = None) -> JSONResponse:
    p, n = _names(project, name)
    _check(request, p, "r")
    assert n is not None
    return answer(_load(request, p, n))


@ui.put("/ui/api/workspace")
async def api_save(request: Request, name: Name, project: Project = None) -> JSONResponse:
    p, n = _names(project, name)
    _check(request, p, "w")
    assert n is not None
    doc = await _body(request)
    return answer(await run_in_threadpool(_save, request, p, n, doc))


@ui.delete("/ui/api/workspace")
def api_delete(request: Request, name: Name, project: Project = None) -> JSONResponse:
    p, n = _names(project, name)
    _check(request, p, "w")
    assert n is not None
    return answer(_delete(request, p, n))


@ui.put("/ui/api/workspace-default")
def api_default(request: Request, project: Project = None, name: Name = "") -> JSONResponse:
    p, n = _names(project, name or None)
    _check(request, p, "w")
    return answer(_default(request, p, n))


# ---- /v1: runship serve's, for runship ui http://server and the CLI (a bearer token) -------------------
def _v1(op: Any, *args: Any) -> Any:
    """An operation answered as /v1 answers: a bad name or document 400, none 404."""
    try:
        return op(*args)
    except ws.BadWorkspace as e:
        raise HTTPException(400, str(e)[:500]) from None
    except FileNotFoundError as e:
        raise HTTPException(404, str(e)[:500]) from None


@v1.get("/v1/workspaces")
def v1_workspaces(request: Request, project: Project = None) -> dict[str, Any]:
    p, _ = _v1(_names, project, None)
    _check(request, p, "r", bearer_only=True)
    return dict(_v1(_listing, request, p))


@v1.get("/v1/workspace")
def v1_workspace(request: Request, name: Name, project: Project = None) -> dict[str, Any]:
    p, n = _v1(_names, project, name)
    _check(request, p, "r", bearer_only=True)
    return dict(_v1(_load, request, p, n))


@v1.put("/v1/workspace")
async def v1_save(request: Request, name: Name, project: Project = None) -> dict[str, Any]:
    p, n = _v1(_names, project, name)
    _check(request, p, "w", bearer_only=True)
    doc = await _v1_body(request)
    return dict(await run_in_threadpool(_v1, _save, request, p, n, doc))


async def _v1_body(request: Request) -> dict[str, Any]:
    try:
        return await _body(request)
    except ws.BadWorkspace as e:
        raise HTTPException(400, str(e)[:500]) from None


@v1.delete("/v1/workspace")
def v1_delete(request: Request, name: Name, project: Project = None) -> dict[str, Any]:
    p, n = _v1(_names, project, name)
    _check(request, p, "w", bearer_only=True)
    return dict(_v1(_delete, request, p, n))


@v1.put("/v1/workspace-default")
def v1_default(request: Request, project: Project = None, name: Name = "") -> dict[str, Any]:
    p, n = _v1(_names, project, name or None)
    _check(request, p, "w", bearer_only=True)
    return dict(_v1(_default, request, p, n))
