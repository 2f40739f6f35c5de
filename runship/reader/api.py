"""``runship.Api``: wandb's public API for analysis scripts, over the reader.

api = runship.Api("/scratch/me/runship-runs")        # or a URL, or $RUNSHIP_DIR
for run in api.runs("mnist", filters={"config.lr": 0.1, "state": "finished"}):
    print(run.name, run.summary["val/acc"])
df = api.run("mnist/3k9x2m1a").history(keys=["train/loss"])
"""

from __future__ import annotations

import datetime
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runship import store
from runship.errors import RunNotFound
from runship.reader.listing import list_runs
from runship.reader.run import RunView, open_run
from runship.reader.segments import read_cache
from runship.schema import artifacts as sa
from runship.schema.artifacts import ArtifactBase
from runship.schema.names import default_root
from runship.schema.values import json_safe
from runship.store.artifact_api import Artifact
from runship.store.artifacts import ArtifactNotFound, ArtifactStore
from runship.store.location import is_server_url, is_url


class File:
    """A file of a run (``files/...`` and the stream files)."""

    def __init__(self, name: str, size: int | None, location: str, sha256: str | None = None):
        self.name = name
        self.size = size
        self.path = location
        self.sha256 = sha256

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


#: runship's states in wandb's words (others are the same)
WANDB_STATES = {"terminated": "killed", "unreadable": "crashed"}


class Summary(dict[str, Any]):
    """A run's summary from ``Api``: a dict, with wandb's ``_json_dict``."""

    @property
    def _json_dict(self) -> dict[str, Any]:
        safe = json_safe(dict(self), strict_json=True)
        return safe if isinstance(safe, dict) else {}


class Runs(list["Run"]):
    """``Api.runs()``: every run at once (no pages to fetch), with the
    attributes of wandb's paginated ``Runs``."""

    def __init__(self, runs: list[Run], per_page: int = 50):
        super().__init__(runs)
        self.per_page = per_page
        self.more = False

    @property
    def length(self) -> int:
        return len(self)


