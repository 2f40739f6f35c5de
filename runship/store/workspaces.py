"""Where saved workspaces are kept, beside the runs of a root (the layout
and the document: ``runship.schema.workspace``, docs/FORMAT.md).

One small interface (``Workspaces``) over the three kinds of root:

- a local directory (``LocalWorkspaces``): every component below the
  root entered without following a link (a ``.workspaces`` that is a link,
  a FIFO or anything not a directory is refused, never followed), files
  written atomically (``safefile.write_atomic_at``);
- an fsspec URL (``FsspecWorkspaces``): read; written only to object
  stores, where one PUT of a small object is atomic (others: ``Refused``);
- a runship server (``HttpWorkspaces``): its ``/v1/workspaces`` API, with
  the token of the storage options or ``$RUNSHIP_TOKEN``.

``workspaces_at(root)`` picks one; ``workspaces_of(target)`` those of an
upload target, over its own connection (``runship upload`` copies a root's
files there with ``put_file``). Errors: ``BadWorkspace`` (a bad name or
document: 400), ``FileNotFoundError`` (no such workspace or project: 404),
``Refused`` (the root will not take it: its ``status``, 403 or 409); and,
from an upload target's, ``TargetError`` (the store failing).
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from runship import safefile
from runship.schema import workspace as ws
from runship.schema.workspace import BadWorkspace
from runship.store.errors import TargetError
from runship.store.location import is_local, is_server_url, local_path, redact

if TYPE_CHECKING:
    from runship.store.http import HttpBackend
    from runship.store.protocol import Backend

__all__ = ["BadWorkspace", "Refused", "Workspaces", "workspaces_at", "workspaces_of"]

#: fsspec schemes where one write of a whole object is atomic
ATOMIC_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")


class Refused(ValueError):
    """A root that will not do what was asked (read-only, a link in the
    way, a token's scope): ``status`` is the HTTP answer (409, 403)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


Entry = dict[str, Any]  # {"name", "saved_at", "size"}


class Workspaces(Protocol):
    """The saved workspaces of one root (``project`` None: the all-projects view's)."""

    where: str  # the root, for messages

    def holds(self, project: str | None) -> bool:
        """Does the root hold the project (None: always)?"""
        ...

    def list(self, project: str | None) -> tuple[list[Entry], str | None]:
        """(the saved workspaces, sorted by name; the default's name or None)."""
        ...

    def load(self, project: str | None, name: str) -> dict[str, Any]:
        """The document (FileNotFoundError: none)."""
        ...

    def save(self, project: str | None, name: str, doc: dict[str, Any]) -> float:
        """Store the document under ``name``; the time it was saved at."""
        ...

    def delete(self, project: str | None, name: str) -> None:
        """Remove it (FileNotFoundError: none); a default naming it goes too."""
        ...

    def set_default(self, project: str | None, name: str | None) -> str | None:
        """Make ``name`` (a saved one) the default, or clear it (None)."""
        ...

    def put_file(self, project: str | None, file: str, data: bytes) -> None:
        """Store a file of the layout as it is (the uploader's copy of a
        root's): a workspace's ``NAME.json`` or the ``.default.json``, checked
        as a store reads it (``_checked``). A server checks the bytes again and
        stamps them (FileNotFoundError: it holds no run of the project yet); a
        directory or object store writes them whole (a project's folder made
        as needed)."""
        ...


def workspaces_at(root: str, storage_options: dict[str, Any] | None = None) -> Workspaces:
    """The workspaces of a run root: a directory, an fsspec URL or a runship server."""
    if is_server_url(root):
        return HttpWorkspaces(root, storage_options)
    if not is_local(root):
        return FsspecWorkspaces(root, storage_options)
    return LocalWorkspaces(local_path(root))


def workspaces_of(target: Backend) -> Workspaces | None:
    """The workspaces of an upload target, over its own connection (its
    token, retries and failures as TargetError); None for a store of runs
    only (``mem://``, for tests). An fsspec target's are written whatever its
    scheme, as its runs are."""
    from runship.store.http import HttpBackend
    from runship.store.local import LocalBackend
    from runship.store.objectstore import ObjectStoreBackend

    if isinstance(target, HttpBackend):
        return HttpWorkspaces(target.url, conn=target)
    if isinstance(target, ObjectStoreBackend):
        return FsspecWorkspaces(target.url, opened=(target.fs, target.base), guard=target.call)
    if isinstance(target, LocalBackend):
        return LocalWorkspaces(target.root)
    return None


def _checked(file: str, data: bytes) -> str:
    """What a file of the layout holds when a store would read it: the
    workspace's name (its bytes a workspace: at most MAX_BYTES, UTF-8 JSON,
    the format field) or, for the default file, the name it gives.
    BadWorkspace naming what is wrong."""
    if file == ws.DEFAULT_FILE:
        name = ws.parse_default(data)
        if name is None:
            raise BadWorkspace(f'{ws.DEFAULT_FILE} must hold {{"name": NAME}}, NAME a workspace\'s')
        return name
    name = ws.name_of_file(file)
    if name is None:
        ws.check_name(file.removesuffix(ws.SUFFIX))  # BadWorkspace naming the rule
        raise BadWorkspace(f"{file[:120]!r} is not a workspace's file (NAME{ws.SUFFIX})")
    ws.parse(data, f"workspace file {file}")
    return name


def _dir(project: str | None) -> str:
    """The folder of a project's workspaces, relative to the root."""
    return ws.DIR if project is None else f"{project}/{ws.DIR}"


def _not_found(where: str, project: str | None, name: str) -> FileNotFoundError:
    return FileNotFoundError(f"no workspace {name!r} in {where}/{_dir(project)}")


class LocalWorkspaces:
    """Workspaces below a local run root (the root itself may be a link: the user named it)."""

    def __init__(self, root: str):
        self.root = root
        self.where = root

    def _refused(self, e: safefile.NotRegular, project: str | None) -> Refused:
        at = e.at or ""
        shown = os.path.join(self.root, at or _dir(project))  # ``at``: below the root
        return Refused(f"{shown} is a {e.kind}, not a directory or file runship made: not followed; remove it")

    def _folder(self, project: str | None, create: bool = False, new_project: bool = False) -> int | None:
        """A descriptor of the project's ``.workspaces`` (None: there is none;
        ``create``: made, in a project that exists or, ``new_project``, made too)."""
        root_fd = safefile.open_dir(self.root)
        try:
            if project is not None and create and not new_project:
                os.close(safefile.open_subdir(root_fd, project))  # the project must be there
            return safefile.open_subdir(root_fd, _dir(project), create=create)
        except FileNotFoundError:
            if create:
                raise FileNotFoundError(f"no project {project} in {self.root}") from None
            return None
        except safefile.NotRegular as e:
            raise self._refused(e, project) from None
        finally:
            os.close(root_fd)

    def holds(self, project: str | None) -> bool:
        if project is None:
            return True
        try:
            st = os.stat(os.path.join(self.root, project), follow_symlinks=False)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode)

    def list(self, project: str | None) -> tuple[list[Entry], str | None]:
        fd = self._folder(project)
        if fd is None:
            return [], None
        try:
            out: list[Entry] = []
            with os.scandir(fd) as it:
                for e in it:
                    name = ws.name_of_file(e.name)
                    st = e.stat(follow_symlinks=False)
                    if name is not None and stat.S_ISREG(st.st_mode):
                        out.append({"name": name, "saved_at": round(st.st_mtime, 3), "size": st.st_size})
            out.sort(key=lambda x: str(x["name"]))
            return out[: ws.MAX_WORKSPACES], self._default(fd)
        finally:
            os.close(fd)

    def _read(self, fd: int, file: str, limit: int) -> bytes:
        try:
            with os.fdopen(safefile.open_regular(fd, file), "rb") as f:
                return f.read(limit + 1)
        except safefile.NotRegular as e:
            raise Refused(f"{self.root}/.../{ws.DIR}/{file} is a {e.kind}: not followed or read") from None

    def _default(self, fd: int) -> str | None:
        try:
            name = ws.parse_default(self._read(fd, ws.DEFAULT_FILE, 4096))
        except (FileNotFoundError, Refused):
            return None
        return name

    def load(self, project: str | None, name: str) -> dict[str, Any]:
        file = ws.file_name(name)
        fd = self._folder(project)
        if fd is None:
            raise _not_found(self.root, project, name)
        try:
            data = self._read(fd, file, ws.MAX_BYTES)
        except FileNotFoundError:
            raise _not_found(self.root, project, name) from None
        finally:
            os.close(fd)
        return ws.parse(data, f"workspace file {file}")

    def save(self, project: str | None, name: str, doc: dict[str, Any]) -> float:
        file = ws.file_name(name)
        now = time.time()
        self._write(project, file, ws.stamped(ws.check_document(doc), name, project, now))
        return round(now, 3)

    def _write(self, project: str | None, file: str, data: bytes, uploaded: bool = False) -> None:
        """Write one file of the project's ``.workspaces`` atomically (in a
        project that exists; ``uploaded``: an upload's copy, the project made
        too and the file synced to disk)."""
        fd = self._folder(project, create=True, new_project=uploaded)
        assert fd is not None
        try:
            safefile.write_atomic_at(fd, file, data, fsync=uploaded)
        except safefile.NotRegular as e:
            raise Refused(f"{self.root}/{_dir(project)}/{file}: a {e.kind} is in the way; not replaced") from None
        finally:
            os.close(fd)

    def put_file(self, project: str | None, file: str, data: bytes) -> None:
        _checked(file, data)
        try:
            self._write(project, file, data, uploaded=True)
        except OSError as e:  # a full disk, no permission: the target failing
            raise TargetError(f"cannot write {self.root}/{_dir(project)}/{file}: {e.strerror or e}") from None

    def delete(self, project: str | None, name: str) -> None:
        file = ws.file_name(name)
        fd = self._folder(project)
        if fd is None:
            raise _not_found(self.root, project, name)
        try:
            try:
                os.unlink(file, dir_fd=fd)
            except (FileNotFoundError, IsADirectoryError):
                raise _not_found(self.root, project, name) from None
            if self._default(fd) == name:
                os.unlink(ws.DEFAULT_FILE, dir_fd=fd)
        finally:
            os.close(fd)

    def set_default(self, project: str | None, name: str | None) -> str | None:
        if name is not None:
            self.load(project, name)  # it must be saved (FileNotFoundError)
            self._write(project, ws.DEFAULT_FILE, json.dumps({"name": name}).encode())
            return name
        fd = self._folder(project)
        if fd is not None:
            try:
                os.unlink(ws.DEFAULT_FILE, dir_fd=fd)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)
        return None


