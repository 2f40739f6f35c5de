"""The saved files of a run as an exporter sends them (MLflow artifacts,
W&B files): each read through the reader, which opens no link, and copied
into a scratch directory of the exporter's."""

from __future__ import annotations

import os
from typing import Any

from runship.schema.names import relpath_ok


def run_files(view: Any, into: str) -> list[tuple[str, str]]:
    """(path under ``files/``, a copy in ``into``) of the run's saved files
    but its media, each read through the reader, which opens no link: a
    run directory is input, and a link in it must not hand another file of
    this account to MLflow or W&B."""
    out = []
    for rel in sorted(view.saved_files):
        if not rel.startswith("files/") or rel.startswith("files/media/") or not relpath_ok(rel):
            continue
        sub = rel[len("files/") :]  # a valid file path: no "..", no empty or absolute component
        local = os.path.join(into, sub)
        try:
            with view.open_file(rel) as src:
                os.makedirs(os.path.dirname(local), exist_ok=True)
                with open(local, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
        except (OSError, ValueError):
            continue  # gone, not a regular file, or a link: not exported
        out.append((sub, local))
    return out
