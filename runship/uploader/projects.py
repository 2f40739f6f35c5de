"""The project directories of the roots an uploader is given: a run root,
or a project directory given as one (the operator's choice, which may be a
link; below it nothing is followed). Shared by what the uploader sends per
project beside the runs (saved workspaces, artifact stores)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from runship import safefile
from runship.reader.listing import classify_local


def project_dirs(
    roots: list[str], only: str | None, ok: Callable[[str], bool]
) -> Iterator[tuple[str, str | None, str]]:
    """(root, the project's directory below it or None when the root is the
    project's, the project's name) of every project of the roots whose name
    ``ok`` takes (of ``only`` alone, if given)."""
    for root in roots:
        located = classify_local(root)
        if located.kind == "project":
            name = os.path.basename(root)
            if (not only or name == only) and ok(name):
                yield root, None, name
            continue
        if located.kind != "root":
            continue
        try:
            found = safefile.entries_of(root)
        except OSError:
            continue
        for name, kind, _ in found:
            if kind == "directory" and (not only or name == only) and ok(name):
                yield root, name, name
