"""A read-only view of one run: the façade over its decoded files, its fold and its history.

A run directory's stream files are decoded by ``runship.reader.segments``
(``RunFiles``: columns and records, cached), folded into the run's state by
``runship.reader.fold`` (``Fold``: config, summary, metadata, sessions) and
queried by ``runship.reader.runhistory`` (``RunHistory``: history rows,
samples, system metrics, console). ``RunView`` puts them together behind the
attributes and methods ``runship.Api``, the server and the CLI use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from runship import store
from runship.reader.annotations import Annotations, read_annotations
from runship.reader.fold import Fold, Session, ranks_of, sessions_of
from runship.reader.runhistory import RunHistory
from runship.reader.segments import RunFiles, read_cache
from runship.reader.stream import Problem, StreamFile
from runship.schema import annotations as annotation_schema
from runship.schema import charts as chart_schema
from runship.schema import format as fmt
from runship.schema.metrics import Metrics
from runship.schema.names import BadName, check_id, check_relpath
from runship.store import RunSource
from runship.store.protocol import NamedRun

if TYPE_CHECKING:
    from runship.reader.cache import SegmentCache

#: what ``to_dict`` says of a run, first: these attributes as they are
_DICT_FIELDS = (
    "location",
    "project",
    "id",
    "name",
    "state",
    "exit_code",
    "entity",
    "group",
    "job_type",
    "tags",
    "notes",
    "annotations",
    "steps",
    "last_step",
    "start_time",
    "last_write",
    "lost",
    "dropped",
    "config",
    "summary",
)


class RunView(RunHistory):
    """A read-only view of one run. Made by ``open_run``."""

    def __init__(
        self,
        source: RunSource,
        *,
        stale_after: float | None = None,
        now: float | None = None,
        strict: bool = False,
        cache: SegmentCache | None = None,
    ):
        self._source = source
        self.location = source.location
        self.error: str | None = None  # set for a run that could not be read at all
        self._stale_after = stale_after
        self._now = now
        self.problems: list[Problem] = []
        self._files = RunFiles(source, cache, strict)
        self._names = (source.parent_name, source.basename)
        self._fold = Fold(self._files, self.problems)
        self._fold.run()
        for files in self._files.files.values():
            for sf in files:
                self.problems.extend(sf.problems)
        self._check_names()
        self._annotate()

    def _annotate(self) -> None:
        """Read the run's annotations and merge them over its writer's name, tags and notes."""
        first = self._fold.sessions[0] if self._fold.sessions else None
        since = first.id if first is not None and first.reset else None
        files = self._files.files.get(annotation_schema.STREAM, [])
        self._annotations = read_annotations(self._source, files, since) if files else Annotations()
        self.problems.extend(self._annotations.problems)
        self._merged = self._annotations.merged(self._fold.meta)

    # ---- the fold's state --------------------------------------------------------------
    @property
    def files(self) -> dict[str, list[StreamFile]]:
        """The run's stream files by stream, in session and segment order."""
        return self._files.files

    @property
    def other_names(self) -> list[str]:
        return self._files.other_names

    @property
    def config(self) -> dict[str, Any]:
        """The run's config, as wandb's API shows it: without ``_wandb``
        (``raw_config`` has it; ``charts`` reads the chart specs in it)."""
        return chart_schema.user_config(self._fold.config)

    @property
    def raw_config(self) -> dict[str, Any]:
        """The config as recorded: ``config`` and wandb's ``_wandb`` (chart specs)."""
        return self._fold.config

    @property
    def charts(self) -> dict[str, dict[str, Any]]:
        """The ``wandb.plot`` charts logged, by key: ``{"spec", "fields",
        "string_fields", "table_key"}`` (``runship.schema.charts``); a run
        written before runship took wandb's layout keeps a chart as a
        ``plot`` value under its key instead."""
        return chart_schema.charts(self._fold.config)

    @property
    def summary(self) -> dict[str, Any]:
        return self._fold.summary

    @property
    def meta(self) -> dict[str, Any]:
        """The run's metadata (name, notes, group, job_type, entity, tags):
        its writer's, with its annotations' name, tags and notes merged in."""
        merged = self._merged
        out = {k: v for k, v in self._fold.meta.items() if k not in ("name", "tags", "notes")}
        tags = list(merged.tags) if merged.tags or "tags" in self._fold.meta else None
        out.update({"name": merged.name, "tags": tags, "notes": merged.notes})
        return {k: v for k, v in out.items() if v is not None}  # no annotation: the writer's, as it wrote it

    @property
    def writer_meta(self) -> dict[str, Any]:
        """The metadata as the run's training process wrote it (no annotation applied)."""
        return self._fold.meta

    @property
    def annotation_records(self) -> list[dict[str, Any]]:
        """The run's annotations (checked records, in the order they apply)."""
        return self._annotations.records

    @property
    def annotations(self) -> int:
        """How many annotations were applied to the run's name, tags and notes."""
        return len(self._annotations.records)

    @property
    def metrics(self) -> Metrics:
        return self._fold.metrics

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return self._fold.alerts

    @property
    def saved_files(self) -> dict[str, dict[str, Any]]:
        return self._fold.saved_files

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        """The artifacts the run logged, in order: ``{"name", "type",
        "version", "aliases", "files", "t"}`` (``log_artifact``, and a
        ``run_table`` for each table logged, as wandb)."""
        return self._fold.artifacts

    @property
    def used_artifacts(self) -> list[dict[str, Any]]:
        """The artifact versions the run used, in order (``use_artifact``):
        ``{"name", "version", "project", "type", "digest", "place", "t"}``."""
        return self._fold.used

    @property
    def last_step(self) -> int | None:
        return self._fold.last_step

    @property
    def steps(self) -> int:
        return self._fold.steps

    @property
    def sessions(self) -> list[Session]:
        """The sessions the run's state comes from (after the last reset)."""
        return self._fold.sessions

    @property
    def all_sessions(self) -> list[Session]:
        return self._fold.all_sessions

    @property
    def rank_sessions(self) -> list[Session]:
        """A distributed job's ranks' sessions, folded apart from the run's."""
        return self._fold.rank_sessions

    @property
    def ranks(self) -> list[dict[str, Any]]:
        """The ranks of a distributed run, by rank: ``{"rank", "local_rank",
        "world_size", "node", "host", "pids", "sessions", "rows"}`` (empty
        for a run of one process). ``claims`` above 1 means several live
        processes said they were that rank of the same job."""
        return ranks_of([*self.sessions, *self.rank_sessions])

    # ---- identity and metadata -------------------------------------------------------
    @property
    def header(self) -> dict[str, Any]:
        for files in self._files.files.values():
            for sf in files:
                if sf.header:
                    return sf.header
        return {}

    @property
    def id(self) -> str:
        return self._names[1]

    @property
    def project(self) -> str:
        return self._names[0]

    def _check_names(self) -> None:
        """The run's project and id (``_names``): its directory's, checked
        against each stream header read so far. A header whose project or
        run fails the name validator is a problem of kind ``header-name``
        (corruption: no writer wrote it); one naming another run is a
        problem of kind ``header-mismatch`` (a note: a copied run is one).
        A header's name is taken only where the directory's is no name."""
        where = (self._files.source.parent_name, self._files.source.basename)
        names = list(where)
        problems: dict[str, Problem] = {}
        for files in self._files.files.values():
            for sf in files:
                for i, field_ in enumerate(("project", "run")):
                    said = (sf.header or {}).get(field_)
                    kind, why = _name_problem(said, where[i], field_)
                    if kind:
                        problems.setdefault(why, Problem(sf.path, 0, kind, why))
                    if kind == "header-mismatch" and not _valid_id(names[i]):
                        names[i] = str(said)
        self._names = (names[0], names[1])
        self.problems.extend(problems.values())

    @property
    def name(self) -> str:
        """The run's name: the last an annotation set, else its writer's, else its id."""
        return self._merged.name or self.id

    @property
    def tags(self) -> list[Any]:
        """The writer's tags with the annotations' added and removed."""
        return list(self._merged.tags)

    @property
    def notes(self) -> str | None:
        """The last notes an annotation set, else the writer's."""
        return self._merged.notes

    def __getattr__(self, key: str) -> Any:
        if key in ("group", "job_type", "entity"):
            return self._fold.meta.get(key)
        raise AttributeError(key)

    @property
    def next_step(self) -> int:
        """The step the run has reached: last logged step + 1 (0 if none)."""
        return 0 if self.last_step is None else self.last_step + 1

    @property
    def start_time(self) -> float | None:
        return self._fold.sessions[0].start_t if self._fold.sessions else None

    @property
    def last_write(self) -> float | None:
        times = [s.last_t for s in self._fold.all_sessions if s.last_t is not None]
        return max(times) if times else None

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self._fold.sessions)

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self._fold.sessions)

    @property
    def exit_code(self) -> int | None:
        if not self._fold.sessions or not self._fold.sessions[-1].finish:
            return None
        return self._fold.sessions[-1].finish.get("exit_code")

    @property
    def state(self) -> str:
        """ "running", "finished" (exit code 0), "failed" (a non-zero exit
        code: the script raised or called sys.exit(n)), "terminated" (by a
        signal) or "crashed" (no finish record and no write for longer than
        ``stale_after``: 3 heartbeat intervals + 2 flush intervals, 92 s with
        the default settings)."""
        if self.error is not None:
            return "unreadable"
        if not self._fold.sessions:
            return "empty"
        last = self._fold.sessions[-1]
        if last.finish is not None:
            if last.finish.get("exit_code") in (0, None):
                return "finished"
            return "terminated" if last.signal is not None else "failed"
        if last.signal is not None:
            return "terminated"
        now = time.time() if self._now is None else self._now
        if last.last_t is None or now - last.last_t > self.stale_after:
            return "crashed"
        return "running"

    @property
    def stale_after(self) -> float:
        if self._stale_after is not None:
            return self._stale_after
        settings = ((self._fold.sessions[-1].start or {}).get("settings") if self._fold.sessions else None) or {}
        hb = float(settings.get("heartbeat_interval") or 30.0)
        flush = float(settings.get("flush_interval") or 1.0)
        return 3 * hb + 2 * flush

    @property
    def environment(self) -> dict[str, Any] | None:
        """The newest session's environment record (host, user, packages, git, scheduler)."""
        for s in reversed(self._fold.sessions):
            if s.environment is not None:
                return {k: v for k, v in s.environment.items() if k not in ("k", "n")}
        return None

    def location_of(self, ref: object) -> str:
        """Full path (or URL) of a typed reference's file or of a run-relative path."""
        return self._files.source.join(self._relpath(ref))

    @staticmethod
    def _relpath(ref: object) -> str:
        rel = ref.get("path") if isinstance(ref, dict) else str(ref)
        try:
            return check_relpath(rel)
        except BadName as e:
            raise ValueError(f"not a file of the run: {e}") from None

    def open_file(self, rel: str) -> BinaryIO:
        """A binary file object of one of the run's files (``run.json``,
        ``files/...``), streamed from wherever the run is. Links and other
        files that are not regular are refused (OSError)."""
        return self._files.source.open(self._relpath(rel))

    def read_file(self, rel: str, limit: int = 256 * 1024 * 1024) -> bytes:
        """The bytes of one of the run's files (ValueError past ``limit``)."""
        return self._files.source.read(self._relpath(rel), limit)

    def load(self, ref: dict[str, Any]) -> Any:
        """Resolve a typed reference from a history row: a table's
        ``{"columns", "data"}``, the bytes of an image/audio/video file, or the
        histogram itself."""
        kind = ref.get("_type") if isinstance(ref, dict) else None
        if kind == "histogram":
            return ref
        if kind not in ("table-file", "image-file", "audio-file", "video-file"):
            raise ValueError(f"not a media reference: {ref!r:.200}")
        data = self.read_file(str(ref.get("path")))
        if kind == "table-file":
            import json

            return json.loads(data)
        return data

    def records(self, stream: str = fmt.RUN_STREAM) -> Iterator[dict[str, Any]]:
        """Every committed record of a stream, all sessions, in order."""
        for s in sessions_of(self._files.files.get(stream, [])):
            for sf in s.files:
                yield from self._files.records(sf)

    def verify(self) -> list[Problem]:
        """Read every stream file to the end; return every problem found."""
        problems: list[Problem] = []
        for files in self._files.files.values():
            for sf in files:
                for _ in self._files.records(sf):
                    pass
                problems.extend(sf.problems)
        self.problems = problems
        self._check_names()  # every file's header is read now
        return self.problems

    def to_dict(self) -> dict[str, Any]:
        ranks = self.ranks
        return {
            **{name: getattr(self, name) for name in _DICT_FIELDS},
            "sessions": [s.to_dict() for s in self.all_sessions],
            **({"ranks": ranks} if ranks else {}),
            **({"charts": shown} if (shown := self.charts) else {}),
            "environment": self.environment,
            "problems": [p.to_dict() for p in self.problems],
        }

    def __repr__(self) -> str:
        return f"<RunView {self.project}/{self.id} {self.state} steps={self.steps}>"


