"""Removing old artifact versions and the blobs no version needs any more
(``runship artifact gc``).

``plan_gc`` decides, ``apply_gc`` deletes. A version is removed only when
it is older than the newest ``keep_last`` of its name, no alias points to it
(``latest`` included: the newest version is never removed) and no run used
it (``used/v<N>/``). A blob is removed only when no kept manifest of the
project (of any name: blobs are shared across names) refers to it.

The store takes no locks (``runship.store.artifacts``), so neither does gc.
What it does against writers running at the same time:

* each version is checked again (aliases, uses) just before its files go;
* its digest file goes before its manifest, so that a ``publish`` of the
  same contents meanwhile makes a new version rather than pointing at the
  one being removed;
* the manifests of the project are listed again after the versions are
  gone and just before the blobs go, and a blob one of them refers to is
  kept.

A window remains: a writer that has stored (or found already stored) a
blob with ``add_file`` but not yet published the manifest that refers to
it is invisible to gc. If that blob was unreferenced when gc listed the
manifests the second time, it is removed, and the version published next
lacks it (``ArtifactStore.missing`` says so, reading it fails with
BadArtifact; logging the same files again stores the blob again and repairs
it). Run gc when no artifact of the project is being logged, or accept
that rare repair.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from typing import Any

from runship import safefile
from runship.schema import artifacts as sa
from runship.schema import names as sn
from runship.store.artifacts import ArtifactNotFound, ArtifactStore, BadArtifact, LocalArea

__all__ = ["GcPlan", "GcResult", "apply_gc", "plan_gc"]

_HEX2 = re.compile(r"[0-9a-f]{2}")
TEMP_AGE = 24 * 3600.0  # a temporary file in a blob folder older than this is a crashed writer's


@dataclasses.dataclass
class GcPlan:
    """What ``apply_gc`` would remove from one project."""

    project: str
    keep_last: int
    versions: list[tuple[str, int]]  # (name, version number) to remove
    manifests: dict[tuple[str, int], dict[str, Any]]  # their manifests (for the digest files)
    blobs: dict[str, int]  # digest -> size of the blobs no kept manifest refers to
    kept: dict[str, list[int]]  # name -> the version numbers kept
    problems: list[str] = dataclasses.field(default_factory=list)  # manifests not read: no blob is removed

    @property
    def blob_bytes(self) -> int:
        return sum(self.blobs.values())


@dataclasses.dataclass
class GcResult:
    """What ``apply_gc`` removed (and what it left, having found it needed)."""

    versions: list[tuple[str, int]]
    blobs: dict[str, int]
    skipped_versions: list[tuple[str, int]]  # aliased or used since the plan
    skipped_blobs: int  # referred to by a manifest that appeared since the plan
    temp_files: int = 0

    @property
    def blob_bytes(self) -> int:
        return sum(self.blobs.values())


def plan_gc(store: ArtifactStore, project: str, keep_last: int, names: list[str] | None = None) -> GcPlan:
    """The versions of ``names`` (default: every artifact of ``project``)
    that ``keep_last`` lets go, and the blobs then referred to by no kept
    manifest of the project. Deletes nothing."""
    if keep_last < 0:
        raise ValueError(f"keep_last must be 0 or more, not {keep_last}")
    every = store.names(project)
    chosen = set(every if names is None else [sa.check_name(n) for n in names])
    gone: list[tuple[str, int]] = []
    manifests: dict[tuple[str, int], dict[str, Any]] = {}
    kept: dict[str, list[int]] = {}
    problems: list[str] = []
    referenced: set[str] = set()
    for name in every:
        indexes = store.indexes(project, name)
        protected: set[int] = set()
        if name in chosen:
            protected = set(store.aliases(project, name).values())
            protected.update(indexes[len(indexes) - keep_last :] if keep_last else [])
        kept[name] = []
        for index in indexes:
            try:
                manifest = store.manifest(project, name, index)
            except (BadArtifact, ArtifactNotFound) as e:  # unreadable: kept, and its blobs unknown
                problems.append(str(e))
                kept[name].append(index)
                continue
            if name in chosen and index not in protected and not store.users(project, name, index):
                gone.append((name, index))
                manifests[(name, index)] = manifest
                continue
            kept[name].append(index)
            referenced.update(_digests(manifest))
    blobs: dict[str, int] = {}
    if not problems:
        for digest in _held_blobs(store, project):
            if digest not in referenced:
                size = store.area.blob_size(project, digest)
                if size is not None:
                    blobs[digest] = size
    return GcPlan(project, keep_last, gone, manifests, blobs, kept, problems)


def apply_gc(store: ArtifactStore, plan: GcPlan, temp_age: float = TEMP_AGE) -> GcResult:
    """Remove what ``plan`` says, checking again first (see the module's
    doc): each version's digest file, then its manifest; then, the
    project's manifests listed again, each blob none of them refers to. On
    a local disk also the temporary files older than ``temp_age`` seconds
    left in the blob folders by writers that died."""
    project = plan.project
    removed: list[tuple[str, int]] = []
    skipped: list[tuple[str, int]] = []
    aliased: dict[str, set[int]] = {}
    for name, index in plan.versions:
        if name not in aliased:
            aliased[name] = set(store.aliases(project, name).values())
        if index in aliased[name] or store.users(project, name, index):
            skipped.append((name, index))
            continue
        manifest = plan.manifests[(name, index)]
        digest_rel = sa.digest_rel(name, manifest["digest"])
        points = store.area.read(project, digest_rel, sa.MAX_SMALL_DOC)
        if points is not None and points.decode("ascii", "replace") == f"v{index}":
            store.area.remove(project, digest_rel)
        store.area.remove(project, sa.manifest_rel(name, index))
        removed.append((name, index))
    blobs: dict[str, int] = {}
    late = 0
    if plan.blobs:
        referenced, readable = _referenced_now(store, project)
        for digest, size in sorted(plan.blobs.items()):
            if not readable or digest in referenced:
                late += 1
                continue
            store.area.remove(project, sa.blob_rel(digest))
            blobs[digest] = size
    temps = _remove_old_temps(store, project, temp_age) if isinstance(store.area, LocalArea) else 0
    return GcResult(removed, blobs, skipped, late, temps)


def _digests(manifest: dict[str, Any]) -> set[str]:
    return {d for entry in manifest["files"].values() for d, _ in sa.blobs_of(entry)}


def _referenced_now(store: ArtifactStore, project: str) -> tuple[set[str], bool]:
    """The blobs the manifests held now refer to; False if one could not be read."""
    out: set[str] = set()
    for name in store.names(project):
        for index in store.indexes(project, name):
            try:
                out.update(_digests(store.manifest(project, name, index)))
            except ArtifactNotFound:  # removed meanwhile (another gc)
                continue
            except BadArtifact:
                return out, False
    return out, True


def _held_blobs(store: ArtifactStore, project: str) -> list[str]:
    out = []
    for prefix in store.area.list(project, "blobs/sha256"):
        if not _HEX2.fullmatch(prefix):
            continue
        for f in store.area.list(project, f"blobs/sha256/{prefix}"):
            if sa.is_digest(f) and f.startswith(prefix):
                out.append(f)
    return sorted(out)


def _remove_old_temps(store: ArtifactStore, project: str, age: float) -> int:
    """Temporary files (``names.temp_name``) older than ``age`` seconds in a
    local store's blob folders: a writer's that died before linking them."""
    assert isinstance(store.area, LocalArea)
    cutoff = time.time() - age
    count = 0
    for prefix in store.area.list(project, "blobs/sha256"):
        if not _HEX2.fullmatch(prefix):
            continue
        try:
            fd = safefile.open_below(store.area.root, f"{project}/{sa.STORE_DIR}/blobs/sha256/{prefix}")
        except (OSError, safefile.NotRegular):
            continue
        try:
            for name, kind, _ in safefile.entries(fd):
                if kind != "file" or not sn.is_temp_name(name):
                    continue
                try:
                    if os.stat(name, dir_fd=fd, follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(name, dir_fd=fd)
                        count += 1
                except FileNotFoundError:
                    continue
        finally:
            os.close(fd)
    return count
