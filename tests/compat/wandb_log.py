"""wandb's offline run log read with runship's reader (``runship import
wandb``), for comparing what wandb and runship record from the same script."""

from __future__ import annotations

import glob
import os
from typing import Any

from runship.integration.wandb_import import read_log


def read_run(workdir: str) -> dict[str, Any]:
    """{"history": [rows], "summary": {...}, "config": {...}} of the one offline run under ``workdir/wandb``."""
    (path,) = glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "run-*.wandb"))
    return read_log(path)


def as_wandb(source: str) -> str:
    """A runship compat script as the same script for wandb itself."""
    lines = []
    for line in source.splitlines():
        if line.strip() in ("import runship.compat", "runship.compat.install_as_wandb()"):
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(indent + "pass")
            continue
        lines.append("import wandb" if line == "import runship as wandb" else line)
    return "\n".join(lines) + "\n"


def logged_artifacts(workdir: str) -> list[tuple[str, str]]:
    """(name, type) of each artifact the one offline run under ``workdir/wandb``
    logged: the log's records (framed as LevelDB's log, read by runship's
    reader of that framing) parsed by wandb's own protobuf types."""
    from wandb.proto import wandb_internal_pb2 as pb

    from runship.integration import wandb_log

    (path,) = glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "run-*.wandb"))
    out = []
    with open(path, "rb") as f:
        for data in wandb_log.records(f, path, print):
            record = pb.Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") == "artifact":
                out.append((record.artifact.name, record.artifact.type))
    return out
