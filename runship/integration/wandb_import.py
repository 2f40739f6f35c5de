"""``runship import wandb OFFLINE_RUN_DIR...``: wandb's offline runs
(``wandb/offline-run-*/run-<id>.wandb``) into runship runs, with their
config, history (each row at its own ``_step``), summary, tags, group,
job type and files.

The log is LevelDB's log format: a 7-byte header (``:W&B``, magic,
version), then 32 KiB blocks of records, each ``crc32c (4) | length (2) |
type (1) | data``, a payload split across blocks as FIRST, MIDDLE...,
LAST. Each payload is a ``wandb_internal_pb2.Record``, decoded with the
wandb package's own generated classes (``pip install wandb``: the one
thing this needs)."""

from __future__ import annotations

import glob
import json
import os
import struct
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4

__all__ = ["import_offline_run", "payloads", "read_log"]


def payloads(path: str) -> list[bytes]:
    """The records of a wandb log file, as bytes (a torn tail is dropped)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a wandb run log (no ':W&B' header)")
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
        if pos + HEADER + length > len(data):
            break  # torn: written while the run was killed
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


def _put(into: dict[str, Any], path: list[str], value: Any) -> None:
    """A value at a nested key (wandb writes a media value's fields one by one)."""
    for part in path[:-1]:
        into = into.setdefault(part, {})
    into[path[-1]] = value


def read_log(path: str) -> dict[str, Any]:
    """{"run": {id, project, name, group, job_type, tags, notes}, "history":
    [rows], "summary", "config", "exit_code"} of one wandb run log."""
    try:
        from wandb.proto import wandb_internal_pb2 as pb
    except ImportError:
        raise ImportError("reading wandb's run logs needs the wandb package: pip install wandb") from None
    records: Any = pb  # generated protobuf classes: no types to check against
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    config: dict[str, Any] = {}
    run: dict[str, Any] = {}
    summary_text: dict[tuple[str, ...], str] = {}
    config_text: dict[tuple[str, ...], str] = {}
    exit_code = None
    found = payloads(path)
    if not found:
        raise ValueError(f"{path}: a wandb run log with no whole record in it")
    for n, data in enumerate(found):
        rec = records.Record()
        try:
            rec.ParseFromString(data)
        except Exception as e:  # protobuf's DecodeError: bytes that are not a record
            raise ValueError(f"{path}: record {n} is not a wandb record ({type(e).__name__})") from None
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            row: dict[str, Any] = {}
            items = rec.history.item
            try:  # one JSON text a row, not one a value: a third of the time of an import
                values = json.loads("[" + ",".join([i.value_json for i in items]) + "]")
            except ValueError:
                raise ValueError(f"{path}: record {n}: a history value that is not JSON") from None
            if len(values) != len(items):  # a value_json that was not one value
                raise ValueError(f"{path}: record {n}: a history value that is not one JSON value")
            for i, value in zip(items, values):
                key = i.key
                if key:
                    row[key] = value
                else:  # wandb >= 0.19 names every key by its path, most of one part
                    path_ = i.nested_key
                    if len(path_) == 1:
                        row[path_[0]] = value
                    else:
                        _put(row, list(path_), value)
            history.append(row)
        elif kind == "summary":  # written at every step: only each key's last text is decoded, at the end
            for i in rec.summary.update:
                path_ = i.nested_key
                summary_text[(i.key,) if i.key else (path_[0],) if len(path_) == 1 else tuple(path_)] = i.value_json
        elif kind in ("run", "config"):
            updates = rec.run.config.update if kind == "run" else rec.config.update
            for i in updates:
                config_text[(i.key,) if i.key else tuple(i.nested_key)] = i.value_json
            if kind == "run":
                r = rec.run
                run = {
                    "id": r.run_id,
                    "project": r.project or None,
                    "name": r.display_name or None,
                    "group": r.run_group or None,
                    "job_type": r.job_type or None,
                    "tags": list(r.tags),
                    "notes": r.notes or None,
                }
        elif kind == "exit":
            exit_code = rec.exit.exit_code
    for texts, into in ((summary_text, summary), (config_text, config)):
        for key, text in texts.items():
            try:
                _put(into, list(key), json.loads(text))
            except ValueError:
                raise ValueError(f"{path}: the value of {'.'.join(key)!r} is not JSON") from None
    return {"run": run, "history": history, "summary": summary, "config": config, "exit_code": exit_code}


def import_offline_run(run_dir: str, *, root: str | None = None, project: str | None = None) -> Any:
    """A runship run made from one wandb offline run directory (same id)."""
    from runship.integration import imported_run

    logs = sorted(glob.glob(os.path.join(run_dir, "run-*.wandb")))
    if not logs:
        raise FileNotFoundError(f"{run_dir}: no wandb run log (run-*.wandb)")
    found = read_log(logs[-1])
    meta = found["run"]
    config = {k: v for k, v in found["config"].items() if k != "_wandb"}
    run: Any = imported_run(
        root,
        project=project or meta.get("project") or "imported",
        id=meta.get("id") or None,
        name=meta.get("name"),
        group=meta.get("group"),
        job_type=meta.get("job_type"),
        tags=meta.get("tags") or None,
        notes=meta.get("notes"),
        config=config,
    )
    logged = False
    for row in found["history"]:
        step = row.get("_step")
        values = {k: v for k, v in row.items() if not k.startswith("_") and not _media(v)}
        if values:
            run.log(values, step=int(step) if isinstance(step, int) else None)
            logged = True
    if logged:
        run.log({}, commit=True)  # the last row written before the summary, which must stand after it
    for key, value in found["summary"].items():
        if not key.startswith("_") and not _media(value):
            run.summary[key] = value
    files = os.path.join(run_dir, "files")
    if os.path.isdir(files):
        skip = {"wandb-metadata.json", "wandb-summary.json", "config.yaml", "output.log", "requirements.txt"}
        for base, _dirs, names in os.walk(files, followlinks=False):
            for name in names:
                path = os.path.join(base, name)
                if name not in skip and not os.path.islink(path):
                    run.save(path, base_path=files, policy="now")
    run.finish(exit_code=found["exit_code"] or 0)
    return run


def _media(value: Any) -> bool:
    """A media reference of wandb's (its file is not imported)."""
    return isinstance(value, dict) and isinstance(value.get("_type"), str)