Guard = Callable[..., Any]  # (what, fn, *args): fn(*args), a failure named as ``what``


def _unguarded(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class FsspecWorkspaces:
    """Workspaces below an fsspec URL: read; written only where one object
    write is atomic (``ATOMIC_SCHEMES``), refused elsewhere. ``opened``: an
    upload target's filesystem and path (written whatever the scheme, as
    its runs are), with its ``guard`` over the uploader's writes."""

    def __init__(
        self,
        root: str,
        storage_options: dict[str, Any] | None = None,
        opened: tuple[Any, str] | None = None,
        guard: Guard = _unguarded,
    ):
        from runship.store.objectstore import url_to_fs

        self.where = redact(root)
        self.writable = opened is not None or root.split("://", 1)[0].lower() in ATOMIC_SCHEMES
        self.fs, self.path = opened or url_to_fs(root, storage_options)
        self.guard = guard

    def _path(self, project: str | None, file: str = "") -> str:
        base = f"{self.path}/{_dir(project)}"
        return f"{base}/{file}" if file else base

    def holds(self, project: str | None) -> bool:
        if project is None:
            return True
        from runship.store.objectstore import fresh_ls

        try:
            return bool(fresh_ls(self.fs, f"{self.path}/{project}"))
        except (FileNotFoundError, NotADirectoryError):
            return False

    def list(self, project: str | None) -> tuple[list[Entry], str | None]:
        from runship.store.objectstore import fresh_ls

        try:
            listed = fresh_ls(self.fs, self._path(project), detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return [], None
        out: list[Entry] = []
        for info in listed:
            name = ws.name_of_file(str(info.get("name", "")).rstrip("/").rsplit("/", 1)[-1])
            if name is not None and info.get("type") == "file":
                out.append({"name": name, "saved_at": _mtime(info), "size": int(info.get("size") or 0)})
        out.sort(key=lambda x: str(x["name"]))
        return out[: ws.MAX_WORKSPACES], self._default(project)

    def _cat(self, path: str, limit: int) -> bytes:
        with self.fs.open(path, "rb") as f:
            data: bytes = f.read(limit + 1)
        return data

    def _default(self, project: str | None) -> str | None:
        try:
            return ws.parse_default(self._cat(self._path(project, ws.DEFAULT_FILE), 4096))
        except (FileNotFoundError, IsADirectoryError):
            return None

    def load(self, project: str | None, name: str) -> dict[str, Any]:
        file = ws.file_name(name)
        try:
            data = self._cat(self._path(project, file), ws.MAX_BYTES)
        except (FileNotFoundError, IsADirectoryError):
            raise _not_found(self.where, project, name) from None
        return ws.parse(data, f"workspace file {file}")

    def _writable(self, project: str | None, new_project: bool = False) -> None:
        if not self.writable:
            raise Refused(f"{self.where}: workspaces are saved only to local roots, object stores and runship servers")
        if not new_project and not self.holds(project):
            raise FileNotFoundError(f"no project {project} in {self.where}")

    def save(self, project: str | None, name: str, doc: dict[str, Any]) -> float:
        file = ws.file_name(name)
        now = time.time()
        data = ws.stamped(ws.check_document(doc), name, project, now)
        self._writable(project)
        self.fs.pipe_file(self._path(project, file), data)
        return round(now, 3)

    def delete(self, project: str | None, name: str) -> None:
        file = ws.file_name(name)
        self._writable(project)
        if not self.fs.exists(self._path(project, file)):
            raise _not_found(self.where, project, name)
        self.fs.rm_file(self._path(project, file))
        if self._default(project) == name:
            self.fs.rm_file(self._path(project, ws.DEFAULT_FILE))

    def set_default(self, project: str | None, name: str | None) -> str | None:
        self._writable(project)
        if name is None:
            if self.fs.exists(self._path(project, ws.DEFAULT_FILE)):
                self.fs.rm_file(self._path(project, ws.DEFAULT_FILE))
            return None
        self.load(project, name)
        self.fs.pipe_file(self._path(project, ws.DEFAULT_FILE), json.dumps({"name": name}).encode())
        return name

    def put_file(self, project: str | None, file: str, data: bytes) -> None:
        _checked(file, data)
        self._writable(project, new_project=True)  # an object store has no folders to make
        self.guard("upload", self.fs.pipe_file, self._path(project, file), data)


def _mtime(info: dict[str, Any]) -> float | None:
    """When an fsspec listing entry was last written (the stores name it differently)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return round(float(value), 3)
        if value is not None and hasattr(value, "timestamp"):
            return round(float(value.timestamp()), 3)
    return None


class HttpWorkspaces:
    """The workspaces a runship server keeps (``/v1/workspaces``; a token
    with write scope for the project to save)."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None, conn: HttpBackend | None = None):
        """``conn``: an open connection (an upload target's: its token and retries)."""
        from runship.store.http import server

        self.where = redact(root)
        self.conn = conn if conn is not None else server(root, storage_options)

    def _call(self, method: str, what: str, project: str | None, name: str | None, body: bytes | None = None) -> Any:
        query = urlencode({"project": project or "", **({"name": name} if name is not None else {})})
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            status, _, data = self.conn._request(method, f"/v1/{what}?{query}", body, headers, max_answer=ws.MAX_BYTES)
        finally:
            self.conn.close()
        detail = _detail(data)
        if status == 404:
            raise FileNotFoundError(f"{self.where}: {detail}")
        if status == 400:
            raise BadWorkspace(f"{self.where}: {detail}")
        if status in (401, 403, 409, 413):
            raise Refused(f"{self.where}: {detail}", 403 if status == 401 else status)
        if status != 200:
            raise Refused(f"{self.where}: HTTP {status}: {detail}", 502)
        return json.loads(data)

    def holds(self, project: str | None) -> bool:
        if project is None:
            return True
        try:
            return project in self.conn.get_json("/v1/projects", "projects")
        finally:
            self.conn.close()

    def list(self, project: str | None) -> tuple[list[Entry], str | None]:
        got = self._call("GET", "workspaces", project, None)
        return list(got.get("workspaces") or [])[: ws.MAX_WORKSPACES], got.get("default")

    def load(self, project: str | None, name: str) -> dict[str, Any]:
        return ws.check_document(self._call("GET", "workspace", project, ws.check_name(name)))

    def save(self, project: str | None, name: str, doc: dict[str, Any]) -> float:
        body = json.dumps(ws.check_document(doc)).encode()
        return float(self._call("PUT", "workspace", project, ws.check_name(name), body)["saved_at"])

    def delete(self, project: str | None, name: str) -> None:
        self._call("DELETE", "workspace", project, ws.check_name(name))

    def set_default(self, project: str | None, name: str | None) -> str | None:
        got = self._call("PUT", "workspace-default", project, ws.check_name(name) if name else "")
        value = got.get("default")
        return value if isinstance(value, str) else None

    def put_file(self, project: str | None, file: str, data: bytes) -> None:
        name = _checked(file, data)
        if file == ws.DEFAULT_FILE:
            self.set_default(project, name)
        else:  # the bytes as they are (non-ASCII text stays as small as it is here)
            self._call("PUT", "workspace", project, name, data)


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))[:300]
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")
