"""``runship export``: runs into the tools a team already runs.

``export(sources, "parquet:DEST")`` writes each run (a run directory, or
every run under a root) to the destination, incrementally: what was
exported is kept in the uploader's state store (``--state``), per
destination and run, so a second export sends only what is new and an
interrupted one starts again where the last one ended. Kinds: ``parquet``
(``runship.export.parquet``), ``tensorboard`` (``runship.export.tensorboard``),
``wandb`` (``runship.export.wandb``, through the wandb SDK), ``mlflow``
(``runship.export.mlflow``, through MlflowClient)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from runship.errors import UsageError
from runship.store.location import check_location, is_url

__all__ = ["KINDS", "export"]

KINDS = ("parquet", "tensorboard", "wandb", "mlflow")
#: the extra each kind writes with (each also reads the runs' rows: the extra "read")
NEEDS = {"parquet": "parquet", "tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
_DONE = "history-rows"


def parse_since(text: str) -> float:
    """A time from ``--since``: a date (``2026-11-01``, ISO 8601) or an age
    (``90s``, ``30m``, ``2h``, ``7d``) before now."""
    import datetime
    import time

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip()
    if value[:-1].replace(".", "", 1).isdigit() and value[-1:] in units:
        return time.time() - float(value[:-1]) * units[value[-1]]
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since {text!r}: give a date (2026-11-01) or an age (2h, 30m, 7d)") from None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.timestamp()


def _require(kind: str) -> None:
    """The libraries a kind reads and writes with, checked once before any
    run: their absence is one clear error, not one failure a run."""
    from runship.extras import require_extra

    require_extra(NEEDS[kind], "read", what=f"exporting to {kind}")


def parse_target(to: str) -> tuple[str, str]:
    kind, sep, dest = to.partition(":")
    if not sep or kind not in KINDS or not dest:
        raise UsageError(f"--to {to!r}: give KIND:DEST, KIND one of {', '.join(KINDS)} (e.g. parquet:/data/runs)")
    if kind in ("parquet", "tensorboard"):  # a directory or a URL: s3:/x must not become ./s3:/x
        check_location(dest, f"--to {to!r}: the destination")
    return kind, dest


def _runs_under(source: str, project: str | None, allow_empty: bool = True) -> list[str]:
    """The run directories of ``source``: a run directory, a project
    directory or a root (``runship.reader.listing.classify_local``); any other
    path is a UsageError saying what it is. A directory with no run is
    RunNotFound (a failure, not a bad argument: the CLI's exit 1, as
    ``runship upload``'s) unless ``allow_empty`` (``--watch``: a fresh root)."""
    from runship.errors import RunNotFound
    from runship.reader.listing import classify_local, local_runs

    located = classify_local(source)
    if not located.usable:
        raise UsageError(located.reason)
    if located.kind == "empty" and not allow_empty:
        raise RunNotFound(located.reason)
    return local_runs(located, project)


def export(
    sources: list[str],
    to: str,
    state_dir: str,
    *,
    project: str | None = None,
    storage_options: dict[str, Any] | None = None,
    offline: bool = False,
    since: float | None = None,
    log: Callable[[str], None] = print,
    allow_empty: bool = True,
) -> tuple[int, int]:
    """Export the runs of ``sources`` to ``to`` (``KIND:DEST``); returns
    (runs that had something new, runs that failed). One run failing never
    stops the others: it is said in one line and left for the next export.
    ``since``: only runs written to since that time (seconds since the epoch).
    A source that is not a root, project or run directory raises UsageError,
    as does one with no run unless ``allow_empty``."""
    kind, dest_url = parse_target(to)
    _require(kind)
    from runship.export.parquet import runs_table
    from runship.schema.names import check_id
    from runship.uploader.state import State

    runs = [run_dir for source in sources for run_dir in _runs_under(source, project, allow_empty)]
    dest, target = _destination(kind, dest_url, to, storage_options, offline)
    state = State(state_dir)
    changed = failed = 0
    by_project: dict[str, list[Any]] = {}
    try:
        for run_dir in runs:
            view, why = _selected(run_dir, project, since)
            if why is not None:
                failed += 1
                log(f"{run_dir}: {why}")
            if view is None:
                continue
            by_project.setdefault(view.project, []).append(view)
            try:
                new = _one(view, kind, dest, target, state, offline)
            except Exception as e:  # the next export tries this run again
                failed += 1
                log(f"{view.project}/{view.id}: not exported: {type(e).__name__}: {e}")
                continue
            if new:
                changed += 1
                log(f"{view.project}/{view.id}: {new[1] - new[0]} new rows ({new[1]} in all)")
        if kind == "parquet":
            for name, views in by_project.items():
                try:
                    dest.write_table(runs_table(views), check_id(name, "project"), "runs.parquet")
                except Exception as e:  # the next export writes it again
                    failed += 1
                    log(f"{name}/runs.parquet: not written: {type(e).__name__}: {e}")
    finally:
        state.close()
    return changed, failed


def _destination(
    kind: str, dest_url: str, to: str, storage_options: dict[str, Any] | None, offline: bool
) -> tuple[Any, str]:
    """(what the exporter of ``kind`` writes to, the target's name in the state)."""
    if kind == "mlflow":
        return dest_url, f"{kind}:{dest_url}"
    if kind == "wandb":
        dest = dest_url.strip("/")
        return dest, f"{kind}:{dest}" + (":offline" if offline else "")
    if kind == "tensorboard":
        if is_url(dest_url):
            raise UsageError(f"--to {to!r}: TensorBoard event files go to a local directory")
        dest = os.path.abspath(dest_url)
        return dest, f"{kind}:{dest}"
    from runship.export.parquet import ParquetDest

    parquet = ParquetDest(dest_url, storage_options)
    return parquet, f"{kind}:{parquet.url}"


def _selected(run_dir: str, project: str | None, since: float | None) -> tuple[Any, str | None]:
    """(the run's view, or None when it is not exported; why it failed, or None)."""
    from runship.export.place import skip_reason
    from runship.reader.run import open_run

    try:
        view = open_run(run_dir, cache=True)
    except Exception as e:
        return None, f"cannot be read: {type(e).__name__}: {e}"
    if project is not None and view.project != project:
        return None, None
    if since is not None and not (isinstance(view.last_write, (int, float)) and view.last_write >= since):
        return None, None
    why = skip_reason(view)
    if why is not None:  # its header names no name, or another run: not exported anywhere
        return None, f"skipped: {why}"
    return view, None


def _one(view: Any, kind: str, dest: Any, target: str, state: Any, offline: bool) -> tuple[int, int] | None:
    """Export one run; (rows before, rows after) when it had new rows."""
    from runship.export import mlflow as ml
    from runship.export import tensorboard as tb
    from runship.export import wandb as wb
    from runship.export.parquet import export_run, mark_of
    from runship.export.place import run_names

    run_names(view)  # a project or id that is no name is never a path, nor a name elsewhere
    stamp = state.derived(target, view.project, view.id).get(_DONE, "")
    done, _, mark = stamp.partition(":")
    done_rows = int(done) if done.isdigit() else 0
    if done_rows and mark != mark_of(view, done_rows):
        done_rows = 0  # the run's history is not what was exported (a reset): all of it again
    if kind == "wandb":
        rows = wb.export_run(view, dest, done_rows, offline=offline)
    elif kind == "mlflow":
        rows = ml.export_run(view, dest, done_rows)
    else:
        write = tb.export_run if kind == "tensorboard" else export_run
        rows = write(view, dest, done_rows)
    state.set_derived(target, view.project, view.id, _DONE, f"{rows}:{mark_of(view, rows)}")
    return (done_rows, rows) if rows != done_rows else None
