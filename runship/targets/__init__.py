"""Storage targets: where run directories are stored, behind a small interface.

The uploader pushes to a target, the server stores into one, and the
writer's online mode names one: this package sits below all three. A target
holds run directories in the same layout as a run root,
``<url>/<project>/<run_id>/<stream file>``. Stream files only grow; a target
holds a prefix of each local file, and every method is idempotent, so a
crash at any point, a rerun, or two uploaders at once never lose or
duplicate a record. Targets are chosen by URL scheme (``open_target``):

- a local or mounted directory (a path or ``file://``): ``localdir``;
- an fsspec object store (``s3://``, ``gs://``, ``memory://``, ...): ``objectstore``;
- a runship server (``http(s)://``): ``http``.
"""

from __future__ import annotations

from typing import BinaryIO

from runship.schema import redact as _redact

# URLs in log lines and errors: without user, password or query
redact = _redact.for_log


class TargetError(Exception):
    """An upload failed. ``retryable``: a network or service problem that may
    pass (back off and try again); otherwise a problem with this file or run."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class GapError(TargetError):
    """The remote holds fewer bytes than the offset pushed at: the uploader's
    idea of the remote was stale. ``size`` is what the remote holds."""

    def __init__(self, message: str, size: int):
        super().__init__(message, retryable=False)
        self.size = size


class ConflictError(TargetError):
    """The remote holds different bytes than the local file at the same
    offsets: not a prefix of the local run. Never overwritten."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class NotFollowed(TargetError):
    """A project or run directory of a local target is a link (or not a
    directory): never written, read or sized through."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class AuthError(TargetError):
    """The target refused the credentials (or needs some): every request of
    the pass would fail the same way."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class TlsError(TargetError):
    """The TLS handshake with an https:// target failed in a way a retry
    cannot mend (the server speaks plain HTTP, its certificate is not
    trusted): every request of the pass would fail the same way."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class Target:
    """What the uploader (and the server's storage) need from a place to store runs."""

    #: the target's URL without credentials, for logs and the state database
    url: str
    #: True when closed stream files must be uploaded again as whole objects
    #: (object stores: their open files exist as chunk objects)
    needs_finalize: bool = False
    #: the most bytes one push may carry (a server's request limit), if known
    max_request: int | None = None
    #: True when several threads may call it at once (the uploader then asks
    #: sizes and puts closed files of a run several at a time)
    concurrent: bool = False
    #: True when sweep directories (``<project>/.sweeps/<id>/``) are stored
    #: beside the runs (files and object stores; a runship server holds none)
    holds_sweeps: bool = False

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        """Bytes of the stream file held by the remote (0 if none)."""
        raise NotImplementedError

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        """Store ``data`` at ``offset`` of the stream file; return the remote size
        after. Bytes already there and equal: success. A gap: GapError."""
        raise NotImplementedError

    def read_range(self, project: str, run_id: str, name: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a stored stream file (fewer if it is shorter)."""
        raise NotImplementedError

    def finalize(self, project: str, run_id: str, name: str, src: BinaryIO, size: int, fresh: bool = False) -> int:
        """The stream file is closed at ``size`` bytes (``src`` reads them from
        the start): store it whole unless it is already. ``fresh``: the
        remote was just seen to hold nothing of it (no object, no chunk).
        Returns the bytes sent."""
        return 0

    def put_file(self, project: str, run_id: str, rel: str, src: BinaryIO, size: int) -> None:
        """Create or replace a derived file (``run.json``, ``files/...``) with
        the ``size`` bytes read from ``src``, streamed."""
        raise NotImplementedError

    def remove(self, project: str, run_id: str, name: str) -> None:
        """Delete a file (and, on object stores, its chunks). Used by the server
        for its staging area only: runs are never deleted from."""
        raise NotImplementedError

    def list_runs(self) -> list[tuple[str, str]]:
        """(project, run_id) of every run on the target."""
        raise NotImplementedError

    def close(self) -> None:
        return None


class Limited:
    """At most ``size`` bytes of a binary file object (a file may grow while
    it is copied): what a target stores is exactly what was measured."""

    def __init__(self, src: BinaryIO, size: int):
        self._src = src
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._src.read(self._left if n is None or n < 0 else min(n, self._left))
        self._left -= len(data)
        return data


def open_target(
    url: str,
    storage_options: dict | None = None,
    token: str | None = None,
    allow_insecure_http: bool = False,
    create: bool = True,
) -> Target:
    """The target for ``url``: a local directory (a path or file://), an
    fsspec object store (s3://, gs://, memory://, ...), a runship server
    (http(s)://). ``create=False``: make nothing yet (a dry run)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    if scheme == "file":
        from runship.targets.localdir import LocalDirTarget

        return LocalDirTarget(url[len("file://") :] if url.startswith("file://") else url, create=create)
    if scheme in ("http", "https"):
        from runship.targets.http import HttpTarget

        opts = storage_options or {}
        return HttpTarget(
            url,
            token=token,
            timeout=float(opts.get("timeout", 30.0)),
            attempts=int(opts.get("attempts", 4)),
            allow_insecure_http=allow_insecure_http,
        )
    from runship.targets.objectstore import ObjectStoreTarget

    return ObjectStoreTarget(url, storage_options or {})
