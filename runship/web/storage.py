"""``runship serve``'s storage: run directories under a root (a local directory or
an fsspec URL), written through a backend (``runship.store``) and read
through the reader. Every appended byte is checked to be whole, committed
batches before it is stored; nothing is decoded beyond the records' framing
and the file's header, so a request of N bytes costs O(N) memory whatever
it holds."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import threading
from collections import OrderedDict
from typing import IO, Any

from runship import store
from runship.errors import RunNotFound
from runship.reader.listing import ListingMemo
from runship.reader.stream import StreamFile, batches, read_header
from runship.safefile import NotRegular
from runship.schema import format as fmt
from runship.schema.names import BadName, check_id, check_relpath, check_stream_name
from runship.store import GapError
from runship.store.location import is_url
from runship.web.errors import BadData

STRIPES = 256  # locks serialising writes of one file (a fixed table: bounded whatever the requests)
STAGING = ".uploads"  # derived files sent in parts are staged under <root>/.uploads/
_HEADER_CACHE = 4096
_HEADER_READ = 64 * 1024

__all__ = ["BadData", "BadName", "Storage", "check_derived", "check_name", "check_names", "check_stream"]


def check_name(value: str, what: str) -> str:
    return check_id(value, what)


def check_stream(name: str) -> str:
    return check_stream_name(name)


def check_derived(path: str) -> str:
    """``run.json`` or ``files/...``: the names the writer stores."""
    return check_relpath(path)


def check_names(project: str, run_id: str, stream: str | None = None) -> None:
    """A project's and a run's names (and a stream file's), or BadName."""
    check_name(project, "project")
    check_name(run_id, "run id")
    if stream is not None:
        check_stream(stream)


class Storage:
    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        self.storage_options = storage_options or {}
        self.target = store.open(
            self.root if is_url(self.root) else f"file://{os.path.abspath(self.root)}", self.storage_options
        )
        self._locks = [threading.Lock() for _ in range(STRIPES)]
        self._headers: OrderedDict[tuple[str, str, str], dict[str, Any] | None] = OrderedDict()
        self._headers_guard = threading.Lock()
        self.listed = ListingMemo()  # what listings read of the runs, bounded by bytes
        self._listing = threading.Lock()

    def lock(self, project: str, run_id: str, name: str) -> threading.Lock:
        """Writes of one file are serialised; different files mostly go in parallel."""
        return self._locks[hash((project, run_id, name)) % STRIPES]

    def run_location(self, project: str, run_id: str) -> str:
        if is_url(self.root):
            return f"{self.root}/{project}/{run_id}"
        return os.path.join(self.root, project, run_id)

    def size(self, project: str, run_id: str, name: str) -> int:
        return self.target.remote_size(project, run_id, name)

    # ---- stream files ---------------------------------------------------------------
    def append(self, project: str, run_id: str, name: str, offset: int, data: bytes) -> int:
        """Append at ``offset``: the part beyond what is stored must be whole
        committed batches (a new file starts with its header, naming this run,
        stream, session and segment). Raises GapError/ConflictError (from the
        target) or BadData."""
        with self.lock(project, run_id, name):
            size = self.target.remote_size(project, run_id, name)
            if offset <= size < offset + len(data):
                self._check_batches(project, run_id, name, data, size - offset, new_file=size == 0)
            return self.target.push(project, run_id, name, offset, data)

    def _header(self, project: str, run_id: str, name: str) -> dict[str, Any] | None:
        key = (project, run_id, name)
        with self._headers_guard:
            if key in self._headers:
                self._headers.move_to_end(key)
                return self._headers[key]
        sf = StreamFile(path=name, name=name, stream="?", session="?", segment=0)
        read_header(io.BytesIO(self.target.read_at(project, run_id, name, 0, _HEADER_READ)), sf)
        with self._headers_guard:
            self._headers[key] = sf.header
            while len(self._headers) > _HEADER_CACHE:
                self._headers.popitem(last=False)
        return sf.header

    def _check_batches(self, project: str, run_id: str, name: str, data: bytes, at: int, new_file: bool) -> None:
        """``data[at:]`` must be whole committed batches. Framing only: no
        record is decoded but a new file's header (and nothing is copied)."""
        sf = StreamFile(path=name, name=name, stream="?", session="?", segment=0)
        if not new_file:
            sf.header = self._header(project, run_id, name)
        for _ in batches(io.BytesIO(data), sf, at, first=new_file, keep=False):
            pass
        if sf.problems:
            p = sf.problems[0]
            raise BadData(f"refused: {p.message} (byte {p.offset - at} of the appended data)")
        if sf.committed != len(data):
            raise BadData(
                f"refused: the data ends {len(data) - max(sf.committed, at)} bytes past its last commit record"
            )
        if new_file:
            h = sf.header or {}
            stream, session, segment = fmt.parse_stream_file_name(name) or ("?", "?", -1)
            expected = {"format": fmt.FORMAT_NAME, "project": project, "run": run_id, "stream": stream}
            if any(h.get(k) != v for k, v in expected.items()) or h.get("session") != session:
                raise BadData(
                    "refused: a new stream file must start with a header naming this project, run, stream and session"
                )
            if h.get("segment") != segment:
                raise BadData("refused: the header's segment is not the file name's")
        elif data[at + 1 : at + 8] == b"\xa1k\xa6header":
            raise BadData("refused: a header record in the middle of a stream file")

    # ---- derived files ----------------------------------------------------------------
    def put(self, project: str, run_id: str, rel: str, data: bytes) -> None:
        self.target.put_file(project, run_id, rel, io.BytesIO(data), len(data))

    def stage(
        self, project: str, run_id: str, rel: str, offset: int, data: bytes, total: int, checksum: str
    ) -> tuple[int, bool]:
        """Append a part of a derived file sent in parts (tus-style, keyed by
        the whole file's SHA-256, so repeats and concurrent senders of the
        same file meet in one upload). When the last part is in, the file is
        checked against the checksum and moved into place. Returns (bytes
        staged, whether the file is now in place)."""
        digest = _sha256_of(checksum)
        area = hashlib.sha256(f"{project}/{run_id}".encode()).hexdigest()[:32]
        name = f"{digest}-{total}"
        with self.lock(STAGING, area, name):
            size = self.target.remote_size(STAGING, area, name)
            if offset + len(data) > total:
                raise BadData(f"refused: a part past the declared Upload-Length {total}")
            if size >= total:
                return size, False  # finished by someone else (in place already)
            size = self.target.push(STAGING, area, name, offset, data)
            if size < total:
                return size, False
            try:
                self._place_staged(project, run_id, rel, area, name, digest, total)
            except FileNotFoundError:  # (as it is read: a failure to put it in place is not this)
                if self.target.remote_size(STAGING, area, name) == 0:
                    # another server (given the same last part) finished it and removed the staging while
                    # this one read it: 409 from 0, and the uploader sends the parts again
                    raise GapError(f"the staged upload of {project}/{run_id}/{rel} was finished elsewhere", 0) from None
                raise
            return total, True

    def _place_staged(self, project: str, run_id: str, rel: str, area: str, name: str, digest: str, total: int) -> None:
        """Check a whole staged upload against its digest, move it into place
        and remove the staging (refused or not)."""
        source = store.open_run(self._staging_location(area), self.storage_options, root=self.root)
        h = hashlib.sha256()
        with source.open(name) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        try:
            if h.hexdigest() != digest:
                raise BadData("refused: the parts do not add up to the declared Upload-Checksum")
            with source.open(name) as f:
                self.target.put_file(project, run_id, rel, f, total)
        finally:
            self.target.remove(STAGING, area, name)

    def _staging_location(self, area: str) -> str:
        if is_url(self.root):
            return f"{self.root}/{STAGING}/{area}"
        return os.path.join(self.root, STAGING, area)

    def open_derived(self, project: str, run_id: str, rel: str) -> IO[bytes]:
        """A file object of a run's file, streamed (no fold of the run)."""
        try:
            source = store.open_run(self.run_location(project, run_id), self.storage_options, root=self.root)
            return source.open(rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, NotRegular):
            raise RunNotFound(f"no file {rel} in {project}/{run_id}") from None

    def open_file(self, project: str, run_id: str, rel: str) -> tuple[IO[bytes], int]:
        """(file object, size) of any file of a run: a stream file as stored
        (an object store's chunks put together) or a derived file."""
        try:
            source = store.open_run(self.run_location(project, run_id), self.storage_options, root=self.root)
            size = source.size(rel)
            f = source.open(rel)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, NotRegular):
            raise RunNotFound(f"no file {rel} in {project}/{run_id}") from None
        if size is None:
            size = f.seek(0, io.SEEK_END)
            f.seek(0)
        return f, size

    # ---- reading -------------------------------------------------------------------
    def open(self, project: str, run_id: str) -> Any:
        """The run ``project/run_id``, its directories entered without following a link."""
        from runship.reader import open_run  # pyarrow with it: a server that only takes uploads starts without it

        return open_run(self.run_location(project, run_id), storage_options=self.storage_options, root=self.root)

    def list_infos(self, project: str, cache: object = True) -> list[dict[str, Any]]:
        """What the project listing shows of each run (``list_runs``). One
        listing at a time: the next finds the runs read in ``self.listed``."""
        from runship.reader.listing import list_runs

        try:
            with self._listing:
                return list_runs(self.root, project, self.storage_options, cache=cache, memo=self.listed)
        except RunNotFound:
            return []

    def projects(self) -> list[str]:
        return sorted({p for p, _ in self.target.list_runs()})

    def runs(self, project: str) -> list[str]:
        return [r for p, r in self.target.list_runs() if p == project]


def _sha256_of(checksum: str) -> str:
    """The hex digest of a tus ``Upload-Checksum: sha256 <base64>`` value."""
    algo, _, value = (checksum or "").partition(" ")
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if algo.lower() != "sha256" or len(digest) != 32:
        raise BadData("an Upload-Checksum header 'sha256 <base64 digest>' is needed for an upload in parts")
    return digest.hex()
