"""Renaming, tagging and noting a run from the page: ``POST /ui/api/annotate``.

``POST /ui/api/annotate?run=REF`` with a JSON body ``{"name"?: str,
"tags_add"?: [str], "tags_remove"?: [str], "notes"?: str}`` writes one
annotation (``docs/FORMAT.md``, "Annotations") and answers the run's
``{"name", "tags", "notes"}`` as merged after it. Where it goes:

- ``runship ui`` over a local root: a new file in the run directory;
- ``runship serve``: into the server's store, through its ingest path,
  when the token has write scope for the run's project (403 otherwise);
- ``runship ui`` over a runship server: sent to that server with the
  root's token (the server decides, as for an upload);
- ``runship ui`` over an object store (``s3://...``): refused (400), the
  store is read here, not written.

The body is bounded (``MAX_BODY``), must be ``application/json`` (a form
from another site cannot send that; the sign-in cookie is SameSite=Strict
too) and is checked field by field: a bad one is a 400 naming it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from runship.errors import RunNotFound
from runship.reader.annotate import NOT_WRITABLE, NotWritable, prepare, write_local, write_to
from runship.schema.annotations import MAX_NOTES
from runship.store import TargetError
from runship.store.location import is_server_url, is_url, redact
from runship.web.context import Reader, answer, presented, refuse, small_body, web
from runship.web.places import Place, Runs, StorePlace
from runship.web.serialize import parse_ref, plain

#: the largest body taken: the notes at their limit, every character escaped
MAX_BODY = 8 * MAX_NOTES
LARGE_BODY_PATHS = {"/ui/api/annotate": MAX_BODY}  # the guard takes bodies this large here only

ui = APIRouter(tags=["ui"])


@ui.post("/ui/api/annotate")
async def api_annotate(request: Request, may: Reader, run: Annotated[str, Query()]) -> JSONResponse:
    places = web(request).places
    index, project, run_id = parse_ref(run, len(places))
    if not may(project):
        refuse(request, project)
    by = _may_write(request, project)
    change = await _json_body(request)
    merged = await run_in_threadpool(_annotate, places[index], project, run_id, change, by)
    return answer(merged)


def _may_write(request: Request, project: str) -> str:
    """Who writes (an annotation's ``by``): under ``runship serve``, only a
    token with write scope for ``project`` may (403 saying so); under
    ``runship ui``, whoever signed in (the one token it printed)."""
    app = web(request)
    if app.storage is None:
        return "runship ui"
    if app.gate.open:
        return "runship serve"
    token = app.gate.find(presented(request))
    if token is None or not token.allows("w", project):
        request.state.auth = "not allowed"
        raise HTTPException(
            403,
            f"this token may read {project} but not write it: renaming, tagging and noting a run "
            "need a token with write scope (w) for its project",
        )
    return f"runship serve ({token.name})"


async def _json_body(request: Request) -> Any:
    """The request's JSON body (at most MAX_BODY bytes); 400/413/415 naming what is wrong."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, "an annotation is sent as application/json")
    body = await small_body(request, MAX_BODY, "an annotation's body")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HTTPException(400, f"the body is not JSON: {e}") from None
    except RecursionError:
        raise HTTPException(400, "the body is not an annotation: nested too deeply") from None


def _annotate(place: Runs, project: str, run_id: str, change: Any, by: str) -> dict[str, Any]:
    """Write the annotation where the run is; the run's merged name, tags and notes."""
    try:
        view = place.open(project, run_id)
    except RunNotFound:
        raise HTTPException(404, f"no run {project}/{run_id}") from None
    name, data = prepare(view, change, by)
    if isinstance(place, StorePlace):
        place.storage.append(project, run_id, name, 0, data)
    elif isinstance(place, Place) and not is_url(place.root):
        try:
            write_local(place.location(project, run_id), name, data, root=place.root)
        except OSError as e:  # another user's run, a read-only mount, a full disk
            raise HTTPException(400, f"cannot write an annotation into {project}/{run_id}: {e.strerror or e}") from None
    elif isinstance(place, Place) and is_server_url(place.root):
        _send(place, project, run_id, name, data)
    else:
        raise NotWritable(f"{NOT_WRITABLE}; {redact(str(place))} is read here, not written")
    after = place.open(project, run_id)
    return {"name": plain(after.name), "tags": plain(after.tags), "notes": plain(after.notes)}


def _send(place: Place, project: str, run_id: str, name: str, data: bytes) -> None:
    """An annotation to the runship server a ``runship ui`` root is (its token decides)."""
    from runship.store.http import server

    backend = server(place.root, place.storage_options)
    try:
        write_to(backend, project, run_id, name, data)
    except TargetError as e:
        status = 403 if "HTTP 403" in str(e) or "HTTP 401" in str(e) else 502
        raise HTTPException(status, f"the server did not take the annotation: {e}") from None
    finally:
        backend.close()
