"""Upload targets: a small interface, chosen by URL scheme.

A target stores run directories in the same layout as a run root:
``<url>/<project>/<run_id>/<stream file>``. Stream files only grow; a target
holds a prefix of each local file, and every method is idempotent, so a
crash at any point, a rerun, or two uploaders at once never lose or
duplicate a record.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


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


class Target:
    """What the uploader needs from a place to upload to."""

    #: the target's URL without credentials, for logs and the state database
    url: str
    #: True when closed stream files must be uploaded again as whole objects
    #: (object stores: their open files exist as chunk objects)
    needs_finalize: bool = False

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        """Bytes of the stream file held by the remote (0 if none)."""
        raise NotImplementedError

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        """Store ``data`` at ``offset`` of the stream file; return the remote size
        after. Bytes already there and equal: success. A gap: GapError."""
        raise NotImplementedError

    def finalize(self, project: str, run_id: str, name: str, local_path: str, size: int) -> int:
        """The stream file is closed at ``size`` bytes: store it whole (unless
        it is already). Returns the bytes sent."""
        return 0

    def put_file(self, project: str, run_id: str, rel: str, data: bytes) -> None:
        """Create or replace a derived file (``run.json``, ``files/...``)."""
        raise NotImplementedError

    def list_runs(self) -> list[tuple[str, str]]:
        """(project, run_id) of every run on the target."""
        raise NotImplementedError

    def close(self) -> None:
        return None


def redact(url: str) -> str:
    """The URL without user or password (never log credentials)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


def open_target(url: str, storage_options: dict | None = None, token: str | None = None) -> Target:
    """The target for ``url``: a local directory (a path or file://), an
    fsspec object store (s3://, gs://, memory://, ...)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
    if scheme == "file":
        from runship.uploader.localdir import LocalDirTarget

        return LocalDirTarget(url[len("file://") :] if url.startswith("file://") else url)
    if scheme in ("http", "https"):
        from runship.uploader.http import HttpTarget

        opts = storage_options or {}
        return HttpTarget(
            url, token=token, timeout=float(opts.get("timeout", 30.0)), attempts=int(opts.get("attempts", 4))
        )
    from runship.uploader.objectstore import ObjectStoreTarget

    return ObjectStoreTarget(url, storage_options or {})
