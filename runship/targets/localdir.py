"""A local or mounted directory as the target: stream files are appended to."""

from __future__ import annotations

import fcntl
import os
from typing import BinaryIO

from runship import safefile
from runship.targets import ConflictError, GapError, Limited, Target, TargetError

_O_APPEND_FILE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalDirTarget(Target):
    needs_finalize = False

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

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        try:
            st = os.lstat(self._path(project, run_id, name))
        except FileNotFoundError:
            return 0
        return st.st_size

    def read_range(self, project: str, run_id: str, name: str, start: int, end: int) -> bytes:
        try:
            fd = os.open(self._path(project, run_id, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return b""
        try:
            return os.pread(fd, max(0, end - start), start)
        finally:
            os.close(fd)

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        path = self._path(project, run_id, name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, _O_APPEND_FILE, 0o644)
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
        run_dir = os.path.join(self.root, project, run_id)
        try:
            os.makedirs(run_dir, exist_ok=True)
            safefile.write_atomic(run_dir, rel, Limited(src, size), fsync=True)
        except OSError as e:
            raise TargetError(f"cannot write {os.path.join(run_dir, rel)}: {e.strerror or e}") from None

    def remove(self, project: str, run_id: str, name: str) -> None:
        path = self._path(project, run_id, name)
        try:
            os.unlink(path)
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass

    def list_runs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for project in sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []:
            pdir = os.path.join(self.root, project)
            if not project.startswith(".") and os.path.isdir(pdir) and not os.path.islink(pdir):
                out.extend(
                    (project, r)
                    for r in sorted(os.listdir(pdir))
                    if not r.startswith(".") and os.path.isdir(os.path.join(pdir, r))
                )
        return out
