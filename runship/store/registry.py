"""Which backend a URL scheme opens, imported on first use (fsspec's
``known_implementations``): a scheme named here opens its class; any other
scheme fsspec knows opens the object-store backend."""

from __future__ import annotations

import importlib
from typing import Any

#: scheme -> "module:Class"
KNOWN: dict[str, str] = {
    "file": "runship.store.local:LocalBackend",
    "http": "runship.store.http:HttpBackend",
    "https": "runship.store.http:HttpBackend",
    "mem": "runship.store.memory:MemoryBackend",
}
#: every other scheme: an fsspec filesystem
FSSPEC = "runship.store.objectstore:ObjectStoreBackend"


def backend_class(scheme: str) -> Any:
    """The backend class for ``scheme`` (its module imported now)."""
    module, _, name = KNOWN.get(scheme, FSSPEC).partition(":")
    return getattr(importlib.import_module(module), name)
