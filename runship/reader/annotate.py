"""Writing a run's annotations (``docs/FORMAT.md``, "Annotations"): by
``runship ui`` over a local root, ``runship serve`` and ``Run.update()``.

One annotation is one new file, ``annotation-<session>-000000.msgpack``
with a fresh session id (time-ordered, random), created whole: in a local
run directory it is written under a temporary name created exclusively,
then linked into place (``link(2)`` refuses an existing name), so a reader
never sees half of it and two writers at once never meet; to a runship
server it is one append at offset 0 through the ingest API (the server
checks the token's write scope and the batch). Nothing is ever rewritten.
"""

from __future__ import annotations

import errno
import getpass
import os
import socket
from typing import Any

from runship import safefile, store
from runship.schema import annotations as schema
from runship.schema import format as fmt
from runship.schema import names
from runship.store.location import is_local, is_server_url, local_path, redact

NOT_WRITABLE = "annotations are written to a local run root or through a runship server"


class NotWritable(ValueError):
    """A run whose annotations cannot be written from here (a run on an
    object store read directly: its bucket is read-only to runship)."""


def who(program: str) -> str:
    """``program (user@host)``: what an annotation's ``by`` says, for people."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name to be had (a container without one)
        user = "?"
    return f"{program} ({user}@{socket.gethostname()})"[: schema.MAX_BY]


def prepare(view: Any, change: object, by: str | None) -> tuple[str, bytes]:
    """(file name, bytes) of the annotation ``change`` of the run ``view``
    (a ``RunView``), checked against what the run holds now: BadAnnotation
    naming what is wrong."""
    fields = schema.check_change(change)
    held = [sf for sf in view.files.get(schema.STREAM, [])]
    if len(held) >= schema.MAX_FILES:
        raise schema.BadAnnotation(
            f"the run holds {len(held)} annotations, the most a reader folds ({schema.MAX_FILES}): no more are written"
        )
    tags = [t for t in view.tags if t not in fields.get("tags_remove", ())]
    added = [t for t in fields.get("tags_add", ()) if t not in tags]
    if len(tags) + len(added) > schema.MAX_TAGS:
        raise schema.BadAnnotation(f"a run holds at most {schema.MAX_TAGS} tags ({len(tags)} now, {len(added)} added)")
    newest = max((sf.session for sf in held), default=None)
    session = fmt.new_session_id(after=newest)
    return schema.file_name(session), schema.pack_annotation(view.project, view.id, session, fields, by)


def write_local(run_dir: str, name: str, data: bytes, root: str | None = None) -> None:
    """Create the annotation file ``name`` in a local run directory, whole:
    written under a temporary name created exclusively, synced, then linked
    into place (never over an existing file) and the temporary name removed.
    ``root``: the run root the directory is below (no link is followed below
    it). FileExistsError if the name is taken (a session id is random: never)."""
    names.check_stream_name(name)
    run_dir = os.path.abspath(local_path(run_dir))
    if root is not None:
        top = os.path.abspath(local_path(root))
        dfd = safefile.open_below(top, os.path.relpath(run_dir, top))
    else:
        dfd = safefile.open_dir(run_dir)
    try:
        tmp = names.temp_name(name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            _link(tmp, name, dfd)
        finally:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except FileNotFoundError:
                pass
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _link(tmp: str, name: str, dfd: int) -> None:
    """``tmp`` linked as ``name`` (no replacing); where links are not to be
    had (some FUSE and SMB mounts), renamed after a check that ``name`` is free."""
    try:
        os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            return
        raise FileExistsError(errno.EEXIST, "annotation file exists", name) from None


def write_to(backend: store.Backend, project: str, run_id: str, name: str, data: bytes) -> None:
    """Store an annotation file through a backend (a runship server: one
    append at offset 0; the server checks the batch and the token)."""
    backend.push(project, run_id, name, 0, data)


def annotate(
    location: str,
    change: object,
    *,
    by: str | None = None,
    storage_options: dict[str, Any] | None = None,
    root: str | None = None,
    cache: Any = True,
) -> Any:
    """Write the annotation ``change`` (``{"name"?, "tags_add"?,
    "tags_remove"?, "notes"?}``) to the run at ``location`` (a local run
    directory or a run on a runship server) and return the run read again
    (a ``RunView``, its name, tags and notes merged). BadAnnotation for a
    change that cannot be stored, NotWritable for a run elsewhere, the
    store's errors (a server's 403) as they come."""
    from runship.reader.run import open_run

    view = open_run(location, storage_options=storage_options, root=root, cache=cache)
    name, data = prepare(view, change, by)
    if is_local(location):
        write_local(location, name, data, root)
    elif is_server_url(location):
        from runship.store.http import server, split_run_url

        base, project, run_id = split_run_url(location)
        backend = server(base, storage_options)
        try:
            write_to(backend, project, run_id, name, data)
        finally:
            backend.close()
    else:
        raise NotWritable(f"{NOT_WRITABLE}; {redact(location)} is read here, not written")
    return open_run(location, storage_options=storage_options, root=root, cache=cache)
