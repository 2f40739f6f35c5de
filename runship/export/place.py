"""Where an exporter writes: below its destination, nowhere else.

A run directory is input, and so is every name in it: the project and run
id become path components of the destination, so each is checked with the
one name validator (``runship.schema.names.check_id``: no separator, no
``..``, no leading ``.``) before it is joined. A run whose stream header
names no name or another run than its directory (``RunView`` problems of
kind ``header-name``, ``header-mismatch``) is not exported at all.

On a local destination the directories below it are made and entered one
component at a time without following a link (``runship.safefile``): a
link planted in the destination is refused, never written through. The
destination itself may be a link: the operator named it.
"""

from __future__ import annotations

import os
from typing import Any

from runship import safefile
from runship.schema.names import check_id

#: problems of a run that keep it from being exported
NAME_PROBLEMS = ("header-name", "header-mismatch")


def skip_reason(view: Any) -> str | None:
    """Why a run is not exported (its stream header names no name, or
    another run than its directory), None when it may be."""
    for p in view.problems:
        if p.kind in NAME_PROBLEMS:
            return f"{p.message} ({p.path})"
    return None


def run_names(view: Any) -> tuple[str, str]:
    """(project, run id) of a run, each a valid name (BadName, a ValueError, otherwise)."""
    return check_id(view.project, "project"), check_id(view.id, "run id")


def component(part: str) -> str:
    """One path component below a destination (``run_id=<id>``, a file
    name): ValueError for an empty one, ``.``/``..`` or one holding a
    separator or NUL."""
    if part in ("", ".", "..") or any(c in part for c in "/\\\0"):
        raise ValueError(f"not one path component below the export's destination: {part!r}")
    return part


def open_below(dest: str, *parts: str) -> int:
    """A descriptor of the directory ``dest/parts...`` (made where missing),
    reached from ``dest`` without following a link; the caller closes it.
    ``safefile.NotRegular`` (an OSError naming the link) for a link or a
    file in the way."""
    os.makedirs(dest, exist_ok=True)
    top = safefile.open_dir(dest)
    try:
        return safefile.open_subdir(top, "/".join(component(p) for p in parts), create=True)
    finally:
        os.close(top)