def _valid_id(value: object) -> bool:
    try:
        check_id(value, "name")
    except BadName:
        return False
    return True


def _name_problem(said: object, directory: str, field_: str) -> tuple[str, str]:
    """(kind, what is wrong) of the project or run a stream header names,
    ("", "") when it names none or the directory's."""
    if not said or said == directory:
        return "", ""
    try:
        check_id(said, f"the stream header's {field_}")
    except BadName as e:
        return "header-name", f"{e} (the run is named by its directory)"
    return "header-mismatch", f"the stream header names {field_} {said!r}, not the directory's {directory!r}"


class _NoSource(NamedRun):
    """The source of a run directory that could not be opened: no files."""

    concurrent = False

    def __init__(self, location: str, project: str, run_id: str):
        self.location, self.project, self.run_id = location, project, run_id

    def names(self) -> list[str]:
        return []

    def kind(self, name: str) -> str:
        return "file"

    def size(self, name: str) -> int | None:
        return None

    def stamp(self, name: str, length: int) -> str | None:
        return None

    def open(self, name: str) -> BinaryIO:
        raise self._gone(name)

    def read(self, name: str, limit: int = 0) -> bytes:
        raise self._gone(name)

    def read_at(self, name: str, start: int, length: int) -> bytes:
        raise self._gone(name)

    def _gone(self, name: str) -> FileNotFoundError:
        return FileNotFoundError(f"{self.join(name)}: the run could not be read")


