"""A local or mounted directory as the target: stream files are appended to.

The target's root may be a link (the operator chose it); below it, the
project and run directories are entered with ``O_NOFOLLOW`` at every call
(``safefile.open_below``), and files are opened relative to the run
directory's descriptor, so a link another user planted in the target never
redirects a write, a read or a size: it is ``NotFollowed``."""

from __future__ import annotations

import fcntl
import os
from typing import BinaryIO

from runship import safefile
from runship.targets import ConflictError, GapError, Limited, NotFollowed, Target, TargetError

_O_APPEND_FILE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_O_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalDirTarget(Target):
    needs_finalize = False
    holds_sweeps = True

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

    def read_range(self, project: str, run_id: str, name: str, start: int, end: int) -> bytes:
        try:
            dfd = self._run_dir(project, run_id)
        except FileNotFoundError:
            return b""
        try:
            fd = os.open(self._name(name), _O_READ_FILE, dir_fd=dfd)
        except FileNotFoundError:
            return b""
        finally:
            os.close(dfd)
        try:
            return os.pread(fd, max(0, end - start), start)
        finally:
            os.close(fd)

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        path = self._path(project, run_id, name)
        try:
            dfd = self._run_dir(project, run_id, create=True)
            try:
                fd = os.open(self._name(name), _O_APPEND_FILE, 0o644, dir_fd=dfd)
            finally:
                os.close(dfd)
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
