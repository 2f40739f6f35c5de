"""The artifact store at the remote places (the layout: ``runship.schema.artifacts``;
the logic: ``runship.store.artifacts``, over an ``Area``).

- ``FsspecArea``: any fsspec URL (``s3://bucket/prefix`` through s3fs, ``gs://``,
  ``memory://``...), the layout below ``<url>/<project>/.artifacts/``. A file is
  created with one write of the whole object, create-only where the store
  offers it (S3's ``If-None-Match``: two writers racing for a version number
  cannot both win), else after a check that it is not there; then read back,
  so that on a store that takes ``If-None-Match`` and ignores it the writer
  whose bytes are not there knows it lost. A blob found there with another
  size is written over (its name is its bytes' digest), and its size checked
  again (AreaRefused, 409, if it is still wrong). Written only to
  object stores, where one PUT is atomic (``ATOMIC_SCHEMES``); other URLs are
  read-only (``AreaRefused``), but an upload target's, which is written
  whatever its scheme, as its runs are.
- ``HttpArea``: a runship server, through its ``/v1/artifacts/...`` endpoints
  (``runship.web.views.artifacts``; docs/SERVER.md, "Artifacts"), with the
  token of the storage options or ``$RUNSHIP_TOKEN``.

``area_at(location)`` picks the area of a run root (a path or ``file://``:
``LocalArea``); ``area_of(target)`` that of an upload target, over its own
connection. ``create`` answers True when this call made the file, or when
the very bytes were already there (a write retried after it had landed: the
loser of a version claim must never be the winner itself); ``put_once``
also says, for a file that was there, whether it holds these bytes and, for
a manifest, its contents digest (what the uploader reports a conflict by).
``append_events`` appends alias events made elsewhere after those of an
area (``ArtifactStore.append_events``; a server does it itself, so that an
uploader's token needs no read scope).
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlencode

from runship.schema import artifacts as sa
from runship.schema import names
from runship.schema.artifacts import BadArtifact
from runship.store.artifacts import Area, ArtifactStore, LocalArea
from runship.store.location import is_local, is_server_url, local_path, redact

if TYPE_CHECKING:
    from runship.store.http import HttpBackend
    from runship.store.protocol import Backend

__all__ = [
    "AreaRefused",
    "FsspecArea",
    "HttpArea",
    "Put",
    "append_events",
    "area_at",
    "area_of",
    "check_dir",
    "parse_rel",
    "put_once",
]

#: fsspec schemes where one write of a whole object is atomic (as for workspaces)
ATOMIC_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
_HEX2 = frozenset("0123456789abcdef")


class AreaRefused(PermissionError):
    """A place that will not do this (read-only, a token's scope, a server
    that deletes nothing): ``status`` is the HTTP answer it amounts to."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


@dataclass
class Put:
    """What ``put_once`` did: made the file, or found it there (``identical``:
    holding these bytes; ``digest``: a manifest's contents digest there)."""

    made: bool
    identical: bool
    digest: str | None = None


# ---- the layout, checked (every path a remote is asked for or sent) --------------------------
def parse_rel(rel: object) -> tuple[Any, ...]:
    """What a file of the layout is, from its path below ``.artifacts/``:
    ``("blob", digest)``, ``("manifest", name, index)``, ``("digest", name,
    digest)``, ``("alias", name, seq)`` or ``("use", name, index, run_id)``;
    BadArtifact for any other path (and for one not written the canonical
    way: ``v01.json``, ``./``, ``..``)."""
    if not isinstance(rel, str) or len(rel) > 1024:
        raise BadArtifact(f"not a path of the artifact store: {rel!r:.120}")
    parts = rel.split("/")
    try:
        if len(parts) == 4 and parts[:2] == ["blobs", "sha256"]:
            digest = sa.check_digest(parts[3])
            if parts[2] == digest[:2]:
                return ("blob", digest)
        elif len(parts) >= 3 and parts[0] == "names":
            name = sa.check_name(parts[1])
            found = _name_file(name, parts[2:])
            if found is not None:
                return found
    except (BadArtifact, names.BadName):
        pass
    raise BadArtifact(f"not a file of the artifact store's layout: {rel!r:.200}")