class Run:
    """One run as wandb's public API shows it. A run of ``Api.runs()`` is
    made from the run index (state, config, summary, tags... are known
    without reading the run); its stream files are read the first time
    history, files or metadata are asked for."""

    def __init__(
        self,
        view: RunView | None = None,
        *,
        info: dict[str, Any] | None = None,
        opener: Callable[[], RunView] | None = None,
        annotator: Callable[[dict[str, Any]], RunView] | None = None,
        artifacts: Callable[[str, str, str], Artifact | None] | None = None,
    ):
        if view is None and (info is None or opener is None):
            raise ValueError("Run() needs a RunView, or info and an opener")
        self._loaded = view
        self._info = info
        self._opener = opener
        self._annotator = annotator  # writes an annotation, returns the run read again (update())
        self._artifacts = artifacts  # (project, name, selector) -> the version in the root's store, or None
        self._edits: dict[str, Any] = {}  # name and notes set, written by update()
        self._tags: list[Any] | None = None  # the tags list handed out (mutable, as wandb's)
        self._tags_before: list[Any] = []

    @property
    def _view(self) -> RunView:
        if self._loaded is None:
            assert self._opener is not None
            self._loaded = self._opener()
        return self._loaded

    def _get(self, key: str, attr: str | None = None) -> Any:
        if self._info is not None and self._loaded is None and key not in (self._info.get("cut") or ()):
            return self._info.get(key)  # a listing cuts a huge config or summary: those are read from the run
        return getattr(self._view, attr or key)

    id = property(lambda self: self._get("id"))
    project = property(lambda self: self._get("project"))
    config = property(lambda self: dict(self._get("config")))

    @property
    def rawconfig(self) -> dict[str, Any]:
        """The config with wandb's internal ``_wandb`` (the charts'
        ``visualize`` specs), as wandb's API has it; ``config`` leaves it out."""
        return dict(self._view.raw_config)

    @property
    def state(self) -> str:
        """wandb's words: running, finished, failed, crashed, killed (a run
        ended by a signal, runship's "terminated"), preempted."""
        state = str(self._get("state"))
        return WANDB_STATES.get(state, state)

    @property
    def summary(self) -> Summary:
        """The summary as wandb's API gives it: the run's keys, plus
        ``_step``, ``_runtime``, ``_timestamp`` and ``_wandb``; ``._json_dict``
        is the same as plain JSON values."""
        out = Summary({k: _wandb_value(v) for k, v in self._get("summary").items()})
        start, last, step = self._get("start_time"), self._get("last_write"), self._get("last_step")
        if isinstance(last, (int, float)):
            out.setdefault("_timestamp", last)
        if isinstance(start, (int, float)) and isinstance(last, (int, float)):
            out.setdefault("_runtime", max(0.0, last - start))
            out.setdefault("_wandb", {"runtime": int(max(0.0, last - start))})
        if isinstance(step, int):
            out.setdefault("_step", step)
        return out

    # ---- what update() writes: name, tags, notes (as an annotation of the run) ----
    @property
    def name(self) -> Any:
        return self._edits.get("name", self._get("name"))

    @name.setter
    def name(self, value: str) -> None:
        self._edits["name"] = value

    @property
    def notes(self) -> Any:
        return self._edits.get("notes", self._get("notes"))

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._edits["notes"] = value

    @property
    def tags(self) -> list[Any]:
        """The run's tags: a list that ``update()`` writes back when changed
        (``run.tags.append("best"); run.update()``, as with wandb)."""
        if self._tags is None:
            self._tags_before = list(self._get("tags") or [])
            self._tags = list(self._tags_before)
        return self._tags

    @tags.setter
    def tags(self, value: Iterable[Any]) -> None:
        self.tags  # noqa: B018 (what they were, to tell what changed)
        self._tags = list(value)

    def update(self) -> None:
        """Write what was set of ``name``, ``tags`` and ``notes`` as an
        annotation of the run (docs/FORMAT.md, "Annotations": the run's
        streams are never rewritten), then read the run again. A run on an
        object store read directly cannot be annotated from here: ValueError
        (annotate it where its root is local, or through a runship server)."""
        change: dict[str, Any] = {}
        for key in ("name", "notes"):
            if key in self._edits and self._edits[key] != self._get(key):
                change[key] = "" if self._edits[key] is None else str(self._edits[key])
        if self._tags is not None:
            added = [t for t in self._tags if t not in self._tags_before]
            removed = [t for t in self._tags_before if t not in self._tags]
            change.update({k: v for k, v in (("tags_add", added), ("tags_remove", removed)) if v})
        if change:
            if self._annotator is None:
                raise ValueError("this run was not opened through runship.Api: update() has nowhere to write")
            self._loaded, self._info = self._annotator(change), None
        self._edits.clear()
        self._tags = None

    group = property(lambda self: self._get("group"))
    job_type = property(lambda self: self._get("job_type"))
    entity = property(lambda self: self._get("entity"))
    path = property(lambda self: [p for p in (self.entity, self.project, self.id) if p])
    url = property(lambda self: self._get("location"))

    @property
    def created_at(self) -> str | None:
        """When the run started, as wandb's API gives it: ISO 8601 in UTC, to the second."""
        t = self._get("start_time")
        if not isinstance(t, (int, float)):
            return None
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")

    lastHistoryStep = property(lambda self: self._get("last_step"))

    @property
    def ranks(self) -> list[dict[str, Any]]:
        """A distributed run's ranks (see ``RunView.ranks``); empty for one process."""
        return self._view.ranks

    @property
    def metadata(self) -> dict[str, Any]:
        sessions = self._view.sessions
        return dict(sessions[0].start or {}) if sessions else {}

    def scan_history(
        self,
        keys: Iterable[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
        *,
        rank: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row, in order (all of them: no sampling); ``rank``: a
        distributed job's rank's rows (rank 0's are the run's)."""
        for row in self._view.scan_history(keys, rank=rank):
            step = row["_step"]  # always there, an int (a row record's shape was checked)
            if min_step is not None and step < min_step:
                continue
            if max_step is not None and step >= max_step:
                break
            yield {k: _wandb_value(v) for k, v in row.items()}

    def history(
        self,
        samples: int = 500,
        keys: Iterable[str] | None = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: str = "default",
        *,
        rank: int | None = None,
    ) -> Any:
        """The history downsampled to about ``samples`` points per key over
        ``x_axis`` (``_step``, ``_runtime``, ``_timestamp`` or a logged
        key): each of ``samples // 4`` buckets keeps its first, last,
        minimum and maximum value (and a NaN), so no spike is lost (see
        ``RunView.history``). A pandas DataFrame when pandas is installed and
        ``pandas``, else a list of rows. ``stream="system"``: system metrics,
        evenly sampled. ``rank``: a distributed job's rank's rows, whole
        (not sampled)."""
        if rank not in (None, 0):
            rows = [{k: _wandb_value(v) for k, v in row.items()} for row in self._view.scan_history(keys, rank=rank)]
            return _frame(rows) if pandas else rows
        if stream in ("system", "events"):
            rows = _sample(list(self._view.system(keys)), samples)
            return _frame(rows) if pandas else rows
        if pandas:
            try:
                return self._view.history_df(keys, samples=samples, x=x_axis)
            except ImportError:
                pass
        return [
            {k: _wandb_value(v) for k, v in row.items()} for row in self._view.history(keys, samples=samples, x=x_axis)
        ]

    def files(self) -> list[File]:
        view = self._view
        out = []
        saved = view.saved_files
        for rel, rec in sorted(saved.items()):
            out.append(File(rel, rec.get("size"), view.location_of(rel), rec.get("sha256")))
        for files in view.files.values():
            for sf in files:
                out.append(File(sf.name, sf.size or None, sf.path))
        return out

    def logged_artifacts(self, per_page: int = 100) -> list[Any]:
        """The artifacts this run logged, as wandb's API lists them (each
        version apart; a ``run_table`` for each table logged): a version in
        the project's artifact store as an ``Artifact`` bound to it (one
        gone from the store since, by ``gc``, is left out); an older run's
        copy under ``files/artifacts/`` as a ``LoggedArtifact``."""
        view = self._view
        out: list[Any] = []
        for art in view.artifacts:
            if not art.get("stored"):
                out.append(LoggedArtifact(view, art))
                continue
            found = self._artifacts(self.project, art["name"], art["version"] or "latest") if self._artifacts else None
            if found is not None:
                out.append(found)
        return out

    def used_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The artifact versions this run used (``use_artifact``), bound to
        this root's store (one it does not hold is left out)."""
        out = []
        for use in self._view.used_artifacts:
            found = (
                self._artifacts(use.get("project") or self.project, use["name"], use["version"])
                if self._artifacts
                else None
            )
            if found is not None:
                out.append(found)
        return out

    def file(self, name: str) -> File:
        for f in self.files():
            if f.name == name:
                return f
        raise RunNotFound(f"run {self.project}/{self.id} has no file {name!r}")

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.id} ({self.state})>"


