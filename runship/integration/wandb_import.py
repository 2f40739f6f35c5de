"""``runship import wandb OFFLINE_RUN_DIR...``: wandb's offline runs
(``wandb/offline-run-*/run-<id>.wandb``) into runship runs, with their
config, history (each row at its own ``_step``), summary, tags, group,
job type and files.

An offline run directory is input, whoever wrote it. The log is read
through the uploader's safe-file layer (``runship.safefile``): opened
without following a link and only when it is a regular file (a FIFO
never blocks, a device is never read), one 32 KiB block at a time, its
CRCs checked and its records bounded (``wandb_log``); each record is
decoded from protobuf's wire format by runship itself (``wandb_records``:
no wandb package needed). ``files/`` is entered and copied the same way:
a link, FIFO, socket or device there (or ``files`` itself a link) is
reported and never read. A run that already exists is never appended to
unless ``resume`` is given, and then only with the rows at steps past its
last one (importing the same log again adds what was written since, or
leaves the run alone when nothing was)."""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from runship import safefile
from runship.integration import wandb_log, wandb_records
from runship.schema import names

__all__ = ["import_offline_run", "read_log"]

Warn = Callable[[str], None]
_NOT_IMPORTED = {"wandb-metadata.json", "wandb-summary.json", "config.yaml", "output.log", "requirements.txt"}


def _stderr(message: str) -> None:
    print(f"runship: {message}", file=sys.stderr, flush=True)


def _put(into: dict[str, Any], path: list[str], value: Any) -> None:
    """A value at a nested key (wandb writes a media value's fields one by
    one); ValueError where a key on the path already holds a value that is
    not a dict (``a`` = 1, then ``a.b`` = 2)."""
    for part in path[:-1]:
        into = into.setdefault(part, {})
        if type(into) is not dict:
            raise ValueError(f"the key {'.'.join(path)!r} is below a value that is not a dict")
    into[path[-1]] = value


def _loads(text: str) -> Any:
    """json.loads, with a value nested too deep for Python's parser a ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("a value nested too deep") from None


def _row(items: list[wandb_records.Item]) -> dict[str, Any]:
    """One history row (ValueError for a value that is not one JSON value)."""
    # one JSON text a row, not one a value: a third of the time of an import
    values = _loads("[" + ",".join([text for _, text in items]) + "]")
    if len(values) != len(items):  # a value_json that was not one value
        raise ValueError("a history value that is not one JSON value")
    row: dict[str, Any] = {}
    for (path, _), value in zip(items, values):
        if len(path) == 1:
            row[path[0]] = value
        elif path:  # wandb >= 0.19 names every key by its path
            _put(row, list(path), value)
    return row


def _decoded(texts: dict[tuple[str, ...], str], path: str, what: str, warn: Warn) -> dict[str, Any]:
    """Each key's last JSON text, decoded (one that is not JSON reported and left out)."""
    out: dict[str, Any] = {}
    for key, text in texts.items():
        try:
            _put(out, list(key), _loads(text))
        except ValueError as e:
            warn(f"{path}: the {what} value of {'.'.join(key)!r} cannot be kept ({e}): left out")
    return out


def read_records(f: BinaryIO, path: str, warn: Warn = _stderr) -> dict[str, Any]:
    """{"run": {id, project, name, group, job_type, tags, notes}, "history":
    [rows], "summary", "config", "exit_code"} of the wandb run log open as
    ``f``; a record that cannot be read is reported and skipped."""
    history: list[dict[str, Any]] = []
    run: dict[str, Any] = {}
    summary_text: dict[tuple[str, ...], str] = {}
    config_text: dict[tuple[str, ...], str] = {}
    exit_code = None
    seen = bad = 0
    for n, data in enumerate(wandb_log.records(f, path, warn)):
        seen += 1
        try:
            kind, content = wandb_records.decode(data)
            if kind == "history":
                history.append(_row(content))
        except ValueError as e:  # not a wandb record, or a value that is not JSON
            warn(f"{path}: record {n}: {e}: skipped")
            bad += 1
            if bad >= wandb_log.MAX_PROBLEMS:
                warn(f"{path}: {bad} records that cannot be read: the rest of the file is not read")
                break
            continue
        if kind == "summary":  # written at every step: only each key's last text is decoded, at the end
            summary_text.update((key, text) for key, text in content if key)
        elif kind == "config":
            config_text.update((key, text) for key, text in content if key)
        elif kind == "run":
            config_text.update((key, text) for key, text in content.pop("config") if key)
            run = {k: content.get(k) or None for k in ("id", "project", "name", "group", "job_type", "notes")}
            run["tags"] = content["tags"]
        elif kind == "exit":
            exit_code = content
    if not seen:
        raise ValueError(f"{path}: a wandb run log with no whole record in it")
    summary = _decoded(summary_text, path, "summary", warn)
    config = _decoded(config_text, path, "config", warn)
    return {"run": run, "history": history, "summary": summary, "config": config, "exit_code": exit_code}


def read_log(path: str, warn: Warn = _stderr) -> dict[str, Any]:
    """``read_records`` of the log at ``path`` (its directory may be a link;
    the log itself must be a regular file)."""
    with safefile.open_file(os.path.dirname(path) or ".", os.path.basename(path)) as f:
        return read_records(f, path, warn)


def _log_name(dir_fd: int, run_dir: str) -> str:
    """The name of the run's log (the last ``run-*.wandb``), which must be a regular file."""
    logs = [(name, kind) for name, kind, _ in safefile.entries(dir_fd) if fnmatch.fnmatchcase(name, "run-*.wandb")]
    if not logs:
        raise FileNotFoundError(f"{run_dir}: no wandb run log (run-*.wandb)")
    name, kind = logs[-1]
    if kind != "file":
        raise safefile.NotRegular(os.path.join(run_dir, name), kind)
    return name