def _name_file(name: str, rest: list[str]) -> tuple[Any, ...] | None:
    if len(rest) == 1 and rest[0].endswith(".json"):
        index = sa.version_index(rest[0][:-5])
        return None if index is None else ("manifest", name, index)
    if len(rest) == 2 and rest[0] == "digests":
        return ("digest", name, sa.check_digest(rest[1]))
    if len(rest) == 2 and rest[0] == "aliases":
        seq = sa.alias_seq(rest[1])
        return None if seq is None else ("alias", name, seq)
    if len(rest) == 3 and rest[0] == "used":
        index = sa.version_index(rest[1])
        if index is not None:
            return ("use", name, index, names.check_id(rest[2], "run id"))
    return None


def check_dir(rel_dir: object) -> str:
    """A folder of the layout (``""``, ``names``, ``names/<name>``, its
    ``digests``, ``aliases``, ``used`` and ``used/v<N>``, ``blobs``,
    ``blobs/sha256``, ``blobs/sha256/<2 hex>``), or BadArtifact."""
    if isinstance(rel_dir, str):
        parts = rel_dir.split("/") if rel_dir else []
        try:
            if _dir_ok(parts):
                return rel_dir
        except BadArtifact:
            pass
    raise BadArtifact(f"not a folder of the artifact store's layout: {rel_dir!r:.200}")


def _dir_ok(parts: list[str]) -> bool:
    if len(parts) <= 1:
        return parts in ([], ["names"], ["blobs"])
    if parts[0] == "blobs":
        return parts[1] == "sha256" and (
            len(parts) == 2 or (len(parts) == 3 and len(parts[2]) == 2 and set(parts[2]) <= _HEX2)
        )
    if parts[0] != "names":
        return False
    sa.check_name(parts[1])
    rest = parts[2:]
    if len(rest) <= 1:
        return not rest or rest[0] in ("digests", "aliases", "used")
    return len(rest) == 2 and rest[0] == "used" and sa.version_index(rest[1]) is not None


def _check_place(project: str, rel: str) -> None:
    """No path an area is asked for leaves ``<project>/.artifacts/``."""
    names.check_id(project, "project")
    if rel and any(p in ("", ".", "..") or "\\" in p or not p.isprintable() for p in rel.split("/")):
        raise BadArtifact(f"not a path of the artifact store: {rel!r:.120}")


def _manifest_digest(data: bytes | None, name: str, index: int) -> str | None:
    """The contents digest a stored manifest claims (None: not a manifest of that version)."""
    if data is None:
        return None
    try:
        digest = sa.check_manifest(sa.decode_doc(data, f"{name}:v{index}"), name, index)["digest"]
    except BadArtifact:
        return None
    return str(digest)


def put_once(area: Area, project: str, rel: str, data: bytes) -> Put:
    """Create ``rel`` holding ``data`` unless it is there; when it is, say
    whether it holds these bytes (and, for a manifest, its contents digest)."""
    if isinstance(area, (HttpArea, FsspecArea)):
        return area.put_once(project, rel, data)
    parse_rel(rel)
    if area.create(project, rel, data):
        return Put(True, True)
    try:
        there = area.read(project, rel, _limit(rel))
    except BadArtifact:
        there = None
    return _compare(rel, there, data)


def append_events(area: Area, project: str, name: str, events: list[dict[str, Any]]) -> list[int | None]:
    """Alias events made elsewhere appended at ``area`` (``ArtifactStore.append_events``;
    a server's does it itself, so that a token that cannot read is enough)."""
    if isinstance(area, HttpArea):
        return area.append_events(project, name, events)
    return ArtifactStore(area).append_events(project, name, events)


def _limit(rel: str) -> int:
    return sa.MAX_MANIFEST_BYTES if parse_rel(rel)[0] == "manifest" else sa.MAX_SMALL_DOC


def _compare(rel: str, there: bytes | None, data: bytes) -> Put:
    """A file found there: does it hold ``data``, and (a manifest) which contents?"""
    kind = parse_rel(rel)
    digest = _manifest_digest(there, kind[1], kind[2]) if kind[0] == "manifest" else None
    return Put(False, there == data, digest)


# ---- an fsspec URL --------------------------------------------------------------------------
Guard = Callable[..., Any]  # (what, fn, *args): fn(*args), a failure named as ``what``


