"""Artifacts in the web app (docs/UI.md, "Artifacts"): a project's
artifacts (``/ui/api/artifacts``), one version of one (``/ui/api/artifact``)
and the lineage around a version or a run (``/ui/api/lineage``).

Everything is read from the artifact store itself
(``runship.store.artifacts``): a version's producer is its manifest's
``run``, its consumers the runs of ``used/v<N>/``; the runs' own records
are not read. Every place is read through its store (``area_at``: a
directory, an object store, a runship server); one that cannot be opened is
a ``notes`` entry saying why. A consumer
is taken to be a run of the artifact's project (a use marker names a run
id only). Every answer is bounded: names listed, manifests read, files,
users and graph nodes sent (``truncated`` / ``complete`` say when a bound
was met). A run is named by the runs table's reference
(``<place>:<project>/<run>``), so the page links it to ``#/run/REF``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from runship.schema import artifacts as sa
from runship.schema import redact
from runship.schema.names import BadName, check_id
from runship.store.artifact_remote import area_at
from runship.store.artifacts import ArtifactNotFound, ArtifactStore, BadArtifact, Manifest
from runship.store.location import is_url
from runship.web.context import Reader, answer, refuse, web
from runship.web.errors import BadRequest
from runship.web.places import Place, Runs, StorePlace
from runship.web.serialize import check_project, make_ref, parse_ref, plain

ui = APIRouter(tags=["ui"])

MAX_NAMES = 500  # artifact names listed a project
MAX_LIST_VERSIONS = 50  # manifests read a name for the listing (the newest)
MAX_LIST_READS = 3000  # manifests read a listing in all
MAX_VERSIONS = 200  # versions in an artifact's versions table (the newest)
MAX_SCAN = 2000  # manifests read to find a run's artifacts or a version's neighbours
MAX_FILES = 500  # file entries an answer (a page; offset/limit)
MAX_REFERENCES = 100
MAX_USERS = 200  # consumer runs listed a version
MAX_NODES = 60  # a lineage graph's nodes
MAX_RUN_ITEMS = 500  # a run's logged and used versions listed
MAX_PRODUCERS = 10  # producing runs of a name in the listing
MAX_METADATA = 64 * 1024  # bytes of metadata's JSON sent
MAX_TEXT = 4000  # characters of a description
MAX_PROBLEMS = 20

Project = Annotated[str | None, Query(max_length=200)]
Name = Annotated[str, Query(max_length=200)]
Selector = Annotated[str, Query(max_length=200)]


# ---- where --------------------------------------------------------------------------------------------
def _root_of(place: Runs) -> tuple[str, dict[str, Any]] | None:
    if isinstance(place, StorePlace):
        return place.storage.root, dict(place.storage.storage_options or {})
    if isinstance(place, Place):
        return place.root, dict(place.storage_options or {})
    return None


def stores(places: list[Runs]) -> tuple[list[tuple[int, ArtifactStore]], list[dict[str, Any]]]:
    """The artifact stores of the places (a directory, an object store, a
    runship server: ``area_at``), with each one's index; a note for a place
    whose store cannot be opened."""
    found, notes = [], []
    for i, place in enumerate(places):
        where = _root_of(place)
        try:
            if where is None:
                raise ValueError("not a run root")
            root, options = where
            if not is_url(root) and not os.path.isdir(root):
                raise FileNotFoundError(f"no run root at {root}")
            found.append((i, ArtifactStore(area_at(root, options))))
        except Exception as e:  # one place failing never hides the others' artifacts
            shown = where[0] if where is not None else str(place)
            notes.append(
                {"place": i, "root": redact.for_log(shown), "note": redact.for_log(f"{type(e).__name__}: {e}")}
            )
    return found, notes


def _store_at(request: Request, place: int) -> ArtifactStore:
    held, _ = stores(web(request).places)
    for i, store in held:
        if i == place:
            return store
    raise BadRequest(f"place {place} has no artifact store that could be opened")


def _holding(request: Request, project: str, name: str, place: int | None) -> tuple[int, ArtifactStore]:
    """The place holding artifact ``name`` of ``project`` (``place`` if
    given, else the first that holds a version of it); 404 if none does."""
    if place is not None:
        store = _store_at(request, place)
        if store.indexes(project, name):
            return place, store
    else:
        held, _ = stores(web(request).places)
        for i, store in held:
            try:
                if store.indexes(project, name):
                    return i, store
            except Exception:  # a place failing now: the next may hold it (asked alone, it answers 503)
                continue
    raise HTTPException(404, f"no artifact {name!r} in project {project}")


def _check(request: Request, may: Callable[[str], bool], project: str) -> str:
    check_project(project)
    if not may(project):
        refuse(request, project)
    return project


def _name(name: str) -> str:
    try:
        return sa.check_name(name)
    except BadArtifact as e:
        raise BadRequest(str(e)) from None


def _find(store: ArtifactStore, project: str, name: str, selector: str) -> int:
    """The version ``selector`` (``vN``, an alias, ``latest``) names; 400 for
    one that is neither, 404 for one not held."""
    if sa.version_index(selector) is None and selector not in sa.IMPLICIT_ALIASES:
        try:
            sa.check_alias(selector)
        except BadArtifact as e:
            raise BadRequest(str(e)) from None
    try:
        return store.find(project, name, selector)
    except ArtifactNotFound as e:
        raise HTTPException(404, str(e)[:500]) from None


# ---- a version, as the page shows it ------------------------------------------------------------------
@dataclass
class Version:
    """What every answer says of one version (from its manifest)."""

    name: str
    index: int
    type: str
    size: int
    files: int
    created_at: Any
    producer: tuple[str, str, str | None] | None  # (project, run id, its name)

    @property
    def version(self) -> str:
        return f"v{self.index}"


def _producer(manifest: Manifest) -> tuple[str, str, str | None] | None:
    """The producing run a manifest names (``run``: project, id, name), if well formed."""
    run = manifest.get("run")
    if not isinstance(run, dict):
        return None
    try:
        project, run_id = check_id(run.get("project"), "project"), check_id(run.get("id"), "run id")
    except BadName:
        return None
    name = run.get("name")
    return project, run_id, name[:200] if isinstance(name, str) and name else None


def version_of(manifest: Manifest) -> Version:
    index = sa.version_index(manifest["version"])
    assert index is not None  # check_manifest held it to its file's name
    files = manifest["files"]
    return Version(
        name=manifest["name"],
        index=index,
        type=manifest["type"][:200],
        size=sum(int(e["size"]) for e in files.values()),
        files=len(files),
        created_at=_time(manifest.get("created_at")),
        producer=_producer(manifest),
    )


def _time(value: Any) -> Any:
    """A manifest's time as sent: a number (seconds), or short text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return plain(value)
    return value[:64] if isinstance(value, str) else None


