"""The server's storage: run directories under a root (a local directory or
an fsspec URL), written through the uploader's targets and read through the
reader, with every appended byte checked to be whole, committed batches."""

from __future__ import annotations

import os
import re
import threading

from runship.errors import RunNotFound
from runship.reader import open_run
from runship.reader.stream import StreamFile, iter_records
from runship.schema import format as fmt
from runship.uploader.target import open_target

MAX_PATH = 512
_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]+$")


class BadName(ValueError):
    pass


class BadData(ValueError):
    pass


def check_name(value: str, what: str) -> str:
    try:
        return fmt.validate_name(value, what)
    except ValueError as e:
        raise BadName(str(e)) from None


def check_stream(name: str) -> str:
    if fmt.parse_stream_file_name(name) is None or "/" in name:
        raise BadName(f"not a stream file name (<stream>-<session>-<segment>.msgpack): {name[:100]!r}")
    return name


def check_derived(path: str) -> str:
    """``run.json`` or ``files/...``: relative, no '..', no NUL, bounded."""
    if len(path) > MAX_PATH:
        raise BadName(f"path longer than {MAX_PATH} characters")
    parts = path.split("/")
    if path != "run.json" and (parts[0] != "files" or len(parts) < 2):
        raise BadName(f"derived files are run.json or files/...: {path[:100]!r}")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT.match(part) or part.startswith(".tmp"):
            raise BadName(f"bad path segment {part[:60]!r} in {path[:100]!r}")
    return path


class Storage:
    def __init__(self, root: str, storage_options: dict | None = None):
        self.root = root.rstrip("/")
        self.target = open_target(
            self.root if "://" in self.root else f"file://{os.path.abspath(self.root)}", storage_options
        )
        self.storage_options = storage_options or {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, project: str, run_id: str, name: str) -> threading.Lock:
        """Writes of one file are serialised; different files go in parallel."""
        key = (project, run_id, name)
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def run_location(self, project: str, run_id: str) -> str:
        if "://" in self.root:
            return f"{self.root}/{project}/{run_id}"
        return os.path.join(self.root, project, run_id)

    def size(self, project: str, run_id: str, name: str) -> int:
        return self.target.remote_size(project, run_id, name)

    def append(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        """Append at ``offset``: the part beyond what is stored must be whole
        committed batches (a new file starts with its header, naming this run).
        Raises GapError/ConflictError (from the target) or BadData."""
        with self.lock(project, run_id, name):
            size = self.target.remote_size(project, run_id, name)
            if offset <= size < offset + len(data):
                self._check_batches(project, run_id, name, data[size - offset :], new_file=size == 0)
            return self.target.push(project, run_id, name, offset, data)

    def _check_batches(self, project: str, run_id: str, name: str, new: bytes, new_file: bool) -> None:
        sf = StreamFile(path=name, name=name, stream="?", session="?", segment=0)
        header = None
        for _ in iter_records(new, sf):
            if header is None:
                header = sf.header
        if sf.problems:
            raise BadData(f"refused: {sf.problems[0].message} (byte {sf.problems[0].offset} of the appended data)")
        if sf.committed != len(new):
            raise BadData(f"refused: the data ends {len(new) - sf.committed} bytes past its last commit record")
        if new_file:
            h = sf.header or {}
            if h.get("format") != fmt.FORMAT_NAME or h.get("run") != run_id or h.get("project") != project:
                raise BadData("refused: a new stream file must start with a header naming this project and run")
        elif sf.header is not None:
            raise BadData("refused: a header record in the middle of a stream file")

    def put(self, project: str, run_id: str, rel: str, data: bytes) -> None:
        self.target.put_file(project, run_id, rel, data)

    def read_derived(self, project: str, run_id: str, rel: str) -> bytes:
        view = self.open(project, run_id)
        try:
            return view._source.read(rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise RunNotFound(f"no file {rel} in {project}/{run_id}") from None

    def open(self, project: str, run_id: str):
        return open_run(self.run_location(project, run_id), storage_options=self.storage_options)

    def projects(self) -> list[str]:
        return sorted({p for p, _ in self.target.list_runs()})

    def runs(self, project: str) -> list[str]:
        return [r for p, r in self.target.list_runs() if p == project]
