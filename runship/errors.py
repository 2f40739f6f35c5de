"""Exceptions that callers may want to tell apart. All are builtin subclasses.
``term`` is ``wandb.errors.term`` (``runship.term``: its switches)."""

from __future__ import annotations

from runship import term as term


class Error(Exception):
    """Base class of runship's own errors."""


class CommError(Error):
    """wandb's ``wandb.errors.CommError``: raised where wandb's would be for
    something a place did not answer (an artifact version not found)."""


class UsageError(Error, ValueError):
    """An argument or combination of arguments that cannot work (e.g. resume="must"
    for a run that does not exist)."""


class ConfigError(Error, ValueError):
    """A config change that is not allowed (changing a value without allow_val_change)."""


class RunNotFound(Error, FileNotFoundError):
    """No run at the given path, or no run with that project/id under the root."""


class CorruptionError(Error, ValueError):
    """A stream file holds bytes that are not what the writer wrote."""

    def __init__(self, path: str, offset: int, message: str):
        super().__init__(f"{path}: {message} at byte {offset}")
        self.path = path
        self.offset = offset
