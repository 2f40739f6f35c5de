"""What every backend is: one protocol for both directions, and the
capabilities a caller may count on, as typed flags (never probed).

A backend holds run directories in the layout of a run root,
``<root>/<project>/<run_id>/<file>``. Stream files only grow; a backend
holds a prefix of each local file, and every writing method is idempotent,
so a crash at any point, a rerun, or two writers at once never lose or
duplicate a record. Reading one run goes through a ``RunSource`` (the
backend's ``run``), which lists the run once and then opens its files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, for the callers that adapt to it."""

    #: closed stream files must be stored again as whole objects (object
    #: stores: their open files exist as chunk objects)
    needs_finalize: bool = False
    #: several threads may call it at once (the uploader then asks sizes and
    #: stores closed files of a run several at a time; the reader fetches
    #: small files in parallel)
    concurrent: bool = False
    #: sweep directories (``<project>/.sweeps/<id>/``) are stored beside the
    #: runs (files and object stores; a runship server holds none)
    holds_sweeps: bool = False
    #: ``remove`` deletes (a runship server's HTTP API has no delete)
    removes: bool = True


@runtime_checkable
class RunSource(Protocol):
    """Where one run directory's files are read from (listed once, when opened)."""

    location: str
    #: several threads may read it at once
    concurrent: bool

    def names(self) -> list[str]: ...
    def kind(self, name: str) -> str: ...
    def size(self, name: str) -> int | None: ...
    def open(self, name: str) -> BinaryIO: ...
    def read(self, name: str, limit: int = ...) -> bytes: ...
    def read_at(self, name: str, start: int, length: int) -> bytes: ...
    def stamp(self, name: str, length: int) -> str | None: ...
    def join(self, name: str) -> str: ...
    @property
    def basename(self) -> str: ...
    @property
    def parent_name(self) -> str: ...


@runtime_checkable
class Backend(Protocol):
    """A place runs are stored in and read from: a directory, an object
    store, a runship server, memory. Chosen by URL scheme (``store.open``)."""

    #: the backend's URL without credentials, for logs and the state database
    url: str
    capabilities: Capabilities
    #: the most bytes one push or request may carry (a server's limit), if known
    max_request: int | None

    # ---- reading ----------------------------------------------------------
    def list_runs(self) -> list[tuple[str, str]]:
        """(project, run_id) of every run held."""
        ...

    def run(self, project: str, run_id: str) -> RunSource:
        """One run, listed now (RunNotFound if it is not there)."""
        ...

    def names(self, project: str, run_id: str) -> list[str]:
        """The files of a run (stream files, run.json, directories)."""
        ...

    def open(self, project: str, run_id: str, name: str) -> BinaryIO:
        """A binary file object of a run's file, streamed."""
        ...

    def read_at(self, project: str, run_id: str, name: str, start: int, length: int) -> bytes:
        """``length`` bytes of a stored file from ``start``, asked of the
        backend now (fewer at its end; empty if there is no such file)."""
        ...

    def stamp(self, project: str, run_id: str, name: str, length: int) -> str | None:
        """What changes when the bytes [0, length) may have (None: unknown)."""
        ...

    # ---- writing ----------------------------------------------------------
    def remote_size(self, project: str, run_id: str, name: str) -> int:
        """Bytes of the stream file held (0 if none)."""
        ...

    def push(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        """Store ``data`` at ``offset`` of the stream file; return the size
        held after. Bytes already there and equal: success. A gap: GapError;
        other bytes there: ConflictError."""
        ...

    def finalize(self, project: str, run_id: str, name: str, src: BinaryIO, size: int, fresh: bool = False) -> int:
        """The stream file is closed at ``size`` bytes (``src`` reads them from
        the start): store it whole unless it is already (a no-op where
        ``capabilities.needs_finalize`` is False). ``fresh``: the backend was
        just seen to hold nothing of it. Returns the bytes sent."""
        ...

    def put_file(self, project: str, run_id: str, rel: str, src: BinaryIO, size: int) -> None:
        """Create or replace a derived file (``run.json``, ``files/...``) with
        the ``size`` bytes read from ``src``, streamed."""
        ...

    def remove(self, project: str, run_id: str, name: str) -> None:
        """Delete a file (and its chunks), if there. Used by the server for
        its staging area only: runs are never deleted from."""
        ...

    def close(self) -> None: ...


class RunReads:
    """The reading methods of ``Backend`` that go through one run's source:
    a backend class defines ``run`` and inherits these."""

    def run(self, project: str, run_id: str) -> RunSource:
        raise NotImplementedError

    def names(self, project: str, run_id: str) -> list[str]:
        return self.run(project, run_id).names()

    def open(self, project: str, run_id: str, name: str) -> BinaryIO:
        return self.run(project, run_id).open(name)

    def stamp(self, project: str, run_id: str, name: str, length: int) -> str | None:
        return self.run(project, run_id).stamp(name, length)

    def finalize(self, project: str, run_id: str, name: str, src: BinaryIO, size: int, fresh: bool = False) -> int:
        return 0

    def close(self) -> None:
        return None


class NamedRun:
    """``join``, ``basename`` and ``parent_name`` of a run source named by a
    URL-like ``location`` ending in ``<project>/<run_id>``."""

    location: str
    project: str
    run_id: str

    def join(self, name: str) -> str:
        return f"{self.location}/{name}"

    @property
    def basename(self) -> str:
        return self.run_id

    @property
    def parent_name(self) -> str:
        return self.project


class ReadWhole:
    """``read`` for a run source that has ``open`` and ``join``: the whole of
    a file, refused past ``limit`` bytes."""

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def join(self, name: str) -> str:
        raise NotImplementedError

    def read(self, name: str, limit: int = 256 * 1024 * 1024) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"{self.join(name)} is larger than {limit} bytes")
        return data
