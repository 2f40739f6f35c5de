"""``Run.log_artifact``, ``use_artifact``, ``log_model``, ``use_model`` and
``link_model`` over the project's artifact store (``runship.store.artifacts``).

Logging reads each file once on the writer thread (training goes on):
hashed and stored by digest in ``<root>/<project>/.artifacts/``, then the
version is published and an ``artifact`` record written. A file rewritten
while it is read is read again (up to three times). Using resolves
``name:alias`` in this root, then in the ``artifact_remotes`` (an alias
there counts when it moved later than here), and records a ``use`` record
and a use marker; ``download()`` fetches only the blobs the root lacks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from runship.schema import artifacts as sa
from runship.schema import format as fmt
from runship.schema import redact
from runship.schema.records import ArtifactFields, UseFields
from runship.schema.values import to_plain
from runship.store.artifact_api import Artifact
from runship.store.artifacts import ArtifactNotFound, ArtifactStore, LocalArea, Manifest, resolve_across

MAX_REREADS = 3


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
        art = Artifact(name or f"run-{run.id}-{os.path.basename(path.rstrip('/'))}", type or "unspecified")
        (art.add_dir if os.path.isdir(path) else art.add_file)(path)
    if art._manifest is not None:
        raise ValueError(f"log_artifact: {art.qualified_name} is already logged; new_draft() makes a version to change")
    words = _aliases(aliases) + [a for a in art.aliases if a not in sa.IMPLICIT_ALIASES]
    words = list(dict.fromkeys(words))
    files, refs = art.draft_entries()
    art._pending = True
    store, project = local_store(run), run.project
    base = art._base
    doc_head = {
        "name": art._name,
        "type": art.type,
        "description": art.description,
        "metadata": cast("dict[str, Any]", to_plain(art.metadata)),
        "references": refs,
        "run": {"project": project, "id": run.id, "name": run.display_name},
    }

    def job() -> None:
        try:
            entries = {p: _stored(store, project, e, base) for p, e in sorted(files.items())}
            doc = {**doc_head, "files": entries, "created_at": time.time()}
            manifest, made = store.publish(project, doc, words, run.id)
            art._bind(store, project, manifest)
            art.aliases = ["latest", *words]
            run.write(fmt.ARTIFACT, _record(manifest, words, tags, made))
        except Exception as e:  # training goes on: the failure is recorded and wait() raises it
            art._failed(e)
            run.write(fmt.NOTICE, {"message": f"log_artifact({art._name!r}) failed: {e}"})

    run.background(job)
    return art


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
        if base is not None and base[0].where != store.where:
            for digest, size in store.missing(project, {"files": {"f": held}}):
                data = b"".join(base[0].read_file(base[1] or project, {"digest": digest, "size": size}))
                store.area.put_blob(project, digest, data)
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

    out = []
    for url in run.artifact_remotes:
        try:
            out.append(ArtifactStore(area_at(url)))
        except Exception as e:  # neither the URL nor the error says its credentials
            run.notice(f"artifact remote {redact.for_log(url)!r} skipped: {redact.text(str(e))}")
    return out


def use_artifact(run: RunArtifacts, artifact_or_name: Any, type: Any = None) -> Artifact:
    """``Run.use_artifact``: the version named, found here or in a remote, its use recorded."""
    if isinstance(artifact_or_name, Artifact):
        art = artifact_or_name
        if art._manifest is None:
            art = log_artifact(run, art, None, None, None, None).wait()
        manifest, project = art.manifest, art._project or run.project
        store = found_at = art._store
    else:
        project_in, name, selector = sa.parse_ref(str(artifact_or_name))
        project = project_in or run.project
        local = local_store(run)
        stores = [local, *(remote_stores(run) if run.artifact_remotes else [])]
        found_at, found, problems = resolve_across(stores, project, name, selector)
        if found is None or found_at is None:
            tried = "; ".join(problems)
            raise ArtifactNotFound(f"use_artifact({artifact_or_name!r}): not found ({tried})")
        store, manifest = local, found
        art = Artifact.bound(
            local, project, manifest, source=found_at, aliases=_aliases_of(found_at, project, manifest)
        )
    if type is not None and manifest.get("type") != type:
        raise ValueError(
            f"use_artifact: {manifest['name']}:{manifest['version']} is of type {manifest.get('type')!r}, not {type!r}"
        )
    index = sa.version_index(manifest["version"]) or 0
    assert store is not None
    store.record_use(project, manifest["name"], index, run.id, {"t": time.time(), "name": run.display_name})
    run.record(
        fmt.USE,
        UseFields(
            name=manifest["name"],
            version=manifest["version"],
            project=project,
            type=str(manifest.get("type")),
            digest=manifest["digest"],
            place=found_at.where if found_at is not None else store.where,
        ),
    )
    return art


def _aliases_of(store: ArtifactStore, project: str, manifest: Manifest) -> list[str]:
    index = sa.version_index(manifest["version"])
    try:
        return sorted(a for a, i in store.aliases(project, manifest["name"]).items() if i == index)
    except (OSError, ValueError):
        return []


def link(run: RunArtifacts, artifact: Artifact, target_path: str, aliases: Any) -> Artifact | None:
    """``link_artifact``/``link_model``: the version's files published again
    under the registry name (the last part of ``target_path``), in this
    root's store (no bytes copied: the blobs are shared)."""
    target = str(target_path).rstrip("/").rsplit("/", 1)[-1]
    sa.check_name(target)
    words = _aliases(aliases)
    store = local_store(run)

    def job() -> None:
        try:
            source = artifact.wait(timeout=0).manifest
            doc = {k: source[k] for k in ("type", "description", "metadata", "files", "references", "run")}
            manifest, _ = store.publish(run.project, {**doc, "name": target, "created_at": time.time()}, words, run.id)
            run.write(fmt.ARTIFACT, _record(manifest, words, [], True))
        except Exception as e:
            run.write(fmt.NOTICE, {"message": f"link to {target_path!r} failed: {e}"})

    run.background(job)
    return None
