"""One parser for every place a command is given: an upload target, an
export's destination, a root runs are read from or stored in.

A location is a local path or a URL of a scheme runship or fsspec knows
(``file://``, ``http(s)://``, ``s3://``, ``gs://``, ``memory://``, ...). What
looks like a URL but is not one is refused rather than taken for a local
directory: ``s3:/bucket`` (one slash) would otherwise become ``./s3:/bucket``,
and ``htp://host`` a listing that fails on every request.
"""

from __future__ import annotations

import os
import re

from runship.errors import UsageError
from runship.schema import redact as _redact
from runship.store.registry import KNOWN

#: URLs in log lines and errors: without user, password or query
redact = _redact.for_log

#: the forms a location may take, for errors
FORM = "a path, or a URL such as s3://bucket/prefix, file:///path or https://server:port"

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.S)
_OWN = ("file", "http", "https")
#: schemes whose locations are a runship server
SERVER_SCHEMES = ("http", "https")


def is_url(value: str) -> bool:
    """Does ``value`` name a URL (``scheme://...``) rather than a local path?"""
    return "://" in value


def scheme_of(value: str) -> str:
    """The lower-case scheme of a location: ``file`` for a local path."""
    return value.split("://", 1)[0].lower() if is_url(value) else "file"


def is_local(value: str) -> bool:
    """A local path or a ``file://`` URL."""
    return scheme_of(value) == "file"


def is_server_url(value: str) -> bool:
    """An ``http(s)://`` URL: a runship server."""
    return scheme_of(value) in SERVER_SCHEMES


def local_path(value: str) -> str:
    """The path of a local location (``file://`` taken off)."""
    return value[len("file://") :] if value[:7].lower() == "file://" else value


def shown(value: str) -> str:
    """A location for a log line: a URL without credentials, a path as it is."""
    return redact(value) if is_url(value) else value


def check_location(value: str, what: str, *, absolute: bool = False) -> str:
    """``value`` when it is a well-formed location, else a UsageError naming
    ``what`` (``--to``, ``ROOT``...), the value and the form expected.
    ``absolute``: a local path must be absolute (an upload target, where a
    relative name is far likelier a mistyped URL than a wish)."""
    bad = f"{what} {value!r}".strip()
    if not value.strip():
        raise UsageError(f"{bad}: empty; give {FORM}")
    match = _SCHEME.fullmatch(value)
    scheme, rest = (match.group(1).lower(), match.group(2)) if match else ("", value)
    if match and rest.startswith("//"):
        if not known_scheme(scheme):
            raise UsageError(f"{bad}: {scheme}:// is not a storage scheme runship or fsspec knows; give {FORM}")
        tail = rest[2:]
        if not tail or (scheme != "file" and not tail.strip("/")):
            raise UsageError(f"{bad}: no {'host' if scheme in _OWN[1:] else 'path'} after {scheme}://; give {FORM}")
        return value
    if match and (rest.startswith("/") or known_scheme(scheme)):
        # s3:/bucket, s3:bucket, htp:/host: a URL missing a slash, not a directory name
        raise UsageError(f"{bad}: not a URL ({scheme}: needs //, as in {scheme}://{rest.lstrip('/')}); give {FORM}")
    if absolute and not os.path.isabs(os.path.expanduser(value)):
        raise UsageError(
            f"{bad} is neither a URL (s3://bucket/prefix, file:///path, https://server) nor an absolute path"
        )
    return value


def known_scheme(scheme: str) -> bool:
    """A scheme runship opens itself or fsspec has an implementation for."""
    if scheme in _OWN:
        return True
    if scheme in KNOWN:
        return True
    from fsspec.registry import known_implementations, registry

    return scheme in known_implementations or scheme in registry
