"""An in-memory backend (``mem://NAME``), for tests: a dict per name, shared
by every ``store.open`` of that name in this process, with the semantics of
the others (stream files only grow, a gap or other bytes are refused)."""

from __future__ import annotations

import io
import threading
from typing import Any, BinaryIO

from runship.errors import RunNotFound
from runship.store.errors import ConflictError, GapError, TargetError
from runship.store.protocol import Capabilities, NamedRun, ReadWhole, RunReads, RunSource

#: name -> {(project, run_id): {file: bytes}}
_STORES: dict[str, dict[tuple[str, str], dict[str, bytearray]]] = {}
_LOCK = threading.Lock()


def _split(url: str) -> list[str]:
    """The parts of ``mem://NAME/...`` after the scheme."""
    return [p for p in url.split("://", 1)[-1].split("/") if p]


class MemorySource(NamedRun, ReadWhole):
    """One run of a memory backend, as it was when opened."""

    concurrent = True

    def __init__(self, files: dict[str, bytes], location: str, project: str, run_id: str):
        self.location = location
        self._files = files
        self.project, self.run_id = project, run_id

    def names(self) -> list[str]:
        return sorted({n.split("/", 1)[0] for n in self._files})

    def kind(self, name: str) -> str:
        return "file" if name in self._files or name not in self.names() else "directory"

    def size(self, name: str) -> int | None:
        data = self._files.get(name)
        return None if data is None else len(data)

    def open(self, name: str) -> BinaryIO:
        if name not in self._files:
            raise FileNotFoundError(self.join(name))
        return io.BytesIO(self._files[name])

    def read_at(self, name: str, start: int, length: int) -> bytes:
        return self._files.get(name, b"")[start : start + max(0, length)]

    def stamp(self, name: str, length: int) -> str | None:
        data = self._files.get(name)
        return None if data is None else f"{len(data)}:{hash(data[:length])}"


class MemoryBackend(RunReads):
    """Runs held in this process's memory under ``mem://NAME``."""

    capabilities = Capabilities(concurrent=True, holds_sweeps=True)
    max_request: int | None = None

    def __init__(self, url: str):
        parts = _split(url)
        if not parts:
            raise TargetError(f"not a memory location: {url} (mem://NAME)", retryable=False)
        self.url = "mem://" + "/".join(parts)
        with _LOCK:
            self._runs = _STORES.setdefault(self.url, {})

    @classmethod
    def from_url(cls, url: str, storage_options: dict[str, Any], **kwargs: Any) -> MemoryBackend:
        return cls(url)

    @classmethod
    def open_run(cls, location: str, storage_options: dict[str, Any] | None, root: str | None) -> RunSource:
        parts = _split(location)
        if len(parts) < 3:
            raise RunNotFound(f"not a run in memory (mem://NAME/<project>/<run>): {location}")
        return cls("/".join(parts[:-2])).run(parts[-2], parts[-1])

    def _files(self, project: str, run_id: str) -> dict[str, bytearray]:
        return self._runs.setdefault((project, run_id), {})

    def list_runs(self) -> list[tuple[str, str]]:
        with _LOCK:
            return sorted(k for k, files in self._runs.items() if files)

    def run(self, project: str, run_id: str) -> RunSource:
        with _LOCK:
            files = {n: bytes(b) for n, b in self._runs.get((project, run_id), {}).items()}
        if not files:
            raise RunNotFound(f"no run directory at {self.url}/{project}/{run_id}")
        return MemorySource(files, f"{self.url}/{project}/{run_id}", project, run_id)

    def read_at(self, project: str, run_id: str, name: str, start: int, length: int) -> bytes:
        with _LOCK:
            return bytes(self._runs.get((project, run_id), {}).get(name, b"")[start : start + max(0, length)])

    def remote_size(self, project: str, run_id: str, name: str) -> int:
        with _LOCK:
            return len(self._runs.get((project, run_id), {}).get(name, b""))

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        where = f"{self.url}/{project}/{run_id}/{name}"
        with _LOCK:
            held = self._files(project, run_id).setdefault(name, bytearray())
            if len(held) < offset:
                raise GapError(f"{where} holds {len(held)} bytes, cannot write at {offset}", len(held))
            overlap = min(len(held), offset + len(data)) - offset
            if overlap > 0 and held[offset : offset + overlap] != data[:overlap]:
                raise ConflictError(f"{where} differs from the local file in bytes {offset}..{offset + overlap}")
            held += data[overlap:]
            return len(held)

    def put_file(self, project: str, run_id: str, rel: str, src: BinaryIO, size: int) -> None:
        data = bytearray()
        while len(data) < size and (chunk := src.read(min(1 << 20, size - len(data)))):
            data += chunk
        with _LOCK:
            self._files(project, run_id)[rel] = data

    def remove(self, project: str, run_id: str, name: str) -> None:
        with _LOCK:
            files = self._runs.get((project, run_id), {})
            files.pop(name, None)
            if not files:
                self._runs.pop((project, run_id), None)
