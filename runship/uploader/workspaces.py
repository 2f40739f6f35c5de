"""Saved workspaces sent with the runs: ``<root>/<project>/.workspaces/``
(and the all-projects view's ``<root>/.workspaces/``) goes to the target as
``<project>/.workspaces/<name>.json`` (``.workspaces/<name>.json``), each
changed file put whole, so that ``runship ui URL`` and ``runship workspace
ls URL`` list them where the runs are (``runship.store.workspaces`` reads
that layout). A runship server is sent them through its ``/v1/workspace``
endpoints (a token with write scope for the project; for the all-projects
view, one of every project). The writing is the store's
(``Workspaces.put_file`` of ``workspaces_of(target)``).

Only what a workspace store reads is sent: ``<name>.json`` files whose name
passes ``schema.workspace.name_of_file`` and whose bytes parse as a
workspace (``schema.workspace.parse``: at most 1 MiB, the format field),
and ``.default.json`` naming one of them. A ``.workspaces`` that is a link or
not a directory, a link, FIFO or other odd file in it, a file too large or
not a workspace: skipped with a warning naming it, never followed or
sent. The uploader deletes nothing: a workspace deleted here stays on the
target (delete it there with ``runship workspace rm URL``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runship import safefile
from runship.reader.listing import classify_local
from runship.schema import workspace as ws
from runship.store import Backend, TargetError
from runship.store.workspaces import BadWorkspace, Refused, Workspaces, workspaces_of
from runship.uploader.projects import project_dirs
from runship.uploader.state import State

Skip = Callable[[str, str], None]  # (path, why): a file not sent on purpose
Fail = Callable[[str, str], None]  # (what, why): the target refused it; the pass goes on


@dataclass
class Found:
    """One workspace file read and checked."""

    file: str  # its name in .workspaces/
    data: bytes
    stamp: str  # size:mtime_ns, what the state keeps of it
    doc: dict[str, Any] | None  # the document (None: the default file)
    default: str | None = None  # the default file's name


def send(
    target: Backend,
    state: State,
    roots: list[str],
    project: str | None,
    skip: Skip,
    fail: Fail,
    stop: threading.Event,
) -> int:
    """Send what changed in the saved workspaces of the roots (a root, or a
    project directory given as one); bytes sent. TargetError (the target not
    answering) passes up; a refusal of one project's workspaces goes to ``fail``."""
    store = workspaces_of(target)
    if store is None:
        return 0  # a store of runs only (mem://, for tests)
    sent = 0
    for root, rel, name in _places(roots, project):
        if stop.is_set():
            break
        try:  # a root (or a project directory given as one) is the operator's choice: it may be a link
            pfd = safefile.open_dir(root) if rel is None else safefile.open_below(root, rel)
        except OSError:
            continue
        try:
            where = root if rel is None else os.path.join(root, rel)
            sent += _send_folder(store, target.url, state, pfd, (where, name), skip, fail, stop)
        finally:
            os.close(pfd)
    return sent


def _places(roots: list[str], project: str | None) -> Iterator[tuple[str, str | None, str | None]]:
    """(root, the project's directory below it or None, the project or None
    for the all-projects view) of the roots."""
    for root in roots:
        if not project and classify_local(root).kind == "root":
            yield root, None, None
        yield from project_dirs([root], project, _project_ok)


def _project_ok(name: str) -> bool:
    """A directory named as a project may be (not ``.sweeps``, not a name no store takes)."""
    try:
        return ws.check_project(name) is not None
    except BadWorkspace:
        return False


