"""``runship.Artifact``: wandb's Artifact over the artifact store.

A new ``Artifact`` is a draft: ``add_file``/``add_dir``/``new_file`` name
local files, ``add_reference`` names URIs (recorded, not copied).
``Run.log_artifact`` stores its files by digest and publishes a version
(``runship.writer.artifacts``); ``Run.use_artifact`` and
``Api().artifact`` return one bound to a store and a manifest, whose
``download()`` fetches the blobs it lacks from the place that holds them
and writes the files, each checked against its digest.

``logged_by()``/``used_by()`` return runs through ``runs``, a function the
layer that made the artifact passes in (the reader's ``Api`` gives its own
runs; elsewhere a ``RunRef``: project, id, name).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from runship import safefile
from runship.errors import UsageError
from runship.schema import artifacts as sa
from runship.schema.artifacts import ArtifactBase
from runship.store.artifacts import ArtifactStore, Manifest, copy_version

RunOpener = Callable[[str, str], Any]


class RunRef:
    """A run named by an artifact's manifest or a use marker."""

    def __init__(self, project: str, id: str, name: str | None = None):
        self.project, self.id, self.name = project, id, name or id
        self.path = [project, id]

    def __repr__(self) -> str:
        return f"<RunRef {self.project}/{self.id}>"


class ArtifactManifestEntry:
    """One file of an artifact (wandb's ``ArtifactManifestEntry``)."""

    def __init__(self, artifact: Artifact, path: str, entry: dict[str, Any], ref: str | None = None):
        self._artifact = artifact
        self.path = path
        self.digest = entry.get("digest")
        self.size = entry.get("size")
        self.ref = ref
        self.local_path = entry.get("source")

    @property
    def name(self) -> str:
        return self.path

    def download(self, root: str | None = None, **_: Any) -> str:
        """Write this file below ``root`` (the artifact's default folder); its path."""
        return self._artifact._download_one(self.path, root)

    def ref_target(self) -> str:
        if self.ref is None:
            raise ValueError(f"{self.path} is a file, not a reference")
        return self.ref

    def __repr__(self) -> str:
        return f"<ArtifactManifestEntry {self.path} ({self.size} bytes)>"


