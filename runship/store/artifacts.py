"""The artifact store: versions, aliases and uses of artifacts, their files
stored once by digest (the layout: ``runship.schema.artifacts``; the
rules: docs/FORMAT.md, "Artifacts").

``ArtifactStore`` holds the logic once, over an ``Area``: the few file
operations a place must offer below ``<project>/.artifacts/`` (list a
folder, read a small file, create a file that is not there, hold and stream
blobs). ``LocalArea`` is a run root on a disk (NFS and Lustre included):
every file is created once through link(2), no link is ever followed, blobs
are read-only. The remote places (an fsspec URL, a runship server) are in
``runship.store.artifact_remote``; ``area_at(location)`` picks one.

Nothing here takes a lock: a version number is claimed by creating
``v<N>.json`` (the loser tries ``N+1``), an alias moves by creating the
next ``aliases/<seq>.json``, and a blob that is already there is simply not
written again.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from runship import safefile
from runship.errors import CommError
from runship.schema import artifacts as sa
from runship.schema import redact
from runship.schema.artifacts import BadArtifact

__all__ = ["Area", "ArtifactNotFound", "ArtifactStore", "BadArtifact", "LocalArea", "Manifest"]

Manifest = dict[str, Any]
MAX_VERSION_TRIES = 10_000
IN_FLIGHT = 4  # chunks of a file being written at once by add_file (4 x 4 MiB in memory)


class ArtifactNotFound(CommError, LookupError):
    """No such artifact, version or alias where it was looked for (a
    ``wandb.errors.CommError``, as wandb raises for it)."""


class Area(Protocol):
    """Files below ``<project>/.artifacts/`` of one place; ``rel`` paths are
    the layout's (``names/...``, ``blobs/...``)."""

    where: str  # the place, for messages (no credentials)

    def projects(self) -> list[str]: ...
    def list(self, project: str, rel_dir: str) -> list[str]:
        """The names in a folder ([] if there is none)."""
        ...

    def read(self, project: str, rel: str, limit: int) -> bytes | None:
        """A small file's bytes (None if it is not there; BadArtifact past ``limit``)."""
        ...

    def create(self, project: str, rel: str, data: bytes) -> bool:
        """Create ``rel`` holding ``data`` unless it exists: True if this call made it."""
        ...

    def blob_size(self, project: str, digest: str) -> int | None:
        """The size of the blob held under ``digest`` (None: not held)."""
        ...

    def put_blob(self, project: str, digest: str, data: bytes) -> None:
        """Hold ``data`` (whose SHA-256 is ``digest``, at most CHUNK_SIZE bytes)."""
        ...

    def open_blob(self, project: str, digest: str) -> BinaryIO: ...
    def remove(self, project: str, rel: str) -> None:
        """Delete a file (``gc`` only); no error if it is gone."""
        ...