class LoggedArtifact(ArtifactBase):
    """An artifact a run logged: ``name`` is ``<name>:<version>`` as in
    wandb's API (``source_name`` without the version); ``files()`` are its
    files in the run."""

    def __init__(self, view: RunView, art: dict[str, Any]):
        # the record's shape was checked by the reader (reader.fold.artifact_of); a name of any
        # length is kept, as wandb names a table's artifact after its key: no name check here
        self.source_name, self.type, self.version = art["name"], art["type"], art["version"]
        self.name = f"{self.source_name}:{self.version}" if self.version else self.source_name
        self.description, self.metadata, self.aliases = None, {}, list(art["aliases"])
        self._tmp = None
        self._view = view
        self._files = list(art["files"])

    def __repr__(self) -> str:
        return f"<runship.Artifact {self.name} ({self.type}, {len(self._files)} files)>"

    def files(self) -> list[File]:
        saved = self._view.saved_files
        return [
            File(rel, saved.get(rel, {}).get("size"), self._view.location_of(rel), saved.get(rel, {}).get("sha256"))
            for rel in self._files
        ]


def _frame(rows: list[dict[str, Any]]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame.from_records(rows)


def _sample(rows: list[Any], samples: int) -> list[Any]:
    if samples is None or samples <= 0 or len(rows) <= samples:
        return rows
    if samples == 1:
        return rows[-1:]
    last = len(rows) - 1
    picks = sorted({round(i * last / (samples - 1)) for i in range(samples)})
    return [rows[i] for i in picks]


class Api:
    """Runs under a root: a local directory or an fsspec URL (default
    ``$RUNSHIP_DIR``, else ``./runship-runs``). Run paths are ``project/id``
    (``entity/project/id`` is accepted; the entity is ignored)."""

    def __init__(
        self,
        root_or_url: str | os.PathLike[str] | None = None,
        overrides: object = None,
        timeout: object = None,
        storage_options: dict[str, Any] | None = None,
        cache: Any = True,
        **_: object,
    ):
        root = root_or_url or default_root()
        self.root = os.fspath(root)
        self._storage_options = storage_options
        self._cache = read_cache(cache)  # columns and the run index (see runship.reader.cache)

    def _join(self, *parts: str) -> str:
        if is_url(self.root):
            return "/".join([self.root.rstrip("/"), *parts])
        return os.path.join(self.root, *parts)

    def _list(self, location: str) -> list[str]:
        from runship.store.http import server_run_urls

        if is_server_url(self.root):  # a runship server: its listings
            urls = server_run_urls(self.root, None, self._storage_options)
            prefix = location.rstrip("/") + "/"
            return sorted({u[len(prefix) :].split("/", 1)[0] for u in urls if u.startswith(prefix)})
        try:
            src = store.open_run(location, self._storage_options)
        except RunNotFound:
            return []
        return [n for n in src.names() if src.kind(n) == "directory" and not n.startswith(".")]

    def projects(self) -> list[str]:
        return [p for p in self._list(self.root) if not p.startswith(".")]

    def run(self, path: str) -> Run:
        parts = [p for p in str(path).split("/") if p]
        if len(parts) < 2:
            raise ValueError(f"Api.run() takes 'project/id', got {path!r}")
        project, run_id = parts[-2], parts[-1]
        location = self._join(project, run_id)
        return Run(
            self._open(location), annotator=functools.partial(self._annotate, location), artifacts=self._artifact_at
        )

    def _open(self, location: str) -> RunView:
        return open_run(location, storage_options=self._storage_options, cache=self._cache or False)

    def _annotate(self, location: str, change: dict[str, Any]) -> RunView:
        """Write an annotation of the run at ``location`` (``Run.update()``); the run read again."""
        from runship.reader.annotate import annotate, who

        view: RunView = annotate(
            location, change, by=who("runship.Api"), storage_options=self._storage_options, cache=self._cache or False
        )
        return view

    def runs(
        self,
        path: str | None = None,
        filters: dict[str, Any] | None = None,
        order: str = "-created_at",
        per_page: int = 50,
        **_: object,
    ) -> Runs:
        """The runs of a project (every project when ``path`` is None), with
        wandb-style ``filters``: ``{"config.lr": 0.1, "state": "finished",
        "tags": {"$in": ["x"]}, "summary.acc": {"$gt": 0.9}}``; also ``$and``,
        ``$or``, ``$ne``, ``$nin``, ``$gte``, ``$lt``, ``$lte``, ``$regex``,
        ``$exists``."""
        project = str(path).rstrip("/").split("/")[-1] if path else None
        try:
            infos = list_runs(self.root, project, self._storage_options, cache=self._cache or False)
        except RunNotFound:
            infos = []
        runs = []
        for info in infos:
            location = info["location"]
            run = Run(
                info=info,
                opener=functools.partial(self._open, location),
                annotator=functools.partial(self._annotate, location),
                artifacts=self._artifact_at,
            )
            if filters is None or _matches(run, filters):
                runs.append(run)
        key = order.lstrip("+-")
        reverse = order.startswith("-")
        runs.sort(key=lambda r: _sort_key(_field(r, key)), reverse=reverse)
        return Runs(runs, per_page)

    # ---- artifacts (the project's store: <root>/<project>/.artifacts/) -----------------------
    def _artifact_store(self) -> ArtifactStore:
        from runship.store.artifact_remote import area_at

        return ArtifactStore(area_at(self.root, self._storage_options))

    def _artifact_at(self, project: str, name: str, selector: str) -> Artifact | None:
        try:
            return self.artifact(f"{project}/{name}:{selector}")
        except (ArtifactNotFound, ValueError):
            return None

    def _project_of(self, project: str | None, what: str) -> str:
        project = project or os.environ.get("RUNSHIP_PROJECT") or os.environ.get("WANDB_PROJECT")
        if not project:
            raise ValueError(f"{what}: name the project (project/name:alias), or set $WANDB_PROJECT")
        return project

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """The version ``[entity/]project/name[:alias|vN]`` names (``latest``
        when none) in this root's artifact store; ``download()`` writes its files."""
        project_in, art_name, selector = sa.parse_ref(str(name))
        project = self._project_of(project_in, f"artifact({name!r})")
        store = self._artifact_store()
        manifest = store.resolve(project, art_name, selector)
        if type is not None and manifest.get("type") != type:
            raise ValueError(f"artifact {name!r} is of type {manifest.get('type')!r}, not {type!r}")
        index = sa.version_index(manifest["version"])
        aliases = sorted(a for a, i in store.aliases(project, art_name).items() if i == index)
        return Artifact.bound(store, project, manifest, runs=self._run_of, aliases=aliases)

    def _run_of(self, project: str, run_id: str) -> Run:
        try:
            return self.run(f"{project}/{run_id}")
        except RunNotFound as e:
            raise LookupError(str(e)) from e

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        try:
            self.artifact(name, type)
        except (ArtifactNotFound, ValueError):
            return False
        return True

    def artifacts(self, type_name: str | None = None, name: str = "", per_page: int = 50, **_: Any) -> list[Artifact]:
        """Every version of ``[project/]name``, newest first (of type ``type_name`` when given)."""
        project_in, art_name, _sel = sa.parse_ref(str(name))
        project = self._project_of(project_in, f"artifacts({name!r})")
        store = self._artifact_store()
        table = store.aliases(project, art_name)
        out = []
        for index in reversed(store.indexes(project, art_name)):
            manifest = store.manifest(project, art_name, index)
            if type_name is None or manifest.get("type") == type_name:
                aliases = sorted(a for a, i in table.items() if i == index)
                out.append(Artifact.bound(store, project, manifest, runs=self._run_of, aliases=aliases))
        return out

    artifact_versions = artifacts

    def artifact_collections(self, project_name: str, type_name: str | None = None, **_: Any) -> list[str]:
        """The artifact names of a project (of type ``type_name`` when given)."""
        store = self._artifact_store()
        out = []
        for art_name in store.names(project_name):
            if type_name is None or store.resolve(project_name, art_name).get("type") == type_name:
                out.append(art_name)
        return out


def _sort_key(value: object) -> tuple[bool, object]:
    return (value is None, value if isinstance(value, (int, float, str)) else str(value))


_MISSING = object()


def _field(run: Run, key: str) -> Any:
    if key in ("created_at", "createdAt"):
        return run._get("start_time")  # the time itself: runs started in one second keep their order
    head, _, rest = key.partition(".")
    if head in ("config", "summary", "summary_metrics"):
        value = run.config if head == "config" else run.summary
        for part in rest.split(".") if rest else []:
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
        return value
    if head in ("state", "name", "tags", "group", "job_type", "notes", "id", "display_name", "displayName"):
        return {"display_name": run.name, "displayName": run.name}.get(head, getattr(run, head, None))
    return _MISSING


def _matches(run: Run, filters: dict[str, Any]) -> bool:
    for key, cond in filters.items():
        if key == "$and":
            if not all(_matches(run, f) for f in cond):
                return False
        elif key == "$or":
            if not any(_matches(run, f) for f in cond):
                return False
        elif not _test(_field(run, key), cond):
            return False
    return True


def _test(value: Any, cond: Any) -> bool:
    if not isinstance(cond, dict):
        if isinstance(value, list) and not isinstance(cond, list):
            return cond in value  # tags: "x" matches a run tagged x
        return value is not _MISSING and value == cond
    for op, arg in cond.items():
        present = value is not _MISSING
        if op == "$exists":
            ok = present == bool(arg)
        elif not present:
            ok = op in ("$ne", "$nin")
        elif op == "$eq":
            ok = value == arg
        elif op == "$ne":
            ok = value != arg
        elif op == "$in":
            ok = any(v in arg for v in value) if isinstance(value, list) else value in arg
        elif op == "$nin":
            ok = not (any(v in arg for v in value) if isinstance(value, list) else value in arg)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            try:
                ok = {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]
            except TypeError:
                ok = False
        elif op == "$regex":
            ok = isinstance(value, str) and re.search(arg, value) is not None
        else:
            raise ValueError(f"Api.runs(): filter operator {op!r} is not supported")
        if not ok:
            return False
    return True


def _wandb_value(value: Any) -> Any:
    """A history or summary value as wandb's API gives it: a list of images
    is one ``images/separated`` entry (runship stores each image's reference)."""
    if not (
        isinstance(value, list) and value and all(isinstance(v, dict) and v.get("_type") == "image-file" for v in value)
    ):
        return value
    first = value[0]
    out: dict[str, Any] = {
        "_type": "images/separated",
        "width": first.get("width"),
        "height": first.get("height"),
        "format": first.get("format", "png"),
        "count": len(value),
        "filenames": [v.get("path") for v in value],
    }
    captions = [v.get("caption") for v in value]
    if any(c is not None for c in captions):
        out["captions"] = captions
    return out