class Artifact(ArtifactBase):
    """A draft, or a logged version bound to a store (see the module's doc)."""

    def __init__(
        self,
        name: str,
        type: str = "unspecified",
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        **kwargs: Any,
    ):
        super().__init__(name, type, description, metadata, **kwargs)
        self._files: dict[str, dict[str, Any]] = {}  # path -> {"source"} (draft) or manifest entry
        self._refs: dict[str, dict[str, Any]] = {}
        self._logged = threading.Event()
        self._error: BaseException | None = None
        self._store: ArtifactStore | None = None  # where its manifest and blobs are
        self._source: ArtifactStore | None = None  # where blobs missing from _store are fetched
        self._project: str | None = None
        self._manifest: Manifest | None = None
        self._runs: RunOpener | None = None
        self.incremental = incremental
        self.tags: list[str] = []
        self._pending = False  # log_artifact took it: its version comes from the writer thread
        self._base: tuple[ArtifactStore, str | None] | None = None  # new_draft: where its stored files are

    # ---- building a draft ---------------------------------------------------------------
    def _draft(self, what: str) -> None:
        if self._manifest is not None:
            raise UsageError(
                f"{what}: {self.qualified_name} is logged and cannot change; new_draft() makes a copy to change"
            )

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        is_tmp: bool = False,
        policy: str | None = "mutable",
        **_: Any,
    ) -> ArtifactManifestEntry:
        """Add the file at ``local_path`` (as ``name``). ``policy`` as wandb's:
        ``"mutable"`` (the default) the file may change once logged, so
        ``log_artifact`` reads it before it returns (wandb copies it here);
        ``"immutable"`` it will not, so it is read later on the writer thread
        (training goes on)."""
        self._draft("add_file")
        path = os.fspath(local_path)
        policy = _policy(policy)
        if not os.path.isfile(path):
            raise ValueError(f"Artifact.add_file: no file at {path!r}")
        base = os.path.basename(path)
        if is_tmp:
            stem, ext = os.path.splitext(base)
            base = f"{stem}-{hashlib.sha256(path.encode()).hexdigest()[:20]}{ext}"
        entry_name = sa.entry_path(name or base)
        self._files[entry_name] = {"source": os.path.abspath(path), "policy": policy}
        return ArtifactManifestEntry(self, entry_name, self._files[entry_name])

    def add_dir(
        self, local_path: str | os.PathLike[str], name: str | None = None, policy: str | None = "mutable", **_: Any
    ) -> None:
        self._draft("add_dir")
        policy = _policy(policy)
        root = os.fspath(local_path)
        if not os.path.isdir(root):
            raise ValueError(f"Artifact.add_dir: no directory at {root!r}")
        for d, _dirs, found in os.walk(root):
            for n in sorted(found):
                path = os.path.join(d, n)
                if os.path.isfile(path):  # the user's own folder: a link to a file is its file, as wandb
                    rel = os.path.relpath(path, root).replace(os.sep, "/")
                    self.add_file(path, f"{name.rstrip('/')}/{rel}" if name else rel, policy=policy)

    def new_file(self, name: str, mode: str = "x", encoding: str | None = None) -> IO[Any]:
        """A file to write that becomes part of the artifact (``with`` it)."""
        import tempfile

        self._draft("new_file")
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="runship-artifact-")
        entry_name = sa.entry_path(name)
        path = os.path.join(self._tmp, *entry_name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._files[entry_name] = {"source": path, "policy": "immutable"}  # runship's own copy
        return open(path, mode, encoding=encoding)

    def add_reference(
        self, uri: Any, name: str | None = None, checksum: bool = True, **_: Any
    ) -> list[ArtifactManifestEntry]:
        """A URI recorded, not copied: ``file://`` with the file's SHA-256
        and size, ``s3://`` with the object's ETag and size (when
        ``checksum``; asked of the store only where an endpoint is configured,
        ``$AWS_ENDPOINT_URL[_S3]``: an air-gapped cluster's own S3, never the
        internet), any other URI as it is."""
        self._draft("add_reference")
        uri = str(uri)
        entry_name = sa.entry_path(name or uri.rstrip("/").rsplit("/", 1)[-1] or "reference")
        ref: dict[str, Any] = {"uri": uri}
        if uri.startswith("file://") and checksum:
            path = uri[len("file://") :]
            if os.path.isfile(path):
                ref["digest"], ref["size"] = _file_digest(path)
        elif uri.startswith(("s3://", "s3a://")) and checksum and _s3_endpoint():
            ref.update(_object_etag(uri))
        self._refs[entry_name] = ref
        return [ArtifactManifestEntry(self, entry_name, ref, ref=uri)]

    def remove(self, item: str | ArtifactManifestEntry) -> None:
        self._draft("remove")
        path = item.path if isinstance(item, ArtifactManifestEntry) else str(item)
        if self._files.pop(path, None) is None and self._refs.pop(path, None) is None:
            raise FileNotFoundError(f"{self.name} has no file {path!r}")

    def add(self, obj: Any, name: str) -> ArtifactManifestEntry:
        """A media object (a Table, an Image, ...) as its JSON file."""
        import json

        to_json = getattr(obj, "to_json", None)
        if to_json is None:
            raise ValueError(f"Artifact.add: {type(obj).__name__} is not a media object (use add_file)")
        kind = getattr(obj, "_log_type", None) or type(obj).__name__.lower()
        entry = name if name.endswith(".json") else f"{name}.{kind}.json"
        with self.new_file(entry, mode="w", encoding="utf-8") as f:
            json.dump(to_json(), f, default=str)
        return ArtifactManifestEntry(self, sa.entry_path(entry), self._files[sa.entry_path(entry)])

    def draft_entries(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(files, references) as ``log_artifact`` takes them."""
        return dict(self._files), dict(self._refs)

    # ---- a logged version ---------------------------------------------------------------
    def _bind(
        self,
        store: ArtifactStore,
        project: str,
        manifest: Manifest,
        source: ArtifactStore | None = None,
        runs: RunOpener | None = None,
    ) -> Artifact:
        self._store, self._project, self._manifest = store, project, manifest
        self._source = source if source is not None and source is not store else None
        self._runs = runs
        self.version = manifest["version"]
        self.type = manifest.get("type", self.type)
        self.description = manifest.get("description")
        self.metadata = dict(manifest.get("metadata") or {})
        self._files = dict(manifest["files"])
        self._refs = dict(manifest.get("references") or {})
        self._logged.set()
        return self

    def _failed(self, error: BaseException) -> None:
        self._error = error
        self._logged.set()

    @classmethod
    def bound(
        cls,
        store: ArtifactStore,
        project: str,
        manifest: Manifest,
        source: ArtifactStore | None = None,
        runs: RunOpener | None = None,
        aliases: list[str] | None = None,
    ) -> Artifact:
        art = cls(manifest["name"], manifest.get("type") or "unspecified")
        art._bind(store, project, manifest, source, runs)
        art.aliases = list(aliases or [])
        return art

    def wait(self, timeout: float | None = None) -> Artifact:
        """Block until ``log_artifact``'s work is done (its version known); a
        draft no run took (a disabled run's) is returned as it is."""
        if not self._pending and self._manifest is None:
            return self
        if self._manifest is None and not self._logged.wait(timeout):
            raise TimeoutError(f"artifact {self.name!r} was not logged within {timeout} s")
        if self._error is not None:
            raise UsageError(f"artifact {self._source_name()!r} could not be logged: {self._error}") from self._error
        return self

    def _need(self) -> Manifest:
        if self._manifest is None:
            if not self._pending:
                raise UsageError(
                    f"artifact {self.name!r} is not logged: log_artifact() it, or use_artifact() a logged one"
                )
            self.wait()
        assert self._manifest is not None
        return self._manifest

    def _source_name(self) -> str:
        return self._name

    @property
    def name(self) -> str:
        base = self._source_name()
        return f"{base}:{self.version}" if self._manifest is not None else base

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def source_name(self) -> str:
        return self.name

    @property
    def project(self) -> str | None:
        return self._project

    @property
    def entity(self) -> str | None:
        return None

    @property
    def qualified_name(self) -> str:
        return f"{self._project or '-'}/{self.name}"

    @property
    def digest(self) -> str:
        return str(self._need()["digest"])

    @property
    def size(self) -> int:
        m = self._manifest
        files = m["files"] if m is not None else {}
        return sum(int(e.get("size") or 0) for e in files.values())

    @property
    def state(self) -> str:
        return "COMMITTED" if self._manifest is not None else "PENDING"

    @property
    def created_at(self) -> float | None:
        return self._manifest.get("created_at") if self._manifest is not None else None

    @property
    def manifest(self) -> dict[str, Any]:
        """The version's manifest (a copy)."""
        return dict(self._need())

    @property
    def id(self) -> str | None:
        return self._manifest["digest"] if self._manifest is not None else None

    def get_entry(self, name: str) -> ArtifactManifestEntry:
        self._need()
        if name in self._files:
            return ArtifactManifestEntry(self, name, self._files[name])
        if name in self._refs:
            return ArtifactManifestEntry(self, name, self._refs[name], ref=self._refs[name].get("uri"))
        raise KeyError(f"{self.name} has no file {name!r}")

    get_path = get_entry

    def get(self, name: str) -> Any:
        """wandb returns a media object stored with ``add``; runship returns
        the parsed JSON of ``name`` (or ``name.*.json``), None if absent."""
        import json

        m = self._need()
        found = [p for p in m["files"] if p == name or (p.startswith(name + ".") and p.endswith(".json"))]
        if not found:
            return None
        data = b"".join(self._blob_store().read_file(self._project or "", m["files"][found[0]]))
        return json.loads(data)

    def files(self, names: list[str] | None = None, per_page: int = 50) -> list[ArtifactManifestEntry]:
        m = self._need()
        return [ArtifactManifestEntry(self, p, e) for p, e in sorted(m["files"].items()) if names is None or p in names]

    def logged_by(self) -> Any:
        run = self._need().get("run")
        if not isinstance(run, dict) or not isinstance(run.get("id"), str):
            return None
        project = str(run.get("project") or self._project)
        return self._open_run(project, run["id"], run.get("name"))

    def used_by(self) -> list[Any]:
        m = self._need()
        assert self._store is not None and self._project is not None
        index = sa.version_index(m["version"]) or 0
        stores = [s for s in (self._store, self._source) if s is not None]
        ids = sorted({r for s in stores for r in s.users(self._project, m["name"], index)})
        return [self._open_run(self._project, r, None) for r in ids]

    def _open_run(self, project: str, run_id: str, name: str | None) -> Any:
        if self._runs is not None:
            try:
                return self._runs(project, run_id)
            except LookupError:
                pass
        return RunRef(project, run_id, name)

    # ---- files on disk ------------------------------------------------------------------
    def _default_root(self) -> str:
        return os.path.join(
            "artifacts", f"{self._source_name()}:{self.version}".replace(":", "-" if os.name == "nt" else ":")
        )

    def _blob_store(self) -> ArtifactStore:
        """The store the blobs are read from: this one, after fetching what it
        lacks from the place the version was found in."""
        m = self._need()
        assert self._store is not None and self._project is not None
        if self._source is not None:
            copy_version(self._source, self._store, self._project, m)
            self._source = None
        return self._store

    def download(
        self, root: str | os.PathLike[str] | None = None, allow_missing_references: bool = False, **_: Any
    ) -> str:
        """Write the version's files below ``root`` (``./artifacts/<name>:<vN>``):
        blobs it lacks fetched once into the store, then each file copied
        out of it and checked against its digest. ``file://`` references are copied when their digest still
        matches. Returns the folder."""
        m = self._need()
        dest = os.path.abspath(os.fspath(root) if root is not None else self._default_root())
        store = self._blob_store()
        os.makedirs(dest, exist_ok=True)
        for path in sorted(m["files"]):
            _materialize(store, self._project or "", m["files"][path], dest, path)
        for path, ref in sorted((m.get("references") or {}).items()):
            _materialize_ref(ref, dest, path, allow_missing_references)
        return dest

    def _download_one(self, path: str, root: str | None) -> str:
        m = self._need()
        dest = os.path.abspath(root if root is not None else self._default_root())
        os.makedirs(dest, exist_ok=True)
        if path in m["files"]:
            _materialize(self._blob_store(), self._project or "", m["files"][path], dest, path)
        else:
            _materialize_ref(m["references"][path], dest, path, False)
        return os.path.join(dest, *path.split("/"))

    def file(self, root: str | None = None) -> str:
        """Download the version's one file; its path (ValueError if it has several)."""
        files = list(self._need()["files"])
        if len(files) != 1:
            raise ValueError(f"{self.name} has {len(files)} files: file() is for an artifact of one (use download())")
        return self._download_one(files[0], root)

    def checkout(self, root: str | None = None) -> str:
        """``download``, then remove what else is in the folder."""
        dest = self.download(root)
        m = self._need()
        keep = {os.path.join(dest, *p.split("/")) for p in (*m["files"], *(m.get("references") or {}))}
        for d, _dirs, found in os.walk(dest):
            for n in found:
                if os.path.join(d, n) not in keep:
                    os.unlink(os.path.join(d, n))
        return dest

    def verify(self, root: str | None = None) -> None:
        """Check the files below ``root`` against the manifest (ValueError
        naming the first that is missing, extra or different)."""
        m = self._need()
        dest = os.path.abspath(root if root is not None else self._default_root())
        for path, entry in sorted(m["files"].items()):
            full = os.path.join(dest, *path.split("/"))
            if not os.path.isfile(full):
                raise ValueError(f"verify: {full} is missing")
            if _file_digest(full) != (entry["digest"], entry["size"]):
                raise ValueError(f"verify: {full} does not match {self.name} (digest {entry['digest'][:12]}…)")
        expected = {os.path.join(dest, *p.split("/")) for p in m["files"]} | {
            os.path.join(dest, *p.split("/")) for p in m.get("references") or {}
        }
        for d, _dirs, found in os.walk(dest):
            for n in found:
                if os.path.join(d, n) not in expected:
                    raise ValueError(f"verify: {os.path.join(d, n)} is not a file of {self.name}")

    def new_draft(self) -> Artifact:
        """A draft holding this version's files, to change and log as the next version."""
        m = self._need()
        art = Artifact(m["name"], m.get("type") or self.type, self.description, dict(self.metadata))
        art._files = {p: dict(e, stored=True) for p, e in m["files"].items()}
        art._refs = dict(m.get("references") or {})
        art._base = (self._blob_store(), self._project)
        return art

    def save(self, *args: object, **kwargs: object) -> None:
        """Aliases set on a logged version move in its store."""
        if self._manifest is None or self._store is None or self._project is None:
            return None
        held = self._store.aliases(self._project, self._manifest["name"])
        index = sa.version_index(self._manifest["version"])
        for alias in self.aliases:
            if alias not in sa.IMPLICIT_ALIASES and held.get(alias) != index:
                self._store.move_alias(self._project, self._manifest["name"], alias, self._manifest["version"])
        return None

    def delete(self, delete_aliases: bool = False) -> None:
        raise UsageError(
            "artifact versions are removed by `runship artifact gc`, which keeps what aliases and runs use"
        )

    def __iter__(self) -> Iterator[ArtifactManifestEntry]:
        return iter(self.files())

    def __repr__(self) -> str:
        state = self.version if self._manifest is not None else "draft"
        return f"<runship.Artifact {self._source_name()}:{state} ({len(self._files)} files)>"


def _policy(policy: str | None) -> str:
    policy = policy or "mutable"
    if policy not in ("mutable", "immutable"):
        raise ValueError(f"Invalid policy {policy!r}. Policy may only be `mutable` or `immutable`.")
    return policy


def _s3_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _object_etag(uri: str) -> dict[str, Any]:
    """``{"etag", "size"}`` of the object at ``uri`` ({} if the store cannot say)."""
    from runship.store.objectstore import url_to_fs

    try:
        fs, path = url_to_fs(uri)
        info = fs.info(path)
    except Exception:  # unreachable, no such object, no credentials: the URI alone is recorded
        return {}
    out: dict[str, Any] = {}
    etag = info.get("ETag") or info.get("etag")
    if isinstance(etag, str):
        out["etag"] = etag.strip('"')
    if isinstance(info.get("size"), int):
        out["size"] = info["size"]
    return out


def _file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _materialize(store: ArtifactStore, project: str, entry: dict[str, Any], dest: str, path: str) -> None:
    """Write one file of a version at ``dest/path`` unless it is there with
    its digest: a copy of its blobs, each checked against its digest as it
    is read (never a link to the store: a downloaded file is the user's to
    change, the store's bytes are not)."""
    full = os.path.join(dest, *path.split("/"))
    if os.path.isfile(full) and not os.path.islink(full) and _file_digest(full) == (entry["digest"], entry["size"]):
        return
    parent_rel, _, base = path.rpartition("/")
    dfd = safefile.open_dir(dest)
    try:
        pfd = safefile.open_subdir(dfd, parent_rel, create=True) if parent_rel else os.dup(dfd)
    finally:
        os.close(dfd)
    try:
        safefile.write_atomic_at(pfd, base, Chunks(store.read_file(project, entry)), digest=False)  # read_file checks
    finally:
        os.close(pfd)


class Chunks:
    """A file object reading an iterator of byte strings (for write_atomic)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._it = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        out, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
        return out


def _materialize_ref(ref: dict[str, Any], dest: str, path: str, allow_missing: bool) -> None:
    uri = str(ref.get("uri"))
    if not uri.startswith("file://"):
        return  # a remote reference stays a reference (its URI is in the manifest)
    src = uri[len("file://") :]
    if not os.path.isfile(src) or ("digest" in ref and _file_digest(src) != (ref["digest"], ref.get("size"))):
        if allow_missing:
            return
        raise ValueError(f"reference {uri} of {path!r} is missing or changed since it was logged")
    with open(src, "rb") as f:
        safefile.write_atomic(dest, path, f)