def unreadable_run(location: str, project: str, run_id: str, error: OSError) -> RunView:
    """A view of a run that could not be read (permission denied, ...): no
    records, ``state`` "unreadable", the reason in ``error`` and ``problems``."""
    view = RunView(_NoSource(str(location), project, run_id))
    view.error = error.strerror or str(error)
    view.problems.append(Problem(str(location), 0, "unreadable", f"cannot read the run: {view.error}"))
    return view


def open_run(
    location: str | os.PathLike[str],
    *,
    stale_after: float | None = None,
    now: float | None = None,
    strict: bool = False,
    storage_options: dict[str, Any] | None = None,
    cache: SegmentCache | str | bool | None = True,
    root: str | None = None,
) -> RunView:
    """Open a run directory (a local path or an fsspec URL) for reading.

    ``stale_after``: seconds without a write after which an unfinished run
    reads as crashed (default: 3 heartbeat intervals + 2 flush intervals, from
    the run's own settings). ``strict``: raise CorruptionError on corruption
    instead of reporting it in ``problems``. ``cache``: the columnar cache of
    decoded stream files (True: the default one, see ``runship.reader.cache``;
    a directory or a ``SegmentCache``; False: none; none either without the
    ``read`` extra, whose columns it holds). ``root``: the run root
    a local ``location`` (``root/project/run``) was named below: the project
    and run directories are entered without following a link (a linked one
    is not there: RunNotFound), so a name never leads out of its project.
    """
    return RunView(
        store.open_run(location, storage_options, root=root),
        stale_after=stale_after,
        now=now,
        strict=strict,
        cache=read_cache(cache),
    )
