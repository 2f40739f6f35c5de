"""The errors a backend raises: one family, ``TargetError``, which tells a
failure that may pass (``retryable``: back off and try again) from one
that will not."""

from __future__ import annotations


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
