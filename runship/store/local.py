"""A local or mounted directory: stream files are appended to, run
directories are read as they are.

The root may be a link (the operator chose it); below it, the project and
run directories are entered with ``O_NOFOLLOW`` at every call
(``safefile.open_below``), and files are opened relative to the run
directory's descriptor, so a link another user planted never redirects a
write, a read or a size: writing, it is ``NotFollowed``; reading, the run is
not there. A symlink, FIFO or device inside a run is reported, never read.
"""

from __future__ import annotations

import fcntl
import os
from typing import Any, BinaryIO

from runship import safefile
from runship.errors import RunNotFound
from runship.schema import format as fmt
from runship.store.errors import ConflictError, GapError, NotFollowed, TargetError
from runship.store.fileobj import Limited
from runship.store.location import local_path
from runship.store.protocol import Capabilities, ReadWhole, RunReads, RunSource

_O_APPEND_FILE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_O_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalSource(ReadWhole):
    """A run directory on disk. ``root``: the run root it was named below
    (``root/project/run``): the root may be a link, the project and run
    directories are entered without following one, at every open."""

    concurrent = False

    def __init__(self, path: str, root: str | None = None):
        self.location = os.path.abspath(os.fspath(path))
        self._root, self._below = _below(self.location, root)
        try:
            fd = self._dir()
        except FileNotFoundError:
            raise RunNotFound(f"no run directory at {self.location}") from None
        except PermissionError:
            raise PermissionError(f"permission denied: cannot read run directory {self.location}") from None
        except safefile.NotRegular as e:
            raise RunNotFound(f"no run directory at {self.location} ({e.kind} on the way, not followed)") from None
        except NotADirectoryError:
            raise RunNotFound(f"no run directory at {self.location} (not a directory)") from None
        try:
            self._entries = {name: (kind, size) for name, kind, size in safefile.entries(fd)}
        except PermissionError:
            raise PermissionError(f"permission denied: cannot list run directory {self.location}") from None
        finally:
            os.close(fd)

    def _dir(self) -> int:
        """A descriptor of the run directory (the caller closes it)."""
        if self._below is None:
            return safefile.open_dir(self.location)
        return safefile.open_below(self._root, self._below)

    def names(self) -> list[str]:
        return sorted(n for n in self._entries if n != fmt.CHUNK_DIR)

    def kind(self, name: str) -> str:
        return self._entries.get(name, ("file", 0))[0]

    def size(self, name: str) -> int | None:
        kind, size = self._entries.get(name, ("file", None))
        return size if kind == "file" else None

    def open(self, name: str) -> BinaryIO:
        """A binary file object of a regular file ``name`` (a relative path) of the run."""
        dfd = self._dir()
        try:
            return os.fdopen(safefile.open_regular(dfd, name), "rb")
        finally:
            os.close(dfd)

    def read_at(self, name: str, start: int, length: int) -> bytes:
        """``length`` bytes of a file from ``start`` (fewer at its end)."""
        with self.open(name) as f:
            return os.pread(f.fileno(), length, start)

    def stamp(self, name: str, length: int) -> str | None:
        """What changes when the file's bytes may have: size, modification
        time, inode (None when it cannot be had)."""
        try:
            with self.open(name) as f:
                st = os.fstat(f.fileno())
        except OSError:
            return None
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def join(self, name: str) -> str:
        return os.path.join(self.location, name)

    @property
    def basename(self) -> str:
        return os.path.basename(self.location)

    @property
    def parent_name(self) -> str:
        return os.path.basename(os.path.dirname(self.location))


def _below(location: str, root: str | None) -> tuple[str, str | None]:
    """(root, the part of ``location`` below it), or (location, None)
    without a root. ValueError if ``location`` is not below ``root``."""
    if root is None:
        return location, None
    root = os.path.abspath(local_path(root))
    rel = os.path.relpath(location, root)
    if rel == "." or rel.split(os.sep, 1)[0] == "..":
        raise ValueError(f"{location} is not below the root {root}")
    return root, rel