def _unguarded(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class FsspecArea:
    """``<url>/<project>/.artifacts/`` of an fsspec URL. ``opened``: an upload
    target's filesystem and path (written whatever the scheme), with its
    ``guard`` over every call (failures as TargetError)."""

    def __init__(
        self,
        root: str,
        storage_options: dict[str, Any] | None = None,
        opened: tuple[Any, str] | None = None,
        guard: Guard = _unguarded,
    ):
        from runship.store.objectstore import url_to_fs

        self.where = redact(root.rstrip("/"))
        self.writable = opened is not None or root.split("://", 1)[0].lower() in ATOMIC_SCHEMES
        self.fs, self.path = opened or url_to_fs(root, storage_options)
        self.path = str(self.path).rstrip("/")
        self.guard = guard

    def _at(self, project: str, rel: str) -> str:
        _check_place(project, rel)
        base = f"{self.path}/{project}/{sa.STORE_DIR}"
        return f"{base}/{rel}" if rel else base

    def _writable(self) -> None:
        if not self.writable:
            raise AreaRefused(
                f"{self.where}: artifacts are written only to local roots, object stores and runship servers", 409
            )

    def _ls(self, path: str) -> list[str]:
        from runship.store.objectstore import fresh_ls

        try:
            listed = fresh_ls(self.fs, path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for info in listed:
            full = str(info.get("name", "")).rstrip("/")
            if full == path.rstrip("/"):  # a file listed as itself
                continue
            name = full.rsplit("/", 1)[-1]
            if name and not name.startswith("."):
                out.append(name)
        return sorted(set(out))

    def projects(self) -> list[str]:
        def find() -> list[str]:
            from runship.store.objectstore import fresh_ls

            out = []
            try:
                listed = fresh_ls(self.fs, self.path, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                return []
            for info in listed:
                name = str(info.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
                if info.get("type") != "directory" or name.startswith("."):
                    continue
                if self.fs.exists(f"{self.path}/{name}/{sa.STORE_DIR}"):
                    out.append(name)
            return sorted(out)

        return list(self.guard("list", find))

    def list(self, project: str, rel_dir: str) -> list[str]:
        return list(self.guard("list", self._ls, self._at(project, rel_dir)))

    def _cat(self, path: str, limit: int) -> bytes | None:
        """At most ``limit + 1`` bytes of a file, in one ranged read (None: not there)."""
        try:
            data: bytes = self.fs.cat_file(path, start=0, end=limit + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as e:  # S3 answers a range of an empty object "not satisfiable"
            if "range" not in str(e).lower() or self._size(path) != 0:
                raise
            return b""
        return data

    def read(self, project: str, rel: str, limit: int) -> bytes | None:
        data: bytes | None = self.guard("download", self._cat, self._at(project, rel), limit)
        if data is not None and len(data) > limit:
            raise BadArtifact(f"{self.where}/{project}/{sa.STORE_DIR}/{rel} is larger than {limit} bytes")
        return data

    def _pipe(self, path: str, data: bytes) -> bool:
        """One write of the whole object, only where none is: True if it made it."""
        try:
            self.fs.pipe_file(path, data, mode="create")
            return True
        except TypeError:  # a backend without create-only writes: look first
            if self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True
        except FileExistsError:
            return False

    def put_once(self, project: str, rel: str, data: bytes) -> Put:
        path = self._at(project, rel)
        self._writable()
        made = self.guard("upload", self._pipe, path, data)
        # read back, made or not: a store that takes If-None-Match (or ``mode="create"``) and
        # ignores it lets two writers both "create" the file, the later one's bytes staying; the
        # one whose bytes are not there did not make it. (This narrows the race to a write landing
        # between another's write and its read-back; a store that honours create-only closes it.)
        there = self.read(project, rel, _limit(rel))
        if made and there in (data, None):  # None: gone since (a gc), but nobody else's is there
            return Put(True, True)
        return _compare(rel, there, data)

    def create(self, project: str, rel: str, data: bytes) -> bool:
        # there already, with these bytes: maybe this call's own write, retried by the client library after it landed
        put = self.put_once(project, rel, data)
        return put.made or put.identical

    def _size(self, path: str) -> int | None:
        try:
            self.fs.invalidate_cache(path)
        except Exception:
            pass
        try:
            info = self.fs.info(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return int(info.get("size") or 0) if info.get("type") == "file" else None

    def blob_size(self, project: str, digest: str) -> int | None:
        size = self.guard("stat", self._size, self._at(project, sa.blob_rel(digest)))
        return None if size is None else int(size)

    def put_blob(self, project: str, digest: str, data: bytes) -> None:
        _check_blob(digest, data)
        self._writable()
        path = self._at(project, sa.blob_rel(digest))
        self.guard("upload", self._pipe, path, data)
        if self.blob_size(project, digest) == len(data):
            return  # made, or there already: the same bytes (its name is their digest)
        # an object of another size under this name (an upload cut by another tool, a damaged copy):
        # the blob is named by its bytes, so writing the right ones over it is always safe
        self.guard("upload", self.fs.pipe_file, path, data)
        got = self.blob_size(project, digest)
        if got != len(data):
            raise AreaRefused(
                f"{self.where}/{project}: blob {digest} holds {got} bytes after {len(data)} were written over it", 409
            )

    def open_blob(self, project: str, digest: str) -> BinaryIO:
        path = self._at(project, sa.blob_rel(digest))
        data = self.guard("download", self._cat, path, sa.CHUNK_SIZE)
        if data is None:
            raise FileNotFoundError(f"no blob {digest} in {self.where}/{project}")
        return io.BytesIO(data)

    def _rm(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def remove(self, project: str, rel: str) -> None:
        path = self._at(project, rel)
        self._writable()
        self.guard("remove", self._rm, path)


def _check_blob(digest: str, data: bytes) -> None:
    if len(data) > sa.CHUNK_SIZE:
        raise BadArtifact(f"a blob holds at most {sa.CHUNK_SIZE} bytes, not {len(data)}")
    if hashlib.sha256(data).hexdigest() != sa.check_digest(digest):
        raise BadArtifact(f"these bytes are not blob {digest} (their SHA-256 differs)")


# ---- a runship server -------------------------------------------------------------------------
ARTIFACTS = "/v1/artifacts"
SIZE_HEADER = "runship-blob-size"
EVENTS_PER_POST = 200  # alias events appended by one request (the server takes up to MAX_EVENTS_POST)
MAX_EVENTS_POST = 1000
MAX_EVENTS_BODY = 1 << 20


class HttpArea:
    """The artifacts a runship server keeps (``/v1/artifacts/...``): reading
    needs a token that reads the project, writing one that writes it."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None, conn: HttpBackend | None = None):
        """``conn``: an open connection (an upload target's: its token and retries)."""
        from runship.store.http import server

        self.where = redact(root.rstrip("/"))
        self.conn = conn if conn is not None else server(root, storage_options)
        self._lock = threading.Lock()  # one connection: one request at a time
        self._api = False  # the server was seen to answer /v1/artifacts

    def _call(
        self,
        method: str,
        what: str,
        query: dict[str, str],
        body: bytes | None = None,
        max_answer: int = 1 << 20,
    ) -> tuple[int, dict[str, str], bytes]:
        path = f"{ARTIFACTS}/{what}?{urlencode(query)}"
        headers = {"Content-Type": "application/octet-stream"} if body is not None else None
        with self._lock:
            status, hdrs, data = self.conn._request(method, path, body, headers, max_answer=max_answer)
        if status in (401, 403, 409, 413):
            if status == 401:
                self.conn._check(status, data, what)  # AuthError: no token, or not accepted
            raise AreaRefused(f"{self.where}: {_detail(data) or f'HTTP {status}'}", status)
        if status == 400:
            raise BadArtifact(f"{self.where}: {_detail(data)}")
        if status not in (200, 201, 404):
            self.conn._check(status if status >= 400 else 502, data, f"{method} {self.where}{path.split('?')[0]}")
        return status, hdrs, data

    def _writes(self) -> None:
        """Before a first write: a server without these endpoints (older than
        this runship) would answer every one 404, which a write must not
        take for "done"."""
        if not self._api:
            if self._call("GET", "projects", {}, max_answer=16 << 20)[0] == 404:
                raise AreaRefused(f"{self.where} keeps no artifacts (a runship serve older than this runship?)", 404)
            self._api = True

    def close(self) -> None:
        self.conn.close()

    def projects(self) -> list[str]:
        status, _, data = self._call("GET", "projects", {}, max_answer=16 << 20)
        return [] if status == 404 else [str(p) for p in json.loads(data).get("projects", [])]

    def list(self, project: str, rel_dir: str) -> list[str]:
        _check_place(project, check_dir(rel_dir))
        status, _, data = self._call("GET", "list", {"project": project, "dir": rel_dir}, max_answer=256 << 20)
        return [] if status == 404 else [str(n) for n in json.loads(data).get("names", [])]

    def read(self, project: str, rel: str, limit: int) -> bytes | None:
        _check_place(project, rel)
        parse_rel(rel)
        status, _, data = self._call("GET", "file", {"project": project, "path": rel}, max_answer=limit + 1)
        if status == 404:
            return None
        if len(data) > limit:
            raise BadArtifact(f"{self.where}/{project}/{sa.STORE_DIR}/{rel} is larger than {limit} bytes")
        return data

    def put_once(self, project: str, rel: str, data: bytes) -> Put:
        _check_place(project, rel)
        parse_rel(rel)
        self._writes()
        _, _, answer = self._call("PUT", "file", {"project": project, "path": rel}, data)
        got = json.loads(answer)
        digest = got.get("digest")
        return Put(bool(got.get("created")), bool(got.get("identical")), digest if isinstance(digest, str) else None)

    def create(self, project: str, rel: str, data: bytes) -> bool:
        put = self.put_once(project, rel, data)
        return put.made or put.identical

    def blob_size(self, project: str, digest: str) -> int | None:
        _check_place(project, sa.blob_rel(digest))
        status, headers, _ = self._call("HEAD", "blob", {"project": project, "digest": digest})
        size = headers.get(SIZE_HEADER, "")
        return int(size) if status == 200 and size.isdigit() else None

    def put_blob(self, project: str, digest: str, data: bytes) -> None:
        _check_blob(digest, data)
        _check_place(project, "")
        self._writes()
        self._call("PUT", "blob", {"project": project, "digest": digest}, data)

    def open_blob(self, project: str, digest: str) -> BinaryIO:
        _check_place(project, sa.blob_rel(digest))
        query = {"project": project, "digest": digest}
        status, _, data = self._call("GET", "blob", query, max_answer=sa.CHUNK_SIZE + 1)
        if status == 404:
            raise FileNotFoundError(f"no blob {digest} in {self.where}/{project}")
        return io.BytesIO(data)

    def remove(self, project: str, rel: str) -> None:
        raise AreaRefused(f"{self.where}: a runship server deletes nothing over HTTP (run gc on the server)", 409)

    def append_events(
        self, project: str, name: str, events: builtins.list[dict[str, Any]]
    ) -> builtins.list[int | None]:
        """``ArtifactStore.append_events`` done by the server (``POST .../aliases``:
        a token that writes the project, none that reads it, is enough)."""
        _check_place(project, sa.name_dir(name))
        self._writes()
        out: builtins.list[int | None] = []
        for i in range(0, len(events), EVENTS_PER_POST):
            body = json.dumps({"events": events[i : i + EVENTS_PER_POST]}, allow_nan=False).encode()
            _, _, answer = self._call("POST", "aliases", {"project": project, "name": name}, body)
            seqs = json.loads(answer).get("seqs")
            if not isinstance(seqs, list) or len(seqs) != len(events[i : i + EVENTS_PER_POST]):
                raise BadArtifact(f"{self.where}: an answer to appending alias events that is not one")
            out.extend(s if isinstance(s, int) else None for s in seqs)
        return out


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))[:300]
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")


# ---- which ------------------------------------------------------------------------------------
def area_at(location: str, storage_options: dict[str, Any] | None = None) -> Area:
    """The artifact area of a run root: a directory (or ``file://``), a
    runship server (``http(s)://``) or any other fsspec URL."""
    if is_server_url(location):
        return HttpArea(location, storage_options)
    if not is_local(location):
        return FsspecArea(location, storage_options)
    return LocalArea(local_path(location))


def area_of(target: Backend) -> Area | None:
    """The artifact area of an upload target, over its own connection (its
    token, retries, and failures as TargetError); None for a store of runs
    only (``mem://``, for tests)."""
    from runship.store.http import HttpBackend
    from runship.store.local import LocalBackend
    from runship.store.objectstore import ObjectStoreBackend

    if isinstance(target, HttpBackend):
        return HttpArea(target.url, conn=target)
    if isinstance(target, ObjectStoreBackend):
        return FsspecArea(target.url, opened=(target.fs, target.base), guard=target.call)
    if isinstance(target, LocalBackend):
        return LocalArea(target.root)
    return None
