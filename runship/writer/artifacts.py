"""``Run.log_artifact``, ``use_artifact``, ``log_model``, ``use_model`` and
``link_model`` over the project's artifact store (``runship.store.artifacts``).

Logging reads each file once: hashed and stored by digest in
``<root>/<project>/.artifacts/``, then the version is published (on the
writer thread) and an ``artifact`` record written. A file added with
wandb's default ``policy="mutable"`` may be rewritten or deleted as soon as
``log_artifact`` returns (a checkpoint callback's next save), so it is read
before it returns, as wandb copies it; ``"immutable"`` files and
``new_file``'s are read on the writer thread (training goes on). A file
rewritten while it is read is read again (up to three times). Using resolves
``name:alias`` in this root, then in the ``artifact_remotes`` (an alias
there counts when it moved later than here), and records a ``use`` record
and a use marker; ``download()`` fetches only the blobs the root lacks.
Using a name first waits for what this process is still logging under it
(``log_artifact`` then ``use_artifact("name:latest")`` finds the new version).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from runship.schema import artifacts as sa
from runship.schema import format as fmt
from runship.schema import redact
from runship.schema.records import ArtifactFields, UseFields
from runship.schema.values import json_safe, to_plain
from runship.store.artifact_api import Artifact
from runship.store.artifacts import ArtifactNotFound, ArtifactStore, LocalArea, Manifest, copy_blobs, resolve_across

MAX_REREADS = 3
REMOTE_ATTEMPTS = 2  # tries of a runship server among the artifact_remotes
LINK_WAIT_SECONDS = 3600.0  # a link waits this long for the version it links to be stored


class Pending:
    """The versions a run is still logging (or linking), by (project,
    name): ``use_artifact`` of that name waits for them, so that
    ``log_model`` then ``use_model`` finds the version just logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[tuple[str, str], list[threading.Event]] = {}

    def begin(self, project: str, name: str) -> Callable[[], None]:
        """A version of ``name`` is being logged; call the result once it is (or failed)."""
        key, done = (project, name), threading.Event()
        with self._lock:
            self._events.setdefault(key, []).append(done)

        def end() -> None:
            done.set()
            with self._lock:
                held = self._events.get(key, [])
                if done in held:
                    held.remove(done)
                if not held:
                    self._events.pop(key, None)

        return end

    def settle(self, project: str, name: str) -> None:
        """Wait until the versions of ``name`` being logged are published."""
        with self._lock:
            events = list(self._events.get((project, name), ()))
        for done in events:
            done.wait(LINK_WAIT_SECONDS)  # bounded: a writer thread gone never sets it