class LocalArea:
    """A run root on a disk: ``<root>/<project>/.artifacts/``."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.where = self.root

    def _dir(self, project: str, rel_dir: str, create: bool = False) -> int:
        rel = f"{project}/{sa.STORE_DIR}" + (f"/{rel_dir}" if rel_dir else "")
        if create:
            os.makedirs(self.root, exist_ok=True)
        return safefile.open_below(self.root, rel, create=create)

    def projects(self) -> list[str]:
        try:
            found = safefile.entries_of(self.root)
        except FileNotFoundError:
            return []
        out = []
        for name, kind, _ in found:
            if kind == "directory" and not name.startswith("."):
                try:
                    os.close(self._dir(name, ""))
                except OSError:
                    continue
                out.append(name)
        return out

    def list(self, project: str, rel_dir: str) -> list[str]:
        try:
            fd = self._dir(project, rel_dir)
        except (FileNotFoundError, NotADirectoryError, safefile.NotRegular):
            return []
        try:
            return [n for n, kind, _ in safefile.entries(fd) if kind in ("file", "directory") and not n.startswith(".")]
        finally:
            os.close(fd)

    def read(self, project: str, rel: str, limit: int) -> bytes | None:
        parent, name = _split(rel)
        try:
            fd = self._dir(project, parent)
        except (FileNotFoundError, NotADirectoryError, safefile.NotRegular):
            return None
        try:
            with os.fdopen(safefile.open_regular(fd, name), "rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            return None
        except safefile.NotRegular as e:
            raise BadArtifact(f"{self.where}/{project}/{sa.STORE_DIR}/{rel}: {e}") from None
        finally:
            os.close(fd)
        if len(data) > limit:
            raise BadArtifact(f"{self.where}/{project}/{sa.STORE_DIR}/{rel} is larger than {limit} bytes")
        return data

    def create(self, project: str, rel: str, data: bytes, mode: int = 0o644, sync_dir: bool = False) -> bool:
        """``sync_dir``: the folder is synced too, so that the new name
        survives a crash before anything that names it (a blob before its
        manifest) is written."""
        parent, name = _split(rel)
        fd = self._dir(project, parent, create=True)
        try:
            made = safefile.publish(fd, name, data, mode)
            if made and sync_dir:
                os.fsync(fd)
            return made
        finally:
            os.close(fd)

    def blob_size(self, project: str, digest: str) -> int | None:
        parent, name = _split(sa.blob_rel(digest))
        try:
            fd = self._dir(project, parent)
        except (FileNotFoundError, NotADirectoryError, safefile.NotRegular):
            return None
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(fd)
        return st.st_size if safefile.kind_of(st.st_mode) == "file" else None

    def put_blob(self, project: str, digest: str, data: bytes) -> None:
        if self.create(project, sa.blob_rel(digest), data, mode=0o444, sync_dir=True):
            return
        if self.blob_size(project, digest) == len(data):
            return
        # a blob of the wrong size is damaged (a crash before its sync, a disk error): the right
        # bytes replace it, renamed over it (any writer replacing it writes the same bytes)
        parent, name = _split(sa.blob_rel(digest))
        fd = self._dir(project, parent)
        try:
            safefile.write_atomic_at(fd, name, data, mode=0o444, fsync=True)
        finally:
            os.close(fd)

    def open_blob(self, project: str, digest: str) -> BinaryIO:
        parent, name = _split(sa.blob_rel(digest))
        fd = self._dir(project, parent)
        try:
            return os.fdopen(safefile.open_regular(fd, name), "rb")
        finally:
            os.close(fd)

    def remove(self, project: str, rel: str) -> None:
        parent, name = _split(rel)
        try:
            fd = self._dir(project, parent)
        except (FileNotFoundError, NotADirectoryError, safefile.NotRegular):
            return
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            pass
        finally:
            os.close(fd)


def _split(rel: str) -> tuple[str, str]:
    parent, _, name = rel.rpartition("/")
    return parent, name


class ArtifactStore:
    """Versions, aliases and uses of the artifacts of one place (``area``)."""

    def __init__(self, area: Area):
        self.area = area
        self.where = area.where

    # ---- reading ------------------------------------------------------------------------
    def names(self, project: str) -> list[str]:
        out = []
        for n in self.area.list(project, "names"):
            try:
                out.append(sa.check_name(n))
            except BadArtifact:
                continue
        return sorted(out)

    def indexes(self, project: str, name: str) -> list[int]:
        """The version numbers held of ``name``, ascending."""
        out = []
        for f in self.area.list(project, sa.name_dir(name)):
            if f.endswith(".json"):
                i = sa.version_index(f[:-5])
                if i is not None:
                    out.append(i)
        return sorted(out)

    def manifest(self, project: str, name: str, index: int) -> Manifest:
        data = self.area.read(project, sa.manifest_rel(name, index), sa.MAX_MANIFEST_BYTES)
        if data is None:
            raise ArtifactNotFound(f"no version v{index} of artifact {name!r} in {self.where}/{project}")
        return sa.check_manifest(sa.decode_doc(data, f"{name}:v{index}"), name, index)

    def alias_events(self, project: str, name: str) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for f in self.area.list(project, f"{sa.name_dir(name)}/aliases"):
            seq = sa.alias_seq(f)
            if seq is None:
                continue
            data = self.area.read(project, sa.alias_rel(name, seq), sa.MAX_SMALL_DOC)
            try:
                out.append((seq, sa.decode_doc(data or b"", f"alias event {seq}")))
            except BadArtifact:
                continue
        return sorted(out, key=lambda e: e[0])

    def aliases(self, project: str, name: str) -> dict[str, int]:
        """alias -> version number (``latest`` included)."""
        return self.alias_state(project, name)[0]

    def alias_times(self, project: str, name: str) -> dict[str, float]:
        """When each alias last moved (for choosing among places)."""
        return self.alias_state(project, name)[1]

    def alias_state(self, project: str, name: str) -> tuple[dict[str, int], dict[str, float]]:
        """``aliases`` and ``alias_times`` from one reading of the events."""
        events = self.alias_events(project, name)
        times: dict[str, float] = {}
        for _, ev in events:
            if isinstance(ev.get("alias"), str) and isinstance(ev.get("t"), (int, float)):
                times[ev["alias"]] = float(ev["t"])
        return sa.fold_aliases(events, set(self.indexes(project, name))), times

    def find(self, project: str, name: str, selector: str) -> int:
        """The version number ``selector`` (``vN``, an alias, ``latest``) names."""
        index = sa.version_index(selector)
        if index is not None:
            if index not in self.indexes(project, name):
                raise ArtifactNotFound(f"no version {selector} of artifact {name!r} in {self.where}/{project}")
            return index
        table = self.aliases(project, name)
        if selector not in table:
            held = ", ".join(sorted(table)) or "no versions"
            raise ArtifactNotFound(f"artifact {name!r} in {self.where}/{project} has no alias {selector!r} ({held})")
        return table[selector]

    def resolve(self, project: str, name: str, selector: str = "latest") -> Manifest:
        return self.manifest(project, name, self.find(project, name, selector))

    def users(self, project: str, name: str, index: int) -> list[str]:
        """The run ids that used version ``index``."""
        return sorted(self.area.list(project, f"{sa.name_dir(name)}/used/v{int(index)}"))

    def missing(self, project: str, manifest: Manifest, first: bool = False) -> list[tuple[str, int]]:
        """The blobs (digest, size) of a manifest this place does not hold
        (``first``: the first one only, the rest not asked for)."""
        seen: set[str] = set()
        out = []
        for entry in manifest["files"].values():
            for digest, size in sa.blobs_of(entry):
                if digest not in seen:
                    seen.add(digest)
                    if self.area.blob_size(project, digest) != size:
                        out.append((digest, size))
                        if first:
                            return out
        return out

    def read_file(self, project: str, entry: dict[str, Any]) -> Iterator[bytes]:
        """The bytes of a manifest's file entry, blob by blob, each checked
        against its digest (BadArtifact if a blob is not what it should be),
        and a file of chunks against its whole digest too (on a thread of its
        own; a file of one blob: its blob's digest is the file's)."""
        blobs = sa.blobs_of(entry)
        whole = _Hasher(b"") if len(blobs) > 1 else None
        try:
            for digest, size in blobs:
                with self.area.open_blob(project, digest) as f:
                    data = f.read(size + 1)
                if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                    raise BadArtifact(f"blob {digest} in {self.where}/{project} is damaged (not its digest)")
                if whole is not None:
                    whole.feed(data)
                yield data
        finally:
            total = whole.done() if whole is not None else entry["digest"]
        if total != entry["digest"]:
            raise BadArtifact(f"a file made of blobs in {self.where}/{project} does not match its digest")

    # ---- writing ------------------------------------------------------------------------
    def publish(
        self, project: str, doc: dict[str, Any], aliases: list[str], run: str | None = None
    ) -> tuple[Manifest, bool]:
        """Store a new version of ``doc['name']`` (its blobs already held):
        (the manifest, True); or, when a version with the same contents is
        held, (that version's manifest, False). ``aliases`` move to it either
        way (``latest`` is implicit)."""
        name = sa.check_name(doc["name"])
        sa.check_count(name, len(doc["files"]) + len(doc.get("references", {})))  # else made, never read
        digest = sa.contents_digest(doc["files"], doc.get("references", {}))
        same = self.area.read(project, sa.digest_rel(name, digest), sa.MAX_SMALL_DOC)
        index = sa.version_index(same.decode("ascii", "replace")) if same else None
        held = self._same(project, name, index, digest)
        if held is not None:
            manifest, made = held, False
        else:
            manifest, made = self._claim(project, name, {**doc, "digest": digest, "aliases": list(aliases)}), True
            self.area.create(project, sa.digest_rel(name, digest), manifest["version"].encode())
        for alias in aliases:
            if alias not in sa.IMPLICIT_ALIASES:
                self.move_alias(project, name, alias, manifest["version"], run)
        return manifest, made

    def _same(self, project: str, name: str, index: int | None, digest: str) -> Manifest | None:
        """The version ``digests/<digest>`` names, if it is held and its
        contents are that digest (a digest file is never trusted alone)."""
        if index is None or index not in self.indexes(project, name):
            return None
        try:
            manifest = self.manifest(project, name, index)
        except (BadArtifact, ArtifactNotFound):
            return None
        return manifest if manifest["digest"] == digest else None

    def _claim(self, project: str, name: str, doc: dict[str, Any]) -> Manifest:
        held = self.indexes(project, name)
        index = held[-1] + 1 if held else 0
        for _ in range(MAX_VERSION_TRIES):
            manifest = {
                **doc,
                "format": sa.MANIFEST_FORMAT,
                "schema": sa.MANIFEST_SCHEMA,
                "name": name,
                "version": f"v{index}",
            }
            if self.area.create(project, sa.manifest_rel(name, index), sa.encode_doc(manifest)):
                return manifest
            index += 1
        raise OSError(errno.EAGAIN, f"could not claim a version of {name!r} in {self.where}/{project}")

    def move_alias(
        self, project: str, name: str, alias: str, version: str | None, run: str | None = None, t: float | None = None
    ) -> int:
        """Append an alias event (``version`` None: the alias is removed); its seq.
        ``t``: when it moved (now, unless an event made elsewhere is copied here)."""
        event = sa.alias_event(alias, version, time.time() if t is None else t, run)
        return self._append(project, name, sa.encode_doc(event), self._next_seq(project, name))

    def _next_seq(self, project: str, name: str) -> int:
        held = [
            s
            for s in (sa.alias_seq(f) for f in self.area.list(project, f"{sa.name_dir(name)}/aliases"))
            if s is not None
        ]
        return max(held) + 1 if held else 0

    def _append(self, project: str, name: str, event: bytes, seq: int) -> int:
        """``event`` created at the first free seq from ``seq`` on; that seq."""
        for _ in range(MAX_VERSION_TRIES):
            if self.area.create(project, sa.alias_rel(name, seq), event):
                return seq
            seq += 1
        raise OSError(errno.EAGAIN, f"could not move an alias of {name!r} in {self.where}/{project}")

    def append_events(self, project: str, name: str, events: list[Any]) -> list[int | None]:
        """Alias events made elsewhere (an uploaded root's), appended in order
        after those here, each with its own alias, version, t and run; one an
        event here already has all four of is not appended again (an upload
        retried, or sent again from a fresh state). For each: its seq here,
        or None (held). BadArtifact, before any is appended, for one that is
        not an alias event."""
        checked = [sa.event_fields(ev, f"alias event {i}") for i, ev in enumerate(events)]
        held = {sa.event_key(ev) for _, ev in self.alias_events(project, name)}
        seq = self._next_seq(project, name)
        out: list[int | None] = []
        for alias, version, t, run in checked:
            data = sa.encode_doc(sa.alias_event(alias, version, t, run))
            if data in held:
                out.append(None)
                continue
            seq = self._append(project, name, data, seq)
            held.add(data)
            out.append(seq)
            seq += 1
        return out

    def record_use(self, project: str, name: str, index: int, run_id: str, doc: dict[str, Any] | None = None) -> None:
        self.area.create(project, sa.use_rel(name, index, run_id), sa.encode_doc(doc or {}))

    def add_file(self, project: str, path: str) -> dict[str, Any]:
        """Hold the file at ``path`` (read once: hashed and stored by blob,
        chunk by chunk past CHUNK_SIZE); its manifest entry. A file of one
        chunk is hashed once (its digest is its blob's). A larger one is a
        pipeline: this thread reads and hashes each chunk, two threads write
        and sync the blobs (at most IN_FLIGHT chunks in memory), another
        hashes the whole file (hashlib and the disk let go of the GIL)."""
        with open(path, "rb") as f:
            first = f.read(sa.CHUNK_SIZE)
            if len(first) < sa.CHUNK_SIZE:
                return {"digest": self._hold(project, first), "size": len(first)}
            from concurrent.futures import ThreadPoolExecutor

            whole = _Hasher(first)
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="runship-artifact-blob") as pool:
                try:
                    chunks, size, writes = [], 0, []
                    data = first
                    while data:
                        digest = hashlib.sha256(data).hexdigest()
                        writes.append(pool.submit(self._keep, project, digest, data))
                        chunks.append(digest)
                        size += len(data)
                        if len(writes) >= IN_FLIGHT:
                            writes.pop(0).result()
                        data = f.read(sa.CHUNK_SIZE)
                        if data:
                            whole.feed(data)
                    for w in writes:
                        w.result()
                finally:
                    total = whole.done()
        entry: dict[str, Any] = {"digest": total, "size": size}
        if size > sa.CHUNK_SIZE:
            entry["chunks"] = chunks
        return entry

    def _hold(self, project: str, data: bytes) -> str:
        """Hold one chunk's bytes (unless held); its digest."""
        digest = hashlib.sha256(data).hexdigest()
        self._keep(project, digest, data)
        return digest

    def _keep(self, project: str, digest: str, data: bytes) -> None:
        if self.area.blob_size(project, digest) != len(data):
            self.area.put_blob(project, digest, data)


class _Hasher:
    """SHA-256 of a stream of chunks, computed on a thread of its own (a
    bounded queue: at most two chunks wait)."""

    def __init__(self, first: bytes):
        import queue
        import threading

        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self._h = hashlib.sha256()
        self._q.put(first)
        self._thread = threading.Thread(target=self._run, name="runship-artifact-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._q.get()) is not None:
            self._h.update(data)

    def feed(self, data: bytes) -> None:
        self._q.put(data)

    def done(self) -> str:
        self._q.put(None)
        self._thread.join()
        return self._h.hexdigest()


def copy_blobs(src: ArtifactStore, src_project: str, dst: ArtifactStore, project: str, files: dict[str, Any]) -> int:
    """Make ``dst``'s ``project`` hold the blobs of the manifest entries
    ``files`` it lacks, read (and checked) from ``src``'s ``src_project``;
    the bytes copied."""
    sent = 0
    for digest, size in dst.missing(project, {"files": files}):
        data = b"".join(src.read_file(src_project, {"digest": digest, "size": size}))
        dst.area.put_blob(project, digest, data)
        sent += size
    return sent


def copy_version(src: ArtifactStore, dst: ArtifactStore, project: str, manifest: Manifest) -> int:
    """Make ``dst`` hold a version ``src`` holds: the blobs it lacks (each
    checked against its digest as it is read), then the manifest and its
    digest file. Returns the bytes copied. A different manifest already
    there under that version number: BadArtifact (never overwritten)."""
    name, index = manifest["name"], sa.version_index(manifest["version"])
    assert index is not None
    sent = copy_blobs(src, project, dst, project, manifest["files"])
    data = sa.encode_doc(manifest)
    if not dst.area.create(project, sa.manifest_rel(name, index), data):
        there = dst.manifest(project, name, index)
        if there["digest"] != manifest["digest"]:
            raise BadArtifact(
                f"{name}:v{index} in {dst.where}/{project} holds other contents than {src.where}'s: "
                "two roots logged versions of one artifact (left as it is)"
            )
    dst.area.create(project, sa.digest_rel(name, manifest["digest"]), manifest["version"].encode())
    return sent


def resolve_across(
    stores: list[ArtifactStore], project: str, name: str, selector: str
) -> tuple[ArtifactStore | None, Manifest | None, list[str]]:
    """The version ``selector`` names, looked for in ``stores`` (this root
    first, then remotes): ``vN`` from the first that holds it; ``latest``
    the highest version any holds (the first on a tie); an alias where it
    moved last. Returns (the store, its manifest, why each place did not
    answer); a place that fails is one of the reasons, not an error."""
    problems: list[str] = []
    best: tuple[tuple[float, int], ArtifactStore, int] | None = None
    index = sa.version_index(selector)
    for rank, store in enumerate(stores):
        try:
            if index is not None:
                if index in store.indexes(project, name):
                    return store, store.manifest(project, name, index), problems
                problems.append(f"{store.where}: no {selector}")
                continue
            table, times = store.alias_state(project, name)
            if selector not in table:
                problems.append(f"{store.where}: no {name}:{selector}")
                continue
            if selector == "latest":
                key = (float(table["latest"]), -rank)
            else:
                key = (times.get(selector, 0.0), -rank)
            if best is None or key > best[0]:
                best = (key, store, table[selector])
        except Exception as e:  # a place down, refusing or without credentials: a reason, not an error
            problems.append(f"{store.where}: {type(e).__name__}: {redact.text(str(e))}")
    if best is None:
        return None, None, problems
    _, store, found = best
    try:
        return store, store.manifest(project, name, found), problems
    except Exception as e:  # the place failed between its listing and this read
        problems.append(f"{store.where}: {type(e).__name__}: {redact.text(str(e))}")
        return None, None, problems
