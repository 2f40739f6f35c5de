"""Where an exporter writes: below its destination, nowhere else.

A run directory is input, and so is every name in it: the project and run
id become path components of the destination, so each is checked with the
one name validator (``runship.schema.names.check_id``: no separator, no
``..``, no leading ``.``) before it is joined. A run whose stream header
names no name or another run than its directory (``RunView`` problems of
kind ``header-name``, ``header-mismatch``) is not exported at all.
"""

from __future__ import annotations

from typing import Any

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
