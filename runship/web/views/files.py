"""A run's files: the web app's (``/ui/api/file``: media inline, anything
else as a download) and ``/v1``'s (``raw``: a stream file's bytes as
stored, or a derived file's, in ranges; ``derived``: a derived file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from runship.web.context import CSP, NO_STORE, OpenedRun, ReadToken, store
from runship.web.storage import check_derived, check_names, check_stream

FILE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}

ui = APIRouter(tags=["ui"])
v1 = APIRouter(tags=["read"])


@ui.get("/ui/api/file")
def api_file(
    run: OpenedRun, path: Annotated[str, Query(max_length=4096)], download: Annotated[bool, Query()] = False
) -> StreamingResponse:
    f = run.view.open_file(path)
    inline = None if download else file_type(path)
    headers = {**NO_STORE, "Content-Security-Policy": CSP + "; sandbox"}
    if inline is None:
        headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(path.rsplit("/", 1)[-1], safe="")
    return StreamingResponse(chunks(f), media_type=inline or "application/octet-stream", headers=headers)


def file_type(path: str) -> str | None:
    """The media type a run file is served with inline (images, audio and
    video of the run's media); None: served only as a download."""
    if not path.startswith("files/media/"):
        return None
    return FILE_TYPES.get(os.path.splitext(path)[1].lower())


def chunks(f: IO[bytes], size: int = 1 << 20, left: int | None = None) -> Iterator[bytes]:
    """The file's bytes from where it is (``left`` of them, or all), closed after."""
    with f:
        while left is None or left > 0:
            chunk = f.read(size if left is None else min(left, size))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


@v1.get("/v1/runs/{project}/{run_id}/raw/{path:path}", responses={206: {"description": "the range asked for"}})
def raw(request: Request, project: str, run_id: str, path: str, _: ReadToken) -> StreamingResponse:
    """A stream file's bytes as stored (chunks put together), or a derived
    file's; ``Range: bytes=a-b`` for a part (206). What ``runship`` reads
    a run on a server with."""
    check_names(project, run_id)
    if "/" not in path and path != "run.json":
        check_stream(path)
    else:
        check_derived(path)
    f, size = store(request).open_file(project, run_id, path)
    start, end = _range(request.headers.get("range"), size)
    f.seek(start)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start), "Cache-Control": "no-store"}
    status = 200
    if request.headers.get("range"):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{max(start, end - 1)}/{size}"
    body = chunks(f, left=end - start)
    return StreamingResponse(body, status_code=status, headers=headers, media_type="application/octet-stream")


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


@v1.get("/v1/runs/{project}/{run_id}/derived/{path:path}")
def derived_get(request: Request, project: str, run_id: str, path: str, _: ReadToken) -> StreamingResponse:
    check_names(project, run_id)
    check_derived(path)
    f: Any = store(request).open_derived(project, run_id, path)
    media = "application/json" if path.endswith(".json") else "application/octet-stream"
    return StreamingResponse(chunks(f), media_type=media)
