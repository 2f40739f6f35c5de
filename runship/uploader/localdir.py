"""A local or mounted directory as the target: stream files are appended to."""

from __future__ import annotations

import fcntl
import os

from runship.uploader.target import ConflictError, GapError, Target, TargetError


class LocalDirTarget(Target):
    needs_finalize = False

    def __init__(self, root: str):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = "file://" + self.root
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
            return os.path.getsize(self._path(project, run_id, name))
        except FileNotFoundError:
            return 0

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        path = self._path(project, run_id, name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise TargetError(f"cannot open {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two uploaders on one file take turns
            size = os.fstat(fd).st_size
            if size < offset:
                raise GapError(f"{path} holds {size} bytes, cannot write at {offset}", size)
            overlap = min(size, offset + len(data)) - offset
            if overlap > 0 and os.pread(fd, overlap, offset) != data[:overlap]:
                raise ConflictError(f"{path} differs from the local file in bytes {offset}..{offset + overlap}")
            rest = data[overlap:]
            pos = offset + overlap
            while rest:
                n = os.pwrite(fd, rest, pos)
                rest = rest[n:]
                pos += n
            os.fsync(fd)
            return max(size, offset + len(data))
        except OSError as e:
            raise TargetError(f"cannot write {path}: {e.strerror or e}") from None
        finally:
            os.close(fd)

    def put_file(self, project: str, run_id: str, rel: str, data: bytes) -> None:
        path = self._path(project, run_id, rel)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise TargetError(f"cannot write {path}: {e.strerror or e}") from None

    def list_runs(self) -> list[tuple[str, str]]:
        out = []
        for project in sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []:
            pdir = os.path.join(self.root, project)
            if os.path.isdir(pdir) and not project.startswith("."):
                out.extend((project, r) for r in sorted(os.listdir(pdir)) if os.path.isdir(os.path.join(pdir, r)))
        return out