@dataclass
class Reading:
    """Manifests read by one request, and what could not be read."""

    store: ArtifactStore
    project: str
    problems: list[str] = field(default_factory=list)
    reads: int = 0

    def version(self, name: str, index: int) -> Version | None:
        self.reads += 1
        try:
            return version_of(self.store.manifest(self.project, name, index))
        except (BadArtifact, ArtifactNotFound, OSError) as e:
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append(f"{name}:v{index}: {e}"[:300])
            return None


class RunNames:
    """Run references and names of one place's project (names from the
    runs listing, which the runs table keeps memoised)."""

    def __init__(self, request: Request, place: int, may: Callable[[str], bool]):
        self.request, self.place, self.may = request, place, may
        self._names: dict[str, dict[str, str]] = {}

    def names(self, project: str) -> dict[str, str]:
        if project not in self._names:
            found: dict[str, str] = {}
            if self.may(project):
                try:
                    for info in web(self.request).places[self.place].infos(project, self.may):
                        if isinstance(info.get("id"), str) and isinstance(info.get("name"), str):
                            found[info["id"]] = info["name"]
                except Exception:  # the names are a nicety: a listing that fails leaves ids
                    found = {}
            self._names[project] = found
        return self._names[project]

    def run(self, project: str, run_id: str, name: str | None = None) -> dict[str, Any]:
        """A run as every answer names it: its ref (the runs table's), project, id and name."""
        shown = self.names(project).get(run_id) or name or run_id
        return {"ref": make_ref(self.place, project, run_id), "project": project, "id": run_id, "name": shown}


def _version_row(v: Version, aliases: list[str], runs: RunNames) -> dict[str, Any]:
    return {
        "version": v.version,
        "aliases": aliases,
        "type": v.type,
        "size": v.size,
        "file_count": v.files,
        "created_at": v.created_at,
        "producer": runs.run(*v.producer) if v.producer else None,
    }


