"""The one place where errors become HTTP answers, for every view of the
app: ``error_answer`` is the app's handler of the library's errors
(``ValueError``, ``OSError``, ``TargetError`` and their kinds).

The ingest and read API (``/v1``) and the web app's API (``/ui/api``)
answer as they always have: on ``/v1`` a name that is not one is 400, data
that is not whole batches 422, a run that is not there 404, a gap or
different bytes 409 with the stored size, a storage failure 503 (or 500
when a retry cannot help); on ``/ui/api`` any bad value is 400, a missing
run or file 404 and a file that cannot be read 400, each saying what was
wrong, never a 500. Anything else is a 500 that names the request id; its
cause goes to the access log (``RequestGuard``), never to the client.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from runship.errors import RunNotFound
from runship.schema.names import BadName
from runship.store import ConflictError, GapError, NotFollowed, TargetError
from runship.web.guard import cause

HANDLED: tuple[type[Exception], ...] = (ValueError, OSError, TargetError)  # what error_answer is registered for
UI_API = "/ui/api/"

Answer = tuple[int, dict[str, Any], "dict[str, str] | None"]


class BadRequest(ValueError):
    """A request the app cannot answer (400), with what was wrong."""


class BadData(ValueError):
    """Bytes sent to the ingest API that are not what a stored run may hold (422)."""


def error_answer(request: Request, exc: Exception) -> JSONResponse:
    """The answer to ``exc``, raised while ``request`` was answered."""
    found = _ui_answer(exc) if request.url.path.startswith(UI_API) else None
    status, body, headers = found or _store_answer(request, exc)
    if status >= 500:
        request.state.error = cause(exc)
        body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body, status, headers=headers)


def _ui_answer(exc: Exception) -> Answer | None:
    """The web app's API: what was wrong, 400 or 404 (a storage failure as on /v1)."""
    if isinstance(exc, ValueError):
        return 400, {"detail": str(exc)[:500]}, None
    if isinstance(exc, FileNotFoundError):  # RunNotFound too
        return 404, {"detail": f"not found: {exc}"[:500]}, None
    if isinstance(exc, OSError):
        return 400, {"detail": f"cannot read: {exc.strerror or exc}"[:500]}, None
    return None


def _store_answer(request: Request, exc: Exception) -> Answer:
    """The ingest and read API's answer (and any other path's)."""
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
