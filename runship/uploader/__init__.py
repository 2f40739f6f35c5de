"""The uploader: ships run directories to object storage or a runship server.

``runship upload ROOT... --to URL`` (see runship/cli.py); the library is
``Uploader`` (one pass, ``run_pass``) and ``watch`` (the daemon loop).
Names are loaded on first use, so that importing a submodule (the CLI reads
``runship.uploader.config`` for every command) does not load the engine.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "Log": "engine",
    "PassStats": "engine",
    "Uploader": "engine",
    "watch": "engine",
    "Busy": "state",
    "State": "state",
    "default_state_dir": "state",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> object:
    """A name of the uploader, its module imported now (the backends it
    writes to are ``runship.store``'s: ``store.open(url)``)."""
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'runship.uploader' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"runship.uploader.{module}"), name)
    globals()[name] = value
    return value
