"""A small reader of wandb's offline run log (``run-<id>.wandb``), for
comparing what wandb and runship record from the same script.

The log is LevelDB's log format: a 7-byte header (``:W&B``, magic, version),
then 32 KiB blocks of records, each ``crc32c (4) | length (2) | type (1) |
data``, a payload split across blocks as FIRST, MIDDLE..., LAST. Each
payload is a ``wandb.proto.wandb_internal_pb2.Record`` (wandb must be
installed to decode it). Checksums are not checked: the test reads a log
that wandb itself just wrote."""

from __future__ import annotations

import glob
import json
import os
import struct
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def payloads(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a wandb log")
    out, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - (pos % BLOCK)
        if left_in_block < HEADER:  # the block's tail is padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            pos += left_in_block
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            out.append(pending + chunk)
            pending = b""
    return out


def read_run(workdir: str) -> dict[str, Any]:
    """{"history": [rows], "summary": {...}, "config": {...}} of the one offline run under ``workdir/wandb``."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = glob.glob(os.path.join(workdir, "wandb", "offline-run-*", "run-*.wandb"))
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for data in payloads(path):
        rec = pb.Record()
        rec.ParseFromString(data)
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            row: dict[str, Any] = {}
            for i in rec.history.item:
                _put(row, [i.key] if i.key else list(i.nested_key), json.loads(i.value_json))
            history.append(row)
        elif kind == "summary":
            for i in rec.summary.update:
                _put(summary, [i.key] if i.key else list(i.nested_key), json.loads(i.value_json))
        elif kind == "run":  # init's config comes in the run record
            for i in rec.run.config.update:
                _put(config, [i.key] if i.key else list(i.nested_key), json.loads(i.value_json))
        elif kind == "config":
            for i in rec.config.update:
                _put(config, [i.key] if i.key else list(i.nested_key), json.loads(i.value_json))
    return {"history": history, "summary": summary, "config": config}


def _put(into: dict[str, Any], path: list[str], value: Any) -> None:
    """A value at a nested key (wandb writes a media value's fields one by one)."""
    for part in path[:-1]:
        into = into.setdefault(part, {})
    into[path[-1]] = value


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
