"""A sweep read where ``runship upload`` sent it with its runs
(``runship --root URL sweep status``): a local path is opened in place; a
``file://`` URL or an object store (``s3://``, any fsspec URL) is copied,
a sweep's own files only (``schema.sweeps.is_sweep_file``), each a regular file
or object of at most ``MAX_FILE_BYTES`` and ``MAX_COPY_BYTES`` in all
(a target holds no empty directories), into a temporary directory with
each one's modification time as its mtime (an uploaded claim's is when
its agent's heartbeat last reached the target), and opened there. A
``file://`` copy is read from the root down without following links. A
runship server holds no sweeps.

The copy is then read as any sweep directory (its spec checked again)."""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

from runship.errors import UsageError
from runship.schema import names
from runship.schema.sweeps import MAX_FILE_BYTES, SUBDIRS, SWEEPS, is_sweep_file
from runship.sweep.store import Sweep

MAX_COPY_BYTES = 256 << 20  # a sweep copied from a remote, in all


def open_sweep(root: str, sweep: str, storage_options: dict[str, Any] | None, workdir: str) -> Sweep:
    """The sweep ``[PROJECT/]ID`` of the run root ``root`` (a path, a
    ``file://`` URL or an fsspec URL; an object store's copied into
    ``workdir``)."""
    from runship.store.location import is_local, is_server_url, is_url

    if not is_url(root):
        return Sweep.open(root, sweep)
    from runship.store.objectstore import url_to_fs

    if is_server_url(root):
        raise UsageError(
            f"{root} is a runship server, which holds no sweeps: give the run root the sweep was made in, "
            "or an object store or directory that `runship upload` sent it to"
        )
    fs, base = url_to_fs(root, storage_options)
    project, sweep_id = _locate(fs, base, root, sweep)
    dest = os.path.join(workdir, project, SWEEPS, sweep_id)
    if is_local(root):
        _copy_local(base, f"{project}/{SWEEPS}/{sweep_id}", dest)
    else:
        _copy(fs, f"{base}/{project}/{SWEEPS}/{sweep_id}", dest)
    return Sweep(workdir, project, sweep_id)


def _locate(fs: Any, base: str, root: str, sweep: str) -> tuple[str, str]:
    """(project, id) of ``PROJECT/ID``, or of an ID that one project of the remote has."""
    project, _, sweep_id = sweep.rpartition("/")
    project = project.rsplit("/", 1)[-1]  # entity/project/id as wandb writes it
    if not names.segment_ok(sweep_id) or (project and not names.segment_ok(project)):
        raise UsageError(f"not a sweep id or project name: {sweep!r}")
    if project:
        return project, sweep_id
    found = sorted({p.split("/")[-4] for p in fs.glob(f"{base}/*/{SWEEPS}/{sweep_id}/spec.json")})
    if len(found) != 1:
        where = "no project" if not found else f"projects {', '.join(found)}"
        raise UsageError(f"sweep {sweep_id!r}: {where} under {root} has it; give PROJECT/{sweep_id}")
    return found[0], sweep_id


def _copy(fs: Any, src: str, dest: str) -> None:
    """A sweep's own files of ``src`` on ``fs`` into the new directory ``dest``."""
    from runship.store.objectstore import fresh_ls

    wanted: dict[str, tuple[str, float]] = {}  # remote path -> (relative path, mtime)
    total = 0
    for sub in ("", "claims", "results"):
        try:
            listing = fresh_ls(fs, f"{src}/{sub}" if sub else src, detail=True)
        except FileNotFoundError:
            continue
        for info in listing:
            name = str(info.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
            rel = f"{sub}/{name}" if sub else name
            size = info.get("size")
            if info.get("type") != "file" or not is_sweep_file(rel) or not isinstance(size, int):
                continue
            if 0 <= size <= MAX_FILE_BYTES:
                wanted[info["name"]] = (rel, _mtime(info))
                total += size
    if total > MAX_COPY_BYTES:
        raise UsageError(f"the sweep at {src} holds more than {MAX_COPY_BYTES:,} bytes; not copied to be read")
    for sub in SUBDIRS:
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
    blobs = fs.cat(list(wanted), on_error="omit") if wanted else {}
    for path, (rel, mtime) in wanted.items():
        data = blobs.get(path)
        if not isinstance(data, bytes) or len(data) > MAX_FILE_BYTES:
            continue
        local = os.path.join(dest, rel)  # rel is a sweep file's name: no link, no "..", one level at most
        with open(local, "xb") as f:
            f.write(data)
        os.utime(local, (mtime, mtime))


def _copy_local(root: str, rel: str, dest: str) -> None:
    """``_copy`` for a directory: reached from ``root`` and walked without following a link."""
    from runship import safefile

    try:
        sfd = safefile.open_below(root, rel)
    except safefile.NotRegular as e:
        raise UsageError(f"{os.path.join(root, rel)} is a {e.kind}, not a directory; not followed") from None
    except OSError as e:
        raise UsageError(f"no sweep at {os.path.join(root, rel)}: {e.strerror or e}") from None
    try:
        for sub in SUBDIRS:
            os.makedirs(os.path.join(dest, sub), exist_ok=True)
        for name, kind, size in safefile.walk(sfd):
            if kind != "file" or not is_sweep_file(name) or size > MAX_FILE_BYTES:
                continue
            try:
                with os.fdopen(safefile.open_regular(sfd, name), "rb") as src:
                    mtime, data = os.fstat(src.fileno()).st_mtime, src.read(MAX_FILE_BYTES + 1)
            except OSError:
                continue
            if len(data) <= MAX_FILE_BYTES:
                with open(os.path.join(dest, name), "xb") as f:
                    f.write(data)
                os.utime(os.path.join(dest, name), (mtime, mtime))
    finally:
        os.close(sfd)


def _mtime(info: dict[str, Any]) -> float:
    """An object's modification time from its listing (backends name it differently); now if none."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return time.time()
