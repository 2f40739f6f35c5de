"""Reading runs: a local run directory or an fsspec URL, folded into run
state and history (msgpack records; columns in pyarrow).

``open_run`` and the run views are imported on first use: a command that
only lists runs or scans stream files (the uploader) does not pay for
pyarrow and numpy at start."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runship.reader.stream import Problem, StreamFile, iter_records, read_all

if TYPE_CHECKING:
    from runship.reader.fold import Session
    from runship.reader.run import RunView, open_run

_LAZY = {"RunView": "runship.reader.run", "Session": "runship.reader.fold", "open_run": "runship.reader.run"}

__all__ = ["Problem", "RunView", "Session", "StreamFile", "iter_records", "open_run", "read_all"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runship.reader' has no attribute {name!r}")
