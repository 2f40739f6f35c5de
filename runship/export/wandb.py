"""Runs replayed into W&B (``runship export --to wandb:ENTITY/PROJECT``)
through the wandb SDK (``pip install wandb``, used only here): one W&B run
per runship run, with the same id; config, history at its steps, summary,
tags, group, job type and files. A grown run is resumed (``resume="allow"``)
and only its new rows are sent. ``--offline`` writes wandb's offline form
(``wandb/offline-run-*``) under ``$WANDB_DIR`` for sites that must use
``wandb sync``: each replay is written to a staging directory and moved
into ``wandb/`` only when the SDK has finished it, so an export killed
midway leaves nothing ``wandb sync`` would send (the next export removes
the staging directory and sends those rows again). Online, a killed
replay's rows are sent again by the next export and W&B keeps one value
a step: it ignores a step lower than the run's last.

The SDK runs in a child process: it reads ``WANDB_*`` settings from the
environment and starts its own service, which must not share this
process (nor the token: wandb reads its own login)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from runship import safefile

_REPLAY = r"""
import json, os, sys
try:  # on Linux, die with the export that started this replay (a killed export leaves no replay running)
    import ctypes, signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[2]):
    sys.exit(3)  # the export is gone already
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


STAGING = ".runship-export-"  # an offline replay is written here, then moved into wandb/ when whole
MARKER = "runship-export.json"  # in each offline replay: the run's rows [first, end) it holds


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


def export_run(view: Any, dest: str, done_rows: int, offline: bool = False) -> int:
    """Replay the rows after ``done_rows``; returns the rows exported in all."""
    from runship.export.files import run_files

    total: int = view.history_length()
    wandb_dir = os.environ.get("WANDB_DIR") or os.getcwd()
    if offline:  # rows an export sent but could not note in the state (killed between the two)
        done_rows = max(done_rows, _offline_rows(wandb_dir, view, total))
    rows = [_plain_row(row) for row in view.rows_from(done_rows)]
    if not rows and done_rows:
        return max(total, done_rows)
    staging = ""
    if offline:
        _sweep_staging(wandb_dir)
        staging = tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=wandb_dir)
    copies = tempfile.mkdtemp(prefix="runship-wandb-files-")
    files = [local for _, local in run_files(view, copies)] if done_rows == 0 else []
    job = _job(view, dest, rows, files, copies)
    job.update({"dir": staging if offline else wandb_dir, "mode": "offline" if offline else "online"})
    fd, path = tempfile.mkstemp(prefix="runship-wandb-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(job, f, default=str)
        _replay(path, view)
        if offline:  # whole, or not at all: only a finished offline run is where `wandb sync` looks
            _publish(staging, wandb_dir, view, done_rows, total)
    finally:
        os.unlink(path)
        shutil.rmtree(copies, ignore_errors=True)
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    return total


def _job(view: Any, dest: str, rows: list[dict[str, Any]], files: list[str], base: str) -> dict[str, Any]:
    """What the replay process does: the run to make in ``dest`` (ENTITY/PROJECT), its rows, summary and files."""
    entity, _, project = dest.rpartition("/")
    return {
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
        "base": base,
        "exit_code": view.exit_code or 0,
    }


def _replay(job_path: str, view: Any) -> None:
    """Run the replay of the job in ``job_path`` through the wandb SDK, in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSHIP_")}
    env.setdefault("WANDB_SILENT", "true")
    out = subprocess.run(
        [sys.executable, "-c", _REPLAY, job_path, str(os.getpid())], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["(no output)"]
        if "No module named 'wandb'" in out.stderr:
            raise ImportError("exporting to W&B needs the wandb package: pip install wandb")
        raise RuntimeError(f"wandb replay of {view.project}/{view.id} failed: {tail[0]}")


def _publish(staging: str, wandb_dir: str, view: Any, done_rows: int, total: int) -> None:
    """Move a finished offline replay from ``staging`` into ``wandb_dir/wandb``,
    its marker saying which rows it holds."""
    from runship.export.parquet import mark_of

    into = os.path.join(wandb_dir, "wandb")
    os.makedirs(into, exist_ok=True)
    for name in sorted(os.listdir(os.path.join(staging, "wandb"))):
        if name.startswith("offline-run-"):
            with open(os.path.join(staging, "wandb", name, MARKER), "w") as f:
                json.dump({"id": view.id, "first": done_rows, "end": total, "mark": mark_of(view, total)}, f)
            target, n = os.path.join(into, name), 1
            while os.path.lexists(target):  # two replays of a run within one second
                n += 1
                target = os.path.join(into, f"{name}-{n}")
            os.rename(os.path.join(staging, "wandb", name), target)


def _offline_rows(wandb_dir: str, view: Any, total: int) -> int:
    """The history rows of this run that offline replays in ``wandb_dir``
    hold already (each says so in its marker file), where the run still
    has those rows (a reset run's do not count)."""
    from runship.export.parquet import mark_of

    held = 0
    for path in glob.glob(
        os.path.join(glob.escape(wandb_dir), "wandb", f"offline-run-*-{glob.escape(view.id)}*", MARKER)
    ):
        try:  # no link followed, no FIFO opened: $WANDB_DIR may be shared
            got = json.loads(safefile.read_bytes(os.path.dirname(path), MARKER, 4096))
            end = int(got["end"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        if got.get("id") == view.id and held < end <= total and got.get("mark") == mark_of(view, end):
            held = end
    return held


def _sweep_staging(wandb_dir: str) -> None:
    """Remove what a killed offline export left in ``wandb_dir``: its
    staging directories (named by this module, owned by this user, the
    process that made it gone). A link or another user's directory is
    left alone."""
    import stat

    try:
        names = os.listdir(wandb_dir)
    except OSError:
        return
    for name in names:
        if not name.startswith(STAGING):
            continue
        pid = name[len(STAGING) :].split("-", 1)[0]
        path = os.path.join(wandb_dir, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # a live export's (this host's): not ours to remove
        except ProcessLookupError:
            pass
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
