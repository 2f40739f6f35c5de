"""Artifacts on ``runship serve`` (docs/SERVER.md, "Artifacts"): the few file
operations of the artifact store's layout (``runship.schema.artifacts``),
which ``HttpArea`` (``runship.store.artifact_remote``) speaks, so that
``ArtifactStore`` and ``runship upload`` work against a server as against
a directory or a bucket.

The server keeps them in its own storage root, in the same layout
(``<root>/<project>/.artifacts/``: ``LocalArea`` on a directory, ``FsspecArea``
on an object store). Every file is created once and never replaced; nothing
is deleted over HTTP. Every project, name, version, digest and path is
checked against the layout (400); a blob's body must hash to its name (400)
and hold at most ``CHUNK_SIZE`` bytes (413); a manifest must pass
``check_manifest`` (``MAX_MANIFEST_FILES`` files and references at most)
and its blobs be held (409 naming the first missing); a digest file must
name a version held whose contents digest is its name (409); a small file
(digest, alias event, use marker) is at most ``MAX_SMALL_DOC`` bytes, a
manifest ``MAX_MANIFEST_BYTES`` (413). ``MANIFEST_CHECKS`` manifests (and
digest files, which read theirs) are checked at once; another waits its
turn, then gets 503 with Retry-After. Alias events made elsewhere are
appended by the server (``POST .../aliases``). Reading needs a token that
reads the project, writing one that writes it (a blob's size: either).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from runship.schema import artifacts as sa
from runship.schema.artifacts import BadArtifact
from runship.schema.names import BadName, check_id
from runship.store.artifact_remote import (
    MAX_EVENTS_BODY,
    MAX_EVENTS_POST,
    SIZE_HEADER,
    AreaRefused,
    area_at,
    check_dir,
    parse_rel,
    put_once,
)
from runship.store.artifacts import Area, ArtifactNotFound, ArtifactStore
from runship.web.context import NO_STORE, bearer_token, small_body, store

v1 = APIRouter(tags=["artifacts"])

BASE = "/v1/artifacts"
Project = Annotated[str, Query(max_length=200)]
Path = Annotated[str, Query(max_length=1100)]
Digest = Annotated[str, Query(max_length=64)]
#: the paths whose bodies may be larger than the server's --max-body (the app's guard lets them through)
LARGE_BODY_PATHS = {
    f"{BASE}/file": sa.MAX_MANIFEST_BYTES + 1024,
    f"{BASE}/blob": sa.CHUNK_SIZE + 1024,
    f"{BASE}/aliases": MAX_EVENTS_BODY + 1024,
}
READ_PIECE = 1 << 20
MANIFEST_CHECKS = 2  # manifests (digest files) checked at once: parsed, checked, their blobs asked for
MANIFEST_WAIT = 10.0  # seconds a manifest waits for its turn before 503
RETRY_AFTER = 5  # seconds, said with that 503


# ---- who may ------------------------------------------------------------------------------------
def _allow(request: Request, project: str, *access: str) -> str:
    """The project (checked: 400), if the token may ``access`` it ("r", "w":
    either of those given); 401/403 otherwise."""
    try:
        check_id(project, "project")
    except BadName as e:
        raise HTTPException(400, str(e)[:500]) from None
    token = bearer_token(request)
    if token is not None and not any(token.allows(a, project) for a in access):
        request.state.auth = "not allowed"
        verb = "write" if access == ("w",) else "read"
        raise HTTPException(403, f"this token may not {verb} the artifacts of {project}")
    return project


def _area(request: Request) -> Area:
    """The artifact area of the server's storage root (made once per app)."""
    state = request.app.state
    area = getattr(state, "artifact_area", None)
    if area is None:
        storage = store(request)
        area = area_at(storage.root, storage.storage_options)
        state.artifact_area = area
    return area


def _bad(e: BadArtifact) -> HTTPException:
    return HTTPException(400, str(e)[:500])


def _rel(path: str) -> tuple[Any, ...]:
    try:
        return parse_rel(path)
    except BadArtifact as e:
        raise _bad(e) from None


def _digest(digest: str) -> str:
    try:
        return sa.check_digest(digest)
    except BadArtifact as e:
        raise _bad(e) from None


# ---- reading ------------------------------------------------------------------------------------
@v1.get(f"{BASE}/projects")
def projects(request: Request) -> JSONResponse:
    """The projects holding artifacts that the token may read."""
    token = bearer_token(request)
    held = _area(request).projects()
    return JSONResponse({"projects": [p for p in held if token is None or token.allows("r", p)]}, headers=NO_STORE)


@v1.get(f"{BASE}/list")
def listing(request: Request, project: Project, dir: Annotated[str, Query(max_length=400)] = "") -> JSONResponse:
    """The names in a folder of the layout ([] when there is none)."""
    p = _allow(request, project, "r")
    try:
        check_dir(dir)
    except BadArtifact as e:
        raise _bad(e) from None
    return JSONResponse({"names": _area(request).list(p, dir)}, headers=NO_STORE)


