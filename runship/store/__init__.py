"""Where runs are stored and read from, behind one interface (``Backend``).

The writer's online mode, the uploader, the server, the reader and the
exporters all reach a store through ``open`` (a whole root: list, read and
write runs) or ``open_run`` (one run directory, to read). The backend is
chosen by the location's scheme (``registry``), each in one module holding
both directions:

- a local or mounted directory (a path or ``file://``): ``local``;
- an fsspec object store (``s3://``, ``gs://``, ``memory://``, ...): ``objectstore``;
- a runship server (``http(s)://``): ``http``;
- this process's memory (``mem://NAME``, for tests): ``memory``.

Locations are parsed once, in ``location``. This package sits right above
``schema``: it imports nothing of the reader, writer, uploader or web app.
"""

from __future__ import annotations

import os
from typing import Any

from runship.store import registry
from runship.store.errors import AuthError, ConflictError, GapError, NotFollowed, TargetError, TlsError
from runship.store.location import check_location, redact, scheme_of
from runship.store.protocol import Backend, Capabilities, RunSource

__all__ = [
    "AuthError",
    "Backend",
    "Capabilities",
    "ConflictError",
    "GapError",
    "NotFollowed",
    "RunSource",
    "TargetError",
    "TlsError",
    "open",
    "open_run",
    "redact",
]


def open(
    url: str,
    storage_options: dict[str, Any] | None = None,
    token: str | None = None,
    allow_insecure_http: bool = False,
    create: bool = True,
) -> Backend:
    """The backend for ``url``: a local directory (a path or file://), an
    fsspec object store (s3://, gs://, memory://, ...), a runship server
    (http(s)://), memory (mem://). ``create=False``: make nothing yet (a dry
    run). What is not a location (``s3:/x``, ``htp://x``): UsageError."""
    cls = registry.backend_class(scheme_of(check_location(url, "location")))
    backend: Backend = cls.from_url(
        url, storage_options or {}, token=token, allow_insecure_http=allow_insecure_http, create=create
    )
    return backend


def open_run(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None, root: str | None = None
) -> RunSource:
    """The source of one run directory. ``root``: the run root ``location``
    was named below, for a local one: no link is followed below the root
    (a linked project or run is not there: RunNotFound). What is not a
    location (``s3:/x``, ``htp://x``): UsageError."""
    text = check_location(os.fspath(location), "run")
    source: RunSource = registry.backend_class(scheme_of(text)).open_run(text, storage_options, root)
    return source
