"""Runs replayed into W&B (``runship export --to wandb:ENTITY/PROJECT``)
through the wandb SDK (``pip install wandb``, used only here): one W&B run
per runship run, with the same id; config, history at its steps, summary,
tags, group, job type and files. A grown run is resumed (``resume="allow"``)
and only its new rows are sent. ``--offline`` writes wandb's offline form
(``wandb/offline-run-*``) under ``$WANDB_DIR`` for sites that must use
``wandb sync``.

The SDK runs in a child process: it reads ``WANDB_*`` settings from the
environment and starts its own service, which must not share this
process (nor the token: wandb reads its own login)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

_REPLAY = r"""
import json, sys
import wandb

job = json.load(open(sys.argv[1]))
run = wandb.init(
    entity=job["entity"], project=job["project"], id=job["id"], name=job["name"], group=job["group"],
    job_type=job["job_type"], tags=job["tags"], notes=job["notes"], config=job["config"], resume="allow",
    dir=job["dir"], mode=job["mode"],
)
for row in job["rows"]:
    step = row.pop("_step")
    run.log(row, step=step)
for key, value in job["summary"].items():
    run.summary[key] = value
for path in job["files"]:
    run.save(path, base_path=job["base"], policy="now")
run.finish(exit_code=job["exit_code"])
"""


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as wandb takes it: numbers, strings and nested plain values;
    media references are left out (their files are not replayed)."""
    out = {}
    for k, v in row.items():
        if k in ("_timestamp", "_runtime"):
            continue
        if isinstance(v, dict) and isinstance(v.get("_type"), str):
            continue
        out[k] = v
    return out


def export_run(view: Any, dest: str, done_rows: int, frame: Any = None, offline: bool = False) -> int:
    """Replay the rows after ``done_rows``; returns the rows exported in all."""
    entity, _, project = dest.rpartition("/")
    rows = []
    total = 0
    for n, row in enumerate(view.scan_history()):
        total = n + 1
        if n >= done_rows:
            rows.append(_plain_row(row))
    if not rows and done_rows:
        return max(total, done_rows)
    from runship.export import run_files

    copies = tempfile.mkdtemp(prefix="runship-wandb-files-")
    files = [local for _, local in run_files(view, copies)] if done_rows == 0 else []
    job = {
        "entity": entity or None,
        "project": project or view.project,
        "id": view.id,
        "name": view.name,
        "group": view.group,
        "job_type": view.job_type,
        "tags": list(view.tags or []),
        "notes": view.notes,
        "config": view.config,
        "rows": rows,
        "summary": {k: v for k, v in view.summary.items() if not (isinstance(v, dict) and "_type" in v)},
        "files": files,
        "base": copies,
        "exit_code": view.exit_code or 0,
        "dir": os.environ.get("WANDB_DIR") or os.getcwd(),
        "mode": "offline" if offline else "online",
    }
    fd, path = tempfile.mkstemp(prefix="runship-wandb-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(job, f, default=str)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSHIP_")}
        env.setdefault("WANDB_SILENT", "true")
        out = subprocess.run([sys.executable, "-c", _REPLAY, path], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["(no output)"]
            if "No module named 'wandb'" in out.stderr:
                raise ImportError("exporting to W&B needs the wandb package: pip install wandb")
            raise RuntimeError(f"wandb replay of {view.project}/{view.id} failed: {tail[0]}")
    finally:
        os.unlink(path)
        shutil.rmtree(copies, ignore_errors=True)
    return total