def _send_folder(
    store: Workspaces,
    url: str,
    state: State,
    pfd: int,
    place: tuple[str, str | None],
    skip: Skip,
    fail: Fail,
    stop: threading.Event,
) -> int:
    """The changed workspace files of one project's (or the root's)
    ``.workspaces``, read and sent one at a time; the default last, and only
    when it names a workspace that is here and went up."""
    where, project = place
    folder = os.path.join(where, ws.DIR)
    try:
        wfd = safefile.open_subdir(pfd, ws.DIR)
    except safefile.NotRegular as e:
        skip(folder, f"a {e.kind}, not a directory: not followed")
        return 0
    except OSError:
        return 0  # no saved workspace here
    key = project or ""
    known = state.derived(url, key, ws.DIR)
    up: set[str] = set()  # the workspaces here that the target holds (sent now or before)
    sent = 0
    try:
        for file in candidates(wfd, folder, skip):
            if stop.is_set():
                break
            path = os.path.join(folder, file)
            found, unchanged = _read(wfd, file, path, known, skip)
            if unchanged:
                up.add(file)
            if found is None:
                continue
            if found.doc is None and ws.file_name(found.default or "") not in up:
                skip(path, f"names the workspace {found.default!r}, which is not here or not sent")
                continue
            try:
                if not _put(store, project, found, path, skip, fail):
                    continue
            except _Refused:
                break  # the token may not write here: every other file would be refused the same
            state.set_derived(url, key, ws.DIR, file, found.stamp)
            up.add(file)
            sent += len(found.data)
    finally:
        os.close(wfd)
    return sent


class _Refused(Exception):
    """The target refused this folder's workspaces (HTTP 403)."""


def _put(store: Workspaces, project: str | None, found: Found, path: str, skip: Skip, fail: Fail) -> bool:
    """Send one file (its bytes as they are); False when it was not (named
    to ``skip`` or ``fail``)."""
    try:
        store.put_file(project, found.file, found.data)
        return True
    except Refused as e:
        if e.status == 403:
            fail(path, f"{e} (HTTP 403)")
            raise _Refused() from None
        fail(path, str(e))
    except FileNotFoundError as e:  # a server holding none of the project's runs (yet)
        skip(path, f"{e}: sent once its runs are")
    except BadWorkspace as e:
        fail(path, str(e))
    except TargetError as e:
        if e.retryable:
            raise  # the target not answering: the pass's failure
        fail(path, str(e))
    return False


def candidates(wfd: int, folder: str, skip: Skip) -> list[str]:
    """The regular files of a ``.workspaces`` (``wfd``) named as workspaces
    (at most ``MAX_WORKSPACES``, by name), and its default file last;
    anything else named as a workspace's is named to ``skip``."""
    out: list[str] = []
    default = False
    for file, kind, _ in safefile.entries(wfd):
        path = os.path.join(folder, file)
        name = ws.name_of_file(file)
        if name is None and file != ws.DEFAULT_FILE:
            if file.endswith(ws.SUFFIX) and not file.startswith("."):
                skip(path, "not a workspace name (1 to 100 letters, digits, space, '.', '_' or '-')")
            continue  # a temporary file of an atomic write, or nothing of a workspace's
        if kind != "file":
            skip(path, f"a {kind}, not a regular file: not followed")
        elif name is None:
            default = True
        elif len(out) == ws.MAX_WORKSPACES:
            skip(path, f"past the first {ws.MAX_WORKSPACES:,} workspaces of the folder (by name)")
        else:
            out.append(file)
    return [*out, ws.DEFAULT_FILE] if default else out


def _read(wfd: int, file: str, path: str, known: dict[str, str], skip: Skip) -> tuple[Found | None, bool]:
    """(one file when it changed and is what its name says, whether it is
    as it was last sent); a bad one named to ``skip``."""
    try:
        fd = safefile.open_regular(wfd, file)
    except safefile.NotRegular as e:
        skip(path, f"a {e.kind}, not a regular file: not followed")
        return None, False
    except OSError:
        return None, False  # gone, or unreadable: the next pass
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(fd)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
        if known.get(file) == stamp:
            return None, True
        limit = 4096 if file == ws.DEFAULT_FILE else ws.MAX_BYTES
        if st.st_size > limit:
            skip(path, f"{st.st_size:,} bytes, larger than a workspace file may be ({limit:,})")
            return None, False
        data = src.read(limit + 1)
    if file == ws.DEFAULT_FILE:
        name = ws.parse_default(data)
        if name is None:
            skip(path, 'not a default workspace file ({"name": NAME})')
            return None, False
        return Found(file, data, stamp, None, name), False
    try:
        return Found(file, data, stamp, ws.parse(data, "the workspace file")), False
    except BadWorkspace as e:
        skip(path, str(e))
        return None, False
