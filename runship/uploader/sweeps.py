"""Sweep directories sent with the runs: ``<root>/<project>/.sweeps/<id>/``
goes to the target as ``<project>/.sweeps/<id>/`` (each changed file put
whole), so that ``runship --root URL sweep status`` reads the sweep where
its runs are.

A sweep directory may be written by another user (runship.sweep.store):
only a sweep's own files are sent (``schema.sweeps.is_sweep_file``), regular files
of at most ``schema.sweeps.MAX_FILE_BYTES``, reached from the root without
following a link; a link or other odd file there is skipped with a
warning, as in a run directory. A runship server holds no sweeps: nothing
is sent to one (``Capabilities.holds_sweeps``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from runship import safefile
from runship.reader.listing import classify_local
from runship.schema import names
from runship.schema.sweeps import MAX_FILE_BYTES, SWEEPS, is_sweep_file
from runship.store import Backend
from runship.uploader.state import State

Skip = Callable[[str, str], None]  # (path, why): a file not sent on purpose


def send(
    target: Backend, state: State, roots: list[str], project: str | None, skip: Skip, stop: threading.Event
) -> int:
    """Send what changed in the sweeps of the roots' projects (a root, or a
    project directory given as one); bytes sent. TargetError passes up."""
    if not target.capabilities.holds_sweeps:
        return 0
    sent = 0
    for root in roots:
        located = classify_local(root)
        if located.kind == "project":
            pairs = [(os.path.dirname(root), os.path.basename(root), True)]
        elif located.kind == "root":
            pairs = [(root, name, False) for name, kind, _ in _entries(root) if kind == "directory"]
        else:
            continue
        for parent, name, named in pairs:
            if stop.is_set() or name.startswith(".") or (project and name != project):
                continue
            try:  # a project directory given as a root is the operator's choice (it may be a link)
                pfd = safefile.open_dir(root) if named else safefile.open_below(parent, name)
            except OSError:
                continue
            try:
                sent += _send_project(target, state, pfd, os.path.join(parent, name), name, skip, stop)
            finally:
                os.close(pfd)
    return sent


def _entries(root: str) -> list[tuple[str, str, int]]:
    try:
        return safefile.entries_of(root)
    except OSError:
        return []


def _send_project(
    target: Backend, state: State, pfd: int, where: str, project: str, skip: Skip, stop: threading.Event
) -> int:
    try:
        sfd = safefile.open_subdir(pfd, SWEEPS)
    except safefile.NotRegular as e:
        skip(os.path.join(where, SWEEPS), f"a {e.kind}, not followed")
        return 0
    except OSError:
        return 0  # no sweep in this project
    known = state.derived(target.url, project, SWEEPS)
    sent = 0
    try:
        for sweep_id, kind, _ in safefile.entries(sfd):
            path = os.path.join(where, SWEEPS, sweep_id)
            if stop.is_set():
                break
            if kind == "symlink":
                skip(path, "a symlink, not followed")
            if kind != "directory" or not names.segment_ok(sweep_id):
                continue
            try:
                dfd = safefile.open_subdir(sfd, sweep_id)
            except OSError:
                continue
            try:
                sent += _send_sweep(target, state, dfd, path, (project, sweep_id), known, skip)
            finally:
                os.close(dfd)
    finally:
        os.close(sfd)
    return sent


def _send_sweep(
    target: Backend, state: State, dfd: int, where: str, sweep: tuple[str, str], known: dict[str, str], skip: Skip
) -> int:
    """The changed files of one sweep directory (``dfd``); bytes sent."""
    project, sweep_id = sweep
    sent = 0
    for rel, kind, _ in safefile.walk(dfd):
        if not is_sweep_file(rel):
            continue  # an agent's temporary file, or nothing of a sweep's
        path = os.path.join(where, rel)
        if kind != "file":
            skip(path, f"a {kind}, not a regular file")
            continue
        try:
            fd = safefile.open_regular(dfd, rel)
        except safefile.NotRegular as e:
            skip(path, f"a {e.kind}, not a regular file")
            continue
        except OSError:
            continue  # gone, or unreadable: the next pass
        with os.fdopen(fd, "rb") as src:
            st = os.fstat(fd)
            key, stamp = f"{sweep_id}/{rel}", f"{st.st_size}:{st.st_mtime_ns}"
            if known.get(key) == stamp:
                continue
            if st.st_size > MAX_FILE_BYTES:
                skip(path, f"larger than {MAX_FILE_BYTES:,} bytes, more than any sweep file holds")
                continue
            target.put_file(project, SWEEPS, key, src, st.st_size)
        state.set_derived(target.url, project, SWEEPS, key, stamp)
        sent += st.st_size
    return sent