@v1.get(f"{BASE}/file", responses={404: {"description": "no such file"}})
def read_file(request: Request, project: Project, path: Path) -> Response:
    """A manifest, digest file, alias event or use marker, as stored."""
    p = _allow(request, project, "r")
    kind = _rel(path)
    if kind[0] == "blob":
        raise HTTPException(400, f"blobs are read from {BASE}/blob")
    limit = sa.MAX_MANIFEST_BYTES if kind[0] == "manifest" else sa.MAX_SMALL_DOC
    try:
        data = _area(request).read(p, path, limit)
    except BadArtifact as e:  # a file there that is not one (a link, too large): not served
        raise HTTPException(404, str(e)[:500]) from None
    if data is None:
        raise HTTPException(404, f"no {path} in the artifacts of {p}")
    return Response(data, media_type="application/octet-stream", headers=NO_STORE)


@v1.api_route(f"{BASE}/blob", methods=["HEAD"], responses={404: {"description": "not held"}})
def blob_head(request: Request, project: Project, digest: Digest) -> Response:
    """Whether a blob is held: its size in ``Runship-Blob-Size`` (200), or 404."""
    p = _allow(request, project, "r", "w")  # an uploader with a write-only token asks before it sends
    size = _area(request).blob_size(p, _digest(digest))
    if size is None:
        return Response(status_code=404, headers=NO_STORE)
    return Response(status_code=200, headers={**NO_STORE, SIZE_HEADER: str(size)})


@v1.get(f"{BASE}/blob", responses={404: {"description": "not held"}})
def blob_get(request: Request, project: Project, digest: Digest) -> Response:
    """A blob's bytes, streamed."""
    p = _allow(request, project, "r")
    area = _area(request)
    d = _digest(digest)
    size = area.blob_size(p, d)
    if size is None:
        raise HTTPException(404, f"no blob {d} in the artifacts of {p}")
    try:
        f = area.open_blob(p, d)
    except FileNotFoundError:
        raise HTTPException(404, f"no blob {d} in the artifacts of {p}") from None

    def pieces() -> Iterator[bytes]:
        with f:
            left = sa.CHUNK_SIZE
            while left > 0 and (piece := f.read(min(READ_PIECE, left))):
                left -= len(piece)
                yield piece

    return StreamingResponse(pieces(), media_type="application/octet-stream", headers=NO_STORE)


# ---- writing ------------------------------------------------------------------------------------
def _check_doc(area: Area, project: str, kind: tuple[Any, ...], data: bytes) -> None:
    """The bytes of a small file are what the layout says it holds (BadArtifact),
    and what they name is here (AreaRefused, 409): a manifest's blobs, a digest
    file's version (with that contents digest)."""
    what = kind[0]
    if what == "manifest":
        _check_manifest(area, project, kind, data)
    elif what == "digest":
        index = sa.version_index(data.decode("ascii", "replace"))
        if index is None:
            raise BadArtifact("a digest file holds a version (v<N>)")
        try:
            held = ArtifactStore(area).manifest(project, kind[1], index)["digest"]
        except ArtifactNotFound:
            raise AreaRefused(f"{kind[1]}:v{index} is not held here: send its manifest first", 409) from None
        except BadArtifact as e:
            raise AreaRefused(f"{kind[1]}:v{index} held here cannot be read: {e}", 409) from None
        if held != kind[2]:
            raise AreaRefused(f"{kind[1]}:v{index} held here has contents digest {held}, not {kind[2]}", 409)
    elif what == "alias":
        event = sa.decode_doc(data, f"alias event {kind[2]}")
        sa.check_alias(event.get("alias"))
        version = event.get("version")
        if version is not None and (not isinstance(version, str) or sa.version_index(version) is None):
            raise BadArtifact(f"alias event {kind[2]}: version must be v<N> or null")
    else:  # a use marker
        sa.decode_doc(data, "use marker")


def _check_manifest(area: Area, project: str, kind: tuple[Any, ...], data: bytes) -> None:
    """A manifest, parsed once: its checks (its number of files among them),
    then its blobs, up to the first this server does not hold."""
    # a cheap bound before parsing: every file or reference is an object ({), and tiny references
    # would otherwise make a 64 MiB body millions of them in memory before its count is checked
    if data.count(b"{") > 2 * sa.MAX_MANIFEST_FILES + 1024:
        raise AreaRefused(f"a manifest holds at most {sa.MAX_MANIFEST_FILES:,} files and references", 413)
    manifest = sa.check_manifest(sa.decode_doc(data, f"{kind[1]}:v{kind[2]}"), kind[1], kind[2])
    missing = ArtifactStore(area).missing(project, manifest, first=True)
    if missing:
        raise AreaRefused(
            f"{kind[1]}:v{kind[2]} names blobs this server does not hold (first: {missing[0][0]}): send them first",
            409,
        )