class RunArtifacts(Protocol):
    """What this module needs of a run."""

    @property
    def id(self) -> str: ...
    @property
    def root(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def artifact_remotes(self) -> list[str]: ...
    @property
    def artifact_pending(self) -> Pending: ...
    def notice(self, message: str, **fields: Any) -> None: ...
    def record(self, kind: str, fields: Mapping[str, Any]) -> None: ...
    def write(self, kind: str, fields: Mapping[str, Any]) -> None: ...
    def background(self, job: Callable[[], None]) -> None: ...


def local_store(run: RunArtifacts) -> ArtifactStore:
    return ArtifactStore(LocalArea(run.root))


def log_artifact(run: RunArtifacts, artifact_or_path: Any, name: Any, type: Any, aliases: Any, tags: Any) -> Artifact:
    """``Run.log_artifact`` (its arguments as it takes them)."""
    if isinstance(artifact_or_path, Artifact):
        art = artifact_or_path
    else:
        path = os.fspath(artifact_or_path)
        stem = sa.safe_name(os.path.basename(path.rstrip("/")) or "artifact")
        art = Artifact(name or f"run-{run.id}-{stem}", type or "unspecified")
        if "://" in path:  # a URI (s3://, file://, ...): a reference, as wandb
            art.add_reference(path)
        else:
            (art.add_dir if os.path.isdir(path) else art.add_file)(path)
    if art._manifest is not None:
        raise ValueError(f"log_artifact: {art.qualified_name} is already logged; new_draft() makes a version to change")
    words = _aliases(aliases) + _aliases(art.aliases)
    words = list(dict.fromkeys(words))
    files, refs = art.draft_entries()
    store, project = local_store(run), run.project
    base = art._base
    art._pending = True
    try:
        for p, e in files.items():  # a mutable file is read now: it may change once this returns
            if not e.get("stored") and e.get("policy", "mutable") == "mutable":
                files[p] = {**_stored(store, project, e, None), "stored": True}
    except Exception as e:  # a file gone, a disk full: the artifact fails, the training goes on
        art._failed(e)
        run.record(fmt.NOTICE, {"message": f"log_artifact({art._name!r}) failed: {e}"})
        return art
    doc_head = {
        "name": art._name,
        "type": art.type,
        "description": art.description,
        "metadata": _metadata(art.metadata),
        "references": refs,
        "run": {"project": project, "id": run.id, "name": run.display_name},
    }

    end = run.artifact_pending.begin(project, art._name)

    def job() -> None:
        try:
            entries = {p: _stored(store, project, e, base) for p, e in sorted(files.items())}
            refs_now = refs
            if art.incremental:  # wandb's incremental artifact: the latest version's files, these added
                entries, refs_now = _on_latest(store, project, art._name, entries, refs)
            doc = {**doc_head, "files": entries, "references": refs_now, "created_at": time.time()}
            manifest, made = store.publish(project, doc, words, run.id)
            art._bind(store, project, manifest)
            art.aliases = ["latest", *words]
            run.write(fmt.ARTIFACT, _record(manifest, words, tags, made))
        except Exception as e:  # training goes on: the failure is recorded and wait() raises it
            art._failed(e)
            run.write(fmt.NOTICE, {"message": f"log_artifact({art._name!r}) failed: {e}"})
        finally:
            end()

    _submit(run, job, end)
    return art


def _metadata(metadata: Any) -> dict[str, Any]:
    """An artifact's metadata as its manifest's JSON takes it (NaN and the
    infinities as wandb's JSON writes them: strings)."""
    safe = json_safe(to_plain(metadata), strict_json=True)
    return safe if isinstance(safe, dict) else {}


def _on_latest(
    store: ArtifactStore, project: str, name: str, files: dict[str, Any], refs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The files and references of the latest version of ``name`` (none if
    there is none yet) with ``files`` and ``refs`` added over them."""
    held = store.indexes(project, name)
    if not held:
        return files, refs
    latest = store.manifest(project, name, held[-1])
    return {**latest["files"], **files}, {**(latest.get("references") or {}), **refs}


def _submit(run: RunArtifacts, job: Callable[[], None], end: Callable[[], None]) -> None:
    """``job`` to the writer thread; ``end`` said at once if it cannot be queued."""
    try:
        run.background(job)
    except BaseException:
        end()
        raise


def _aliases(aliases: Any) -> list[str]:
    if aliases is None:
        return []
    words = [aliases] if isinstance(aliases, str) else list(aliases)
    return [sa.check_alias(a) for a in words if a not in sa.IMPLICIT_ALIASES]


def _stored(store: ArtifactStore, project: str, entry: dict[str, Any], base: Any) -> dict[str, Any]:
    """A draft's file entry stored: read (again if it changed meanwhile), or,
    from ``new_draft``, its blobs brought over from the version it came from."""
    if entry.get("stored"):
        held: dict[str, Any] = {k: entry[k] for k in ("digest", "size", "chunks") if k in entry}
        if base is not None and (base[0].where, base[1] or project) != (store.where, project):
            copy_blobs(base[0], base[1] or project, store, project, {"f": held})
        return held
    source = entry["source"]
    for _ in range(MAX_REREADS):
        before = _stamp(source)
        stored = store.add_file(project, source)
        if _stamp(source) == before:
            return stored
    raise OSError(f"{source} kept changing while it was read ({MAX_REREADS} times): not logged")


def _stamp(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _record(manifest: Manifest, aliases: list[str], tags: Any, made: bool) -> ArtifactFields:
    return ArtifactFields(
        name=manifest["name"],
        type=manifest["type"],
        version=manifest["version"],
        aliases=aliases,
        tags=list(tags or []),
        description=manifest.get("description"),
        metadata=manifest.get("metadata") or {},
        files=[],
        references=[{"name": p, "uri": r.get("uri")} for p, r in sorted((manifest.get("references") or {}).items())],
        digest=manifest["digest"],
        size=sum(int(e["size"]) for e in manifest["files"].values()),
        stored=True,
        new=made,
    )


def remote_stores(run: RunArtifacts) -> list[ArtifactStore]:
    """The ``artifact_remotes`` as stores (one that cannot be opened is said and skipped)."""
    from runship.store.artifact_remote import area_at
    from runship.store.location import is_server_url

    out = []
    for url in run.artifact_remotes:
        try:
            # a training job asking a server that is down waits for 2 tries, not the uploader's 5
            options = {"attempts": REMOTE_ATTEMPTS} if is_server_url(url) else None
            out.append(ArtifactStore(area_at(url, options)))
        except Exception as e:  # neither the URL nor the error says its credentials
            run.notice(f"artifact remote {redact.for_log(url)!r} skipped: {redact.text(str(e))}")
    return out


def use_artifact(run: RunArtifacts, artifact_or_name: Any, type: Any = None) -> Artifact:
    """``Run.use_artifact``: the version named, found here or in a remote,
    its use recorded in the run, in this root's store and (as far as it
    takes it) in the place it was found."""
    if isinstance(artifact_or_name, Artifact):
        art = artifact_or_name
        if art._manifest is None:  # a draft: logged by this run first (one log_artifact took: waited for)
            art = (art if art._pending else log_artifact(run, art, None, None, None, None)).wait()
        manifest, project, found_at = art.manifest, art._project or run.project, art._store
    else:
        project_in, name, selector = sa.parse_ref(str(artifact_or_name))
        project = project_in or run.project
        run.artifact_pending.settle(project, name)
        local = local_store(run)
        stores = [local, *(remote_stores(run) if run.artifact_remotes else [])]
        found_at, found, problems = resolve_across(stores, project, name, selector)
        if found is None or found_at is None:
            tried = "; ".join(redact.for_log(p) for p in problems)
            raise ArtifactNotFound(f"use_artifact({artifact_or_name!r}): not found ({tried})")
        manifest = found
        art = Artifact.bound(
            local, project, manifest, source=found_at, aliases=_aliases_of(found_at, project, manifest)
        )
    if type is not None and manifest.get("type") != type:
        raise ValueError(
            f"use_artifact: {manifest['name']}:{manifest['version']} is of type {manifest.get('type')!r}, not {type!r}"
        )
    _record_use(run, project, manifest, found_at)
    return art


def _record_use(run: RunArtifacts, project: str, manifest: Manifest, found_at: ArtifactStore | None) -> None:
    """The use, marked in this root's store and where the version was found
    (a place that refuses, a read-only token, is a notice: using goes on),
    and a ``use`` record in the run."""
    index = sa.version_index(manifest["version"]) or 0
    doc = {"t": time.time(), "name": run.display_name}
    local = local_store(run)
    for store in (local, found_at):
        if store is None or (store is not local and store.where == local.where):
            continue
        try:
            store.record_use(project, manifest["name"], index, run.id, doc)
        except Exception as e:
            run.notice(
                redact.for_log(f"the use of {manifest['name']}:{manifest['version']} not marked in {store.where}: {e}")
            )
    run.record(
        fmt.USE,
        UseFields(
            name=manifest["name"],
            version=manifest["version"],
            project=project,
            type=str(manifest.get("type")),
            digest=manifest["digest"],
            place=redact.for_log(found_at.where if found_at is not None else local.where),
        ),
    )


def _aliases_of(store: ArtifactStore, project: str, manifest: Manifest) -> list[str]:
    index = sa.version_index(manifest["version"])
    try:
        return sorted(a for a, i in store.aliases(project, manifest["name"]).items() if i == index)
    except Exception:  # a remote failing now: the version is known, its aliases are not
        return []


def link(run: RunArtifacts, artifact: Artifact, target_path: str, aliases: Any) -> None:
    """``link_artifact``/``link_model``: the version's files published again
    under the registry name (the last part of ``target_path``), in this
    root's store (no bytes copied: the blobs are shared)."""
    target = sa.safe_name(str(target_path).rstrip("/").rsplit("/", 1)[-1])  # "My Model": My-Model
    words = _aliases(aliases)
    store = local_store(run)
    end = run.artifact_pending.begin(run.project, target)

    def job() -> None:
        try:
            # the log job before this one may be running in another thread (flush() runs queued
            # jobs too): its version is waited for, never taken unfinished
            source = artifact.wait(timeout=LINK_WAIT_SECONDS).manifest
            held, held_project = artifact._blob_store(), artifact._project or run.project
            if (held.where, held_project) != (store.where, run.project):  # a version of another place
                copy_blobs(held, held_project, store, run.project, source["files"])
            doc = {k: source[k] for k in ("type", "description", "metadata", "files", "references", "run")}
            manifest, _ = store.publish(run.project, {**doc, "name": target, "created_at": time.time()}, words, run.id)
            run.write(fmt.ARTIFACT, _record(manifest, words, [], True))
        except Exception as e:
            run.write(fmt.NOTICE, {"message": f"link to {target_path!r} failed: {e}"})
        finally:
            end()

    _submit(run, job, end)
    return None