def _aliases_by_version(store: ArtifactStore, project: str, name: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, index in sorted(store.aliases(project, name).items()):
        out.setdefault(index, []).append(alias)
    for held in out.values():  # latest first, the others by name
        held.sort(key=lambda a: (a != "latest", a))
    return out


def _users(store: ArtifactStore, project: str, name: str, index: int) -> list[str]:
    """The ids of the runs that used version ``index`` (well-formed ones)."""
    out = []
    for run_id in store.users(project, name, index):
        try:
            out.append(check_id(run_id, "run id"))
        except BadName:
            continue
    return out


# ---- /ui/api/artifacts: a project's artifacts -----------------------------------------------------------
@ui.get("/ui/api/artifacts")
def api_artifacts(request: Request, may: Reader, project: Project = None) -> JSONResponse:
    held, notes = stores(web(request).places)
    found: set[str] = set()
    for i, store in list(held):
        try:
            found.update(p for p in store.area.projects() if _id_ok(p) and may(p))
        except Exception as e:  # a place that fails now (a server down): a note, the others listed
            held.remove((i, store))
            notes.append(_failed_note(i, store, e))
    projects = sorted(found)
    out: dict[str, Any] = {"project": project or None, "projects": projects, "artifacts": [], "notes": notes}
    if not project:
        return answer({**out, "truncated": False, "problems": []})
    _check(request, may, project)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    truncated = False
    reads = 0  # manifests read so far (MAX_LIST_READS in all)
    for i, store in held:
        runs = RunNames(request, i, may)
        reading = Reading(store, project)
        try:
            for name in store.names(project):
                if len(rows) >= MAX_NAMES:
                    truncated = True
                    break
                budget = min(MAX_LIST_VERSIONS, MAX_LIST_READS - reads - reading.reads)
                row = _listing_row(reading, runs, name, budget)
                if row is not None:
                    rows.append({"place": i, **row})
        except Exception as e:  # the place failed midway: what it gave is kept, the rest said
            notes.append(_failed_note(i, store, e))
        reads += reading.reads
        problems += reading.problems
    rows.sort(key=lambda r: (r["type"], r["name"], r["place"]))
    return answer({**out, "artifacts": rows, "truncated": truncated, "problems": problems[:MAX_PROBLEMS]})


def _failed_note(place: int, store: ArtifactStore, e: Exception) -> dict[str, Any]:
    return {"place": place, "root": redact.for_log(store.where), "note": redact.for_log(f"{type(e).__name__}: {e}")}


def _id_ok(project: str) -> bool:
    try:
        check_id(project, "project")
    except BadName:
        return False
    return True


def _listing_row(reading: Reading, runs: RunNames, name: str, budget: int) -> dict[str, Any] | None:
    """One name in the listing: its newest ``budget`` versions read (its type
    and creation time the latest's; size and producers of those read)."""
    store, project = reading.store, reading.project
    indexes = store.indexes(project, name)
    if not indexes:
        return None
    read = [v for v in (reading.version(name, i) for i in reversed(indexes[-budget:] if budget > 0 else [])) if v]
    latest = read[0] if read and read[0].index == indexes[-1] else None
    producers: dict[str, dict[str, Any]] = {}
    for v in read:
        if v.producer and len(producers) < MAX_PRODUCERS:
            run = runs.run(*v.producer)
            producers.setdefault(run["ref"], run)
    aliases = {a: f"v{i}" for a, i in sorted(store.aliases(project, name).items())}
    return {
        "name": name,
        "type": latest.type if latest else (read[0].type if read else ""),
        "versions": len(indexes),
        "latest": f"v{indexes[-1]}",
        "aliases": aliases,
        "size": sum(v.size for v in read),
        "size_of": len(read),  # the versions the size adds up (all of them unless a bound was met)
        "created_at": latest.created_at if latest else None,
        "producers": list(producers.values()),
    }


# ---- /ui/api/artifact: one version ------------------------------------------------------------------------
@ui.get("/ui/api/artifact")
def api_artifact(
    request: Request,
    may: Reader,
    project: Annotated[str, Query(max_length=200)],
    name: Name,
    version: Selector = "latest",
    place: Annotated[int | None, Query(ge=0, lt=100_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = MAX_FILES,
) -> JSONResponse:
    _check(request, may, project)
    name = _name(name)
    at, store = _holding(request, project, name, place)
    index = _find(store, project, name, version or "latest")
    try:
        manifest = store.manifest(project, name, index)
    except ArtifactNotFound as e:
        raise HTTPException(404, str(e)[:500]) from None
    runs = RunNames(request, at, may)
    this = version_of(manifest)
    by_version = _aliases_by_version(store, project, name)
    files = sorted(manifest["files"].items())
    limit = min(limit, MAX_FILES)
    refs = sorted(manifest.get("references", {}).items())
    users = _users(store, project, name, index)
    reading = Reading(store, project)
    indexes = store.indexes(project, name)
    versions = []
    for i in reversed(indexes[-MAX_VERSIONS:]):
        v = this if i == index else reading.version(name, i)
        if v is not None:
            versions.append(_version_row(v, by_version.get(i, []), runs))
    return answer(
        {
            "place": at,
            "project": project,
            "name": name,
            **_version_row(this, by_version.get(index, []), runs),
            "description": _text(manifest.get("description")),
            **_metadata(manifest.get("metadata")),
            "digest": manifest.get("digest"),
            "offset": offset,
            "limit": limit,
            "files": [{"path": p, "size": e["size"], "digest": e["digest"]} for p, e in files[offset : offset + limit]],
            "references": [
                {"path": p, "uri": str(r.get("uri"))[:2000], "digest": _text(r.get("digest"))}
                for p, r in refs[:MAX_REFERENCES]
            ],
            "reference_count": len(refs),
            "users": sorted((runs.run(project, u) for u in users), key=_by_name)[:MAX_USERS],
            "user_count": len(users),
            "versions": versions,
            "version_count": len(indexes),
            "problems": reading.problems,
        }
    )


def _by_name(run: dict[str, Any]) -> tuple[str, str]:
    return run["name"].casefold(), run["id"]


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def _metadata(value: Any) -> dict[str, Any]:
    """The metadata as sent (``plain``), or a note when its JSON is larger than MAX_METADATA."""
    shown = plain(value if isinstance(value, dict) else {})
    size = len(json.dumps(shown, ensure_ascii=False).encode())
    if size > MAX_METADATA:
        return {
            "metadata": None,
            "metadata_note": f"the metadata is {size} bytes of JSON: not shown (at most {MAX_METADATA})",
        }
    return {"metadata": shown, "metadata_note": None}


# ---- /ui/api/lineage: runs and versions around a version or a run -------------------------------------------
@dataclass
class Lineage:
    """A project's versions with their producers and consumers, read once
    (the newest first, at most MAX_SCAN manifests)."""

    reading: Reading
    produced: dict[tuple[str, str], list[Version]] = field(default_factory=dict)  # (project, run id) ->
    used: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # run id -> (name, index)
    versions: dict[tuple[str, int], Version] = field(default_factory=dict)
    complete: bool = True

    @classmethod
    def scan(cls, store: ArtifactStore, project: str) -> Lineage:
        out = cls(Reading(store, project))
        for name, index in _newest_first(store, project):
            if out.reading.reads >= MAX_SCAN:
                out.complete = False
                break
            v = out.reading.version(name, index)
            if v is None:
                continue
            out.versions[(name, index)] = v
            if v.producer:
                out.produced.setdefault(v.producer[:2], []).append(v)
            for run_id in _users(store, project, name, index):
                out.used.setdefault(run_id, []).append((name, index))
        return out


def _newest_first(store: ArtifactStore, project: str) -> Iterator[tuple[str, int]]:
    """Every version of the project's artifacts, each name's newest first,
    names taken in turn (so that a bound reaches every name's newest)."""
    lists = [[(n, i) for i in reversed(store.indexes(project, n))] for n in store.names(project)[:MAX_NAMES]]
    depth = max((len(x) for x in lists), default=0)
    for d in range(depth):
        for x in lists:
            if d < len(x):
                yield x[d]


class Graph:
    """Nodes (runs, artifact versions) and edges (produced, used), at most MAX_NODES nodes."""

    def __init__(self, project: str, place: int, runs: RunNames):
        self.project, self.place, self.runs = project, place, runs
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], str] = {}
        self.truncated = False

    def run(self, project: str, run_id: str, name: str | None = None) -> str | None:
        run = self.runs.run(project, run_id, name)
        key = "run:" + run["ref"]
        node = {"kind": "run", "ref": run["ref"], "project": project, "run_id": run_id, "name": run["name"]}
        return key if self._add(key, node) else None

    def artifact(self, v: Version) -> str | None:
        key = f"artifact:{v.name}:{v.version}"
        node = {"kind": "artifact", "project": self.project, "place": self.place, "name": v.name}
        return key if self._add(key, {**node, "version": v.version, "type": v.type}) else None

    def _add(self, key: str, node: dict[str, Any]) -> bool:
        if key in self.nodes:
            return True
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return False
        self.nodes[key] = {"id": key, **node}
        return True

    def edge(self, a: str | None, b: str | None, kind: str) -> None:
        if a is not None and b is not None:
            self.edges[(a, b)] = kind

    def answer(self, center: str | None, lineage: Lineage, **more: Any) -> dict[str, Any]:
        return {
            "project": self.project,
            "place": self.place,
            "center": center,
            "nodes": list(self.nodes.values()),
            "edges": [{"from": a, "to": b, "kind": k} for (a, b), k in self.edges.items()],
            "truncated": self.truncated,
            "complete": lineage.complete,
            "problems": lineage.reading.problems,
            **more,
        }


@ui.get("/ui/api/lineage")
def api_lineage(
    request: Request,
    may: Reader,
    project: Project = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    version: Selector = "latest",
    place: Annotated[int | None, Query(ge=0, lt=100_000)] = None,
    run: Annotated[str | None, Query(max_length=400)] = None,
) -> JSONResponse:
    """Around a version (``project``, ``name``, ``version``): its producer,
    the versions that run used, its consumers and the versions they
    produced. Around a run (``run=REF``): the versions it produced and used,
    their consumers and producers, and the lists of both."""
    if run is not None:
        return answer(_run_lineage(request, may, run))
    if not project or not name:
        raise BadRequest("lineage needs project and name (and version), or run")
    _check(request, may, project)
    name = _name(name)
    at, store = _holding(request, project, name, place)
    index = _find(store, project, name, version or "latest")
    lineage = Lineage.scan(store, project)
    graph = Graph(project, at, RunNames(request, at, may))
    this = lineage.versions.get((name, index)) or lineage.reading.version(name, index)
    if this is None:
        raise HTTPException(404, f"{name}:v{index} cannot be read: {'; '.join(lineage.reading.problems[-1:])}")
    center = graph.artifact(this)
    producer = graph.run(*this.producer) if this.producer else None
    graph.edge(producer, center, "produced")
    users = _users(store, project, name, index)
    consumers = [(u, graph.run(project, u)) for u in users]
    for _, node in consumers:
        graph.edge(center, node, "used")
    if this.producer:  # what the producer used
        for n, i in lineage.used.get(this.producer[1], []) if this.producer[0] == project else []:
            v = lineage.versions.get((n, i))
            if v is not None:
                graph.edge(graph.artifact(v), producer, "used")
    for u, node in consumers:  # what the consumers produced
        for v in lineage.produced.get((project, u), []):
            graph.edge(node, graph.artifact(v), "produced")
    return answer(graph.answer(center, lineage))


def _run_lineage(request: Request, may: Callable[[str], bool], ref: str) -> dict[str, Any]:
    at, project, run_id = parse_ref(ref, len(web(request).places))
    if not may(project):
        refuse(request, project)
    runs = RunNames(request, at, may)
    held, notes = stores(web(request).places)
    store = next((s for i, s in held if i == at), None)
    if store is None:
        empty = {"project": project, "place": at, "center": None, "nodes": [], "edges": [], "truncated": False}
        return {**empty, "complete": True, "problems": [], "logged": [], "used": [], "notes": notes}
    lineage = Lineage.scan(store, project)
    graph = Graph(project, at, runs)
    center = graph.run(project, run_id)
    logged = sorted(lineage.produced.get((project, run_id), []), key=lambda v: (v.name, v.index))
    used = sorted(
        (v for v in (lineage.versions.get(k) for k in lineage.used.get(run_id, [])) if v),
        key=lambda v: (v.name, v.index),
    )
    aliases: dict[str, dict[int, list[str]]] = {}

    def item(v: Version) -> dict[str, Any]:
        if v.name not in aliases:
            aliases[v.name] = _aliases_by_version(store, project, v.name)
        return {
            **_version_row(v, aliases[v.name].get(v.index, []), runs),
            "name": v.name,
            "place": at,
            "project": project,
        }

    for v in used:
        node = graph.artifact(v)
        graph.edge(node, center, "used")
        if v.producer:
            graph.edge(graph.run(*v.producer), node, "produced")
    for v in logged:
        node = graph.artifact(v)
        graph.edge(center, node, "produced")
        for u in _users(store, project, v.name, v.index):
            graph.edge(node, graph.run(project, u), "used")
    return graph.answer(
        center,
        lineage,
        logged=[item(v) for v in logged[:MAX_RUN_ITEMS]],
        used=[item(v) for v in used[:MAX_RUN_ITEMS]],
        notes=[],
    )