def _create(area: Area, project: str, path: str, kind: tuple[Any, ...], data: bytes) -> dict[str, Any]:
    _check_doc(area, project, kind, data)
    put = put_once(area, project, path, data)
    return {"created": put.made, "identical": put.identical, "digest": put.digest}


def _slots(request: Request) -> threading.BoundedSemaphore:
    """The app's turns at checking a manifest or digest file (made once per app)."""
    state = request.app.state
    slots = getattr(state, "artifact_manifest_slots", None)
    if slots is None:
        slots = state.artifact_manifest_slots = threading.BoundedSemaphore(MANIFEST_CHECKS)
    return slots


async def _turn(request: Request) -> threading.BoundedSemaphore:
    """A turn at checking a manifest: waited for up to MANIFEST_WAIT seconds
    (without holding a thread), then 503 with Retry-After."""
    slots = _slots(request)
    deadline = time.monotonic() + MANIFEST_WAIT
    while not slots.acquire(blocking=False):
        if time.monotonic() >= deadline:
            raise HTTPException(
                503,
                f"{MANIFEST_CHECKS} manifests are being checked: try again in a few seconds",
                headers={**NO_STORE, "Retry-After": str(RETRY_AFTER)},
            )
        await asyncio.sleep(0.05)
    return slots


@v1.put(f"{BASE}/file")
async def write_file(request: Request, project: Project, path: Path) -> JSONResponse:
    """Create a small file unless it is there: 200 either way, with
    ``created`` (this request made it), ``identical`` (the file there holds
    these bytes) and, for a manifest, ``digest`` (the contents digest of the
    one there); nothing is ever replaced."""
    p = _allow(request, project, "w")
    kind = _rel(path)
    if kind[0] == "blob":
        raise HTTPException(400, f"blobs are sent to {BASE}/blob")
    limit = sa.MAX_MANIFEST_BYTES if kind[0] == "manifest" else sa.MAX_SMALL_DOC
    data = await small_body(request, limit, "a manifest" if kind[0] == "manifest" else "this file")
    # a manifest (or a digest file: the manifest it names is read) may be seconds of work
    slots = await _turn(request) if kind[0] in ("manifest", "digest") else None
    try:
        answer = await run_in_threadpool(_create, _area(request), p, path, kind, data)
    except BadArtifact as e:
        raise _bad(e) from None
    except AreaRefused as e:
        raise HTTPException(e.status, str(e)[:500]) from None
    finally:
        if slots is not None:
            slots.release()
    return JSONResponse(answer, headers=NO_STORE)


@v1.post(f"{BASE}/aliases")
async def append_aliases(
    request: Request, project: Project, name: Annotated[str, Query(max_length=200)]
) -> JSONResponse:
    """Append alias events made elsewhere (an upload's: ``{"events": [...]}``,
    each ``{"alias", "version", "t", "run"}``), in order, after those held,
    each with its own fields; one held already (the same four) is not
    appended again. ``{"seqs": [...]}``: each one's seq, or null (held)."""
    p = _allow(request, project, "w")
    data = await small_body(request, MAX_EVENTS_BODY, "a batch of alias events")
    try:
        sa.check_name(name)
        events = sa.decode_doc(data, "alias events").get("events")
        if not isinstance(events, list) or len(events) > MAX_EVENTS_POST:
            raise BadArtifact(f"events must be a list of at most {MAX_EVENTS_POST} alias events")
        seqs = await run_in_threadpool(ArtifactStore(_area(request)).append_events, p, name, events)
    except BadArtifact as e:
        raise _bad(e) from None
    except AreaRefused as e:
        raise HTTPException(e.status, str(e)[:500]) from None
    return JSONResponse({"seqs": seqs}, headers=NO_STORE)


def _put_blob(area: Area, project: str, digest: str, data: bytes) -> bool:
    if area.blob_size(project, digest) == len(data):
        return False
    area.put_blob(project, digest, data)
    if area.blob_size(project, digest) != len(data):
        raise AreaRefused(f"another file is held under blob {digest} in {project}: not replaced", 409)
    return True


@v1.put(f"{BASE}/blob")
async def write_blob(request: Request, project: Project, digest: Digest) -> JSONResponse:
    """Hold a blob: its body's SHA-256 must be its name (400 otherwise), at
    most CHUNK_SIZE bytes (413). ``created``: false when it was held."""
    p = _allow(request, project, "w")
    d = _digest(digest)
    data = await small_body(request, sa.CHUNK_SIZE, "a blob")
    got = await run_in_threadpool(lambda: hashlib.sha256(data).hexdigest())
    if got != d:
        raise HTTPException(400, f"the body is not blob {d}: its SHA-256 is {got}")
    try:
        made = await run_in_threadpool(_put_blob, _area(request), p, d, data)
    except AreaRefused as e:
        raise HTTPException(e.status, str(e)[:500]) from None
    return JSONResponse({"created": made, "size": len(data)}, headers=NO_STORE)