class LocalBackend(RunReads):
    """A directory holding ``<project>/<run_id>/`` run directories."""

    capabilities = Capabilities(holds_sweeps=True)
    max_request: int | None = None

    def __init__(self, root: str, create: bool = True):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = "file://" + self.root
        if not create:
            return
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as e:
            raise TargetError(
                f"cannot create target directory {self.root}: {e.strerror or e}", retryable=False
            ) from None

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any], **kwargs: Any) -> LocalBackend:
        return cls(local_path(url), create=bool(kwargs.get("create", True)))

    @classmethod
    def open_run(cls, location: str, storage_options: dict[str, Any] | None, root: str | None) -> RunSource:
        return LocalSource(local_path(location), root)

    def _path(self, project: str, run_id: str, rel: str) -> str:
        return os.path.join(self.root, project, run_id, rel)

    def _run_dir(self, project: str, run_id: str, create: bool = False) -> int:
        """A descriptor of the run directory, reached without following a
        link (made, with ``create``); FileNotFoundError if it is not there."""
        if not project or not run_id or "/" in project + run_id:
            raise TargetError(f"not a project and run id: {project!r}/{run_id!r}", retryable=False)
        try:
            return safefile.open_below(self.root, f"{project}/{run_id}", create=create)
        except safefile.NotRegular as e:
            raise NotFollowed(self._not_followed(project, run_id, e.kind)) from None

    def _not_followed(self, project: str, run_id: str, kind: str) -> str:
        pdir = os.path.join(self.root, project)
        linked = pdir if os.path.islink(pdir) or not os.path.isdir(pdir) else os.path.join(pdir, run_id)
        return f"{linked}: a {kind} in the target, not followed: nothing written or read through it"

    @staticmethod
    def _name(name: str) -> str:
        """A stream file's name: one component."""
        if not name or "/" in name or name in (".", ".."):
            raise TargetError(f"not a stream file name: {name!r}", retryable=False)
        return name

    def _open_file(self, project: str, run_id: str, name: str, flags: int, create: bool = False) -> int:
        """A descriptor of a stream file, opened relative to its run
        directory (FileNotFoundError if either is not there)."""
        dfd = self._run_dir(project, run_id, create=create)
        try:
            return os.open(self._name(name), flags, 0o644, dir_fd=dfd)
        finally:
            os.close(dfd)

    def run(self, project: str, run_id: str) -> RunSource:
        return LocalSource(self._path(project, run_id, ""), self.root)

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        try:
            dfd = self._run_dir(project, run_id)
        except FileNotFoundError:
            return 0
        try:
            st = os.stat(self._name(name), dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return 0
        finally:
            os.close(dfd)
        return st.st_size

    def read_at(self, project: str, run_id: str, name: str, start: int, length: int) -> bytes:
        try:
            fd = self._open_file(project, run_id, name, _O_READ_FILE)
        except FileNotFoundError:
            return b""
        try:
            return os.pread(fd, max(0, length), start)
        finally:
            os.close(fd)

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        path = self._path(project, run_id, name)
        try:
            fd = self._open_file(project, run_id, name, _O_APPEND_FILE, create=True)
        except OSError as e:
            raise TargetError(f"cannot open {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two uploaders on one file take turns
            size = os.fstat(fd).st_size
            if size < offset:
                raise GapError(f"{path} holds {size} bytes, cannot write at {offset}", size)
            view = memoryview(data)
            overlap = min(size, offset + len(view)) - offset
            if overlap > 0 and os.pread(fd, overlap, offset) != view[:overlap]:
                raise ConflictError(f"{path} differs from the local file in bytes {offset}..{offset + overlap}")
            rest = view[overlap:]
            pos = offset + overlap
            while rest:
                n = os.pwrite(fd, rest, pos)
                rest = rest[n:]
                pos += n
            os.fsync(fd)
            return max(size, offset + len(view))
        except OSError as e:
            raise TargetError(f"cannot write {path}: {e.strerror or e}") from None
        finally:
            os.close(fd)

    def put_file(self, project: str, run_id: str, rel: str, src: BinaryIO, size: int) -> None:
        path = self._path(project, run_id, rel)
        try:
            dfd = self._run_dir(project, run_id, create=True)
            try:
                safefile.write_atomic_at(dfd, rel, Limited(src, size), fsync=True)
            finally:
                os.close(dfd)
        except safefile.NotRegular as e:
            raise TargetError(f"cannot write {path}: a {e.kind} on the way, not followed", retryable=False) from None
        except OSError as e:
            raise TargetError(f"cannot write {path}: {e.strerror or e}") from None

    def remove(self, project: str, run_id: str, name: str) -> None:
        try:
            dfd = self._run_dir(project, run_id)
        except (OSError, TargetError):
            return
        try:
            os.unlink(self._name(name), dir_fd=dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)
        try:
            pfd = safefile.open_below(self.root, project)
        except OSError:
            return
        try:
            os.rmdir(run_id, dir_fd=pfd)  # only if empty
        except OSError:
            pass
        finally:
            os.close(pfd)

    def list_runs(self) -> list[tuple[str, str]]:
        """Real project and run directories only: a link is not listed."""
        out: list[tuple[str, str]] = []
        try:
            root_fd = safefile.open_dir(self.root)
        except OSError:
            return out
        try:
            for project, kind, _ in safefile.entries(root_fd):
                if project.startswith(".") or kind != "directory":
                    continue
                try:
                    pfd = safefile.open_subdir(root_fd, project)
                except OSError:
                    continue
                try:
                    out.extend(
                        (project, r) for r, k, _ in safefile.entries(pfd) if not r.startswith(".") and k == "directory"
                    )
                finally:
                    os.close(pfd)
        finally:
            os.close(root_fd)
        return out