def _files_to_copy(dir_fd: int, run_dir: str, warn: Warn) -> tuple[int, list[str]] | None:
    """(descriptor of files/, the regular files below it to import), or None
    when there is no files/ directory; anything else there is reported."""
    shown = os.path.join(run_dir, "files")
    try:
        files_fd = safefile.open_subdir(dir_fd, "files")
    except FileNotFoundError:
        return None
    except safefile.NotRegular as e:
        warn(f"{shown}: a {e.kind}, not a directory: not followed, no file of it imported")
        return None
    rels = []
    for rel, kind, _size in safefile.walk(files_fd):
        if kind != "file":
            warn(f"{shown}/{rel}: not a regular file ({kind}): not followed or read, not imported")
        elif os.path.basename(rel) not in _NOT_IMPORTED:
            rels.append(rel)
    return files_fd, rels


def _imported_before(root: str | None, project: str, run_id: str | None, resume: bool) -> tuple[int, int | None] | None:
    """(next step, exit code) of the run ``project/run_id`` under ``root``,
    None when there is none; FileExistsError when there is one and not ``resume``."""
    from runship.reader import open_run
    from runship.writer.resume import run_sessions

    if run_id is None:
        return None
    names.check_id(project, "project")
    names.check_id(run_id, "run id")
    run_dir = os.path.join(os.path.abspath(root if root is not None else names.default_root()), project, run_id)
    if not run_sessions(run_dir):
        return None
    if not resume:
        raise FileExistsError(
            f"run {project}/{run_id} already exists under {os.path.dirname(os.path.dirname(run_dir))}: "
            "--resume (resume=True) adds what this log holds past it as a new session"
        )
    view = open_run(run_dir, cache=False)
    return view.next_step, view.exit_code


def _new_since(found: dict[str, Any], before: tuple[int, int | None]) -> dict[str, Any] | None:
    """``found`` less the history rows at steps the run has already (an
    earlier import of the same log's), None when nothing is new: no row
    past them and the same exit code."""
    next_step, exit_code = before
    rows = [r for r in found["history"] if not isinstance(r.get("_step"), int) or r["_step"] >= next_step]
    if not rows and (found["exit_code"] or 0) == exit_code:
        return None
    return {**found, "history": rows}


def _log_rows(run: Any, found: dict[str, Any], path: str, warn: Warn) -> None:
    """The history rows (each at its own step) and the summary of a wandb
    log, into ``run``; a row or summary value that a run cannot record
    (nested too deep, a step past 2**63) is reported and left out."""
    logged = False
    for n, row in enumerate(found["history"]):
        step = row.get("_step")
        values = {k: v for k, v in row.items() if not k.startswith("_") and not _media(v)}
        if values:
            try:
                run.log(values, step=int(step) if isinstance(step, int) else None)
            except (TypeError, ValueError) as e:  # checked before anything of the row is recorded
                warn(f"{path}: history row {n} (step {step}): {e}: skipped")
                continue
            logged = True
    if logged:
        run.log({}, commit=True)  # the last row written before the summary, which must stand after it
    for key, value in found["summary"].items():
        if not key.startswith("_") and not _media(value):
            try:
                run.summary[key] = value
            except (TypeError, ValueError) as e:
                warn(f"{path}: the summary value of {key!r}: {e}: left out")


def _new_run(found: dict[str, Any], root: str | None, project: str, resume: bool) -> Any:
    """The runship run of a wandb log's records, started (or, with
    ``resume``, resumed)."""
    from runship.integration import imported_run

    meta = found["run"]
    return imported_run(
        root,
        resume="allow" if resume else "never",
        project=project,
        id=meta.get("id") or None,
        name=meta.get("name"),
        group=meta.get("group"),
        job_type=meta.get("job_type"),
        tags=meta.get("tags") or None,
        notes=meta.get("notes"),
        config={k: v for k, v in found["config"].items() if k != "_wandb"},
    )


def import_offline_run(
    run_dir: str, *, root: str | None = None, project: str | None = None, resume: bool = False, warn: Warn = _stderr
) -> Any:
    """A runship run made from one wandb offline run directory (same id).
    FileExistsError if that run exists, unless ``resume``: then a new session
    of it with the rows at steps past the run's (a log imported again adds
    only what was written since), or None, the run left alone, when
    nothing is new."""
    from runship.writer.files import copy_regular
    from runship.writer.run import port

    dir_fd = safefile.open_dir(run_dir)  # the directory named may be a link: what is below it is not followed
    try:
        name = _log_name(dir_fd, run_dir)
        with os.fdopen(safefile.open_regular(dir_fd, name), "rb") as f:
            found = read_records(f, os.path.join(run_dir, name), warn)
        files = _files_to_copy(dir_fd, run_dir, warn)
    finally:
        os.close(dir_fd)
    try:
        project = project or found["run"].get("project") or "imported"
        before = _imported_before(root, project, found["run"].get("id"), resume)
        if before is not None:
            new = _new_since(found, before)
            if new is None:
                return None
            found = new
        run = _new_run(found, root, project, resume)
        _log_rows(run, found, os.path.join(run_dir, name), warn)
        if files is not None:
            copy_regular(port(run), files[0], files[1], os.path.join(run_dir, "files"), warn)  # closes files[0]
            files = None
    finally:
        if files is not None:
            os.close(files[0])
    run.finish(exit_code=found["exit_code"] or 0)
    return run


def _media(value: Any) -> bool:
    """A media reference of wandb's (its file is not imported)."""
    return isinstance(value, dict) and isinstance(value.get("_type"), str)
