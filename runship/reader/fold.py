"""Folding a run's stream files into its state: config, summary, metadata, sessions.

A run is the fold of its sessions in order (session ids sort by time). A
session that started with ``reset`` drops every earlier session from the
view (their bytes stay on disk). Within a session, a stream's segments are
read in order; each file contributes its committed records only. Rows are
folded by their effect (each key's last value, the summary ops a metric
definition asks for), known from the decoded segments without reading a
column where it can be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runship.reader.segments import RunFiles
from runship.reader.stream import Problem, StreamFile
from runship.schema import charts as chart_schema
from runship.schema import format as fmt
from runship.schema import limits
from runship.schema.metrics import Metrics, MetricSpec
from runship.schema.names import relpath_ok
from runship.schema.records import job_of, placement_of, rank_of

_META_KEYS = ("name", "notes", "group", "job_type", "entity", "tags")


@dataclass
class Session:
    id: str
    files: list[StreamFile] = field(default_factory=list)
    start: dict[str, Any] | None = None
    finish: dict[str, Any] | None = None
    signal: dict[str, Any] | None = None
    start_t: float | None = None
    last_t: float | None = None
    rows: int = 0
    lost: int = 0
    dropped: int = 0
    runtime_base: float = 0.0
    dropped_by_reset: bool = False
    environment: dict[str, Any] | None = None
    saved_files: dict[str, dict[str, Any]] = field(default_factory=dict)  # of a rank's session
    shifted_by: int = 0  # a blind session's steps, moved on after the sessions before it

    @property
    def placement(self) -> dict[str, Any] | None:
        """Where the session's process stood in a distributed job (rank,
        local_rank, world_size, node, source, job), None outside one."""
        return placement_of(self.start)

    @property
    def blind(self) -> bool:
        """Started with resume="allow" where no earlier session could be seen."""
        return bool(self.start and self.start.get("blind"))

    @property
    def reset(self) -> bool:
        return bool(self.start and self.start.get("reset"))

    def to_dict(self) -> dict[str, Any]:
        start = self.start or {}
        return {
            "id": self.id,
            "host": start.get("host"),
            "pid": start.get("pid"),
            "resumed": start.get("resumed"),
            "reset": self.reset,
            "start": self.start_t,
            "last": self.last_t,
            "rows": self.rows,
            "exit_code": (self.finish or {}).get("exit_code"),
            "signal": (self.signal or {}).get("name"),
            "lost": self.lost,
            "dropped": self.dropped,
            "files": [f.name for f in self.files],
            "dropped_by_reset": self.dropped_by_reset,
            **({"placement": self.placement} if self.placement else {}),
            **({"blind": True, "shifted_by": self.shifted_by} if self.blind else {}),
        }


def sessions_of(files: list[StreamFile]) -> list[Session]:
    """A stream's files grouped by session, sessions in order."""
    by_id: dict[str, Session] = {}
    for sf in files:
        by_id.setdefault(sf.session, Session(sf.session)).files.append(sf)
    return [by_id[k] for k in sorted(by_id)]


_MAX_STEP = 2**63 - 1  # steps are int64 columns


def _apart(start: dict[str, Any] | None) -> bool:
    """A rank's session folded apart from the run's (rank other than 0, not shared)."""
    return rank_of(start) not in (None, 0) and not (placement_of(start) or {}).get("shared")


class Fold:
    """The run's state, folded from its run stream by ``run()``: ``config``,
    ``summary``, ``meta``, ``metrics``, ``alerts``, ``saved_files``,
    ``last_step`` and ``steps``, and its sessions (``sessions``: those the
    run's state comes from, after the last reset; ``all_sessions``;
    ``rank_sessions``: a distributed job's ranks folded apart). Values not
    kept (past ``limits.KEPT_ITEMS``) are noted in ``problems``."""

    def __init__(self, files: RunFiles, problems: list[Problem]):
        self._files = files
        self.problems = problems
        self.sessions: list[Session] = []
        self.all_sessions: list[Session] = []
        self.rank_sessions: list[Session] = []
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self._budget = limits.Budget()  # the maps and lists config and summary may hold, together
        self._held: dict[tuple[str, str], int] = {}
        self.metrics = Metrics()
        self.last_step: int | None = None
        self.steps = 0
        self.alerts: list[dict[str, Any]] = []
        self.saved_files: dict[str, dict[str, Any]] = {}
        self.artifacts: list[dict[str, Any]] = []
        self.used: list[dict[str, Any]] = []

    def run(self) -> None:
        """One pass over the run stream's sessions in order. A session that
        starts with ``reset`` clears everything folded before it. Sessions
        of a distributed job's ranks other than 0 are folded apart: their
        rows, config and summary are theirs, not the run's."""
        self._files.prefetch()
        sessions = sessions_of(self._files.files.get(fmt.RUN_STREAM, []))
        self.all_sessions = sessions
        self._reset_state()
        kept_from = 0
        base = 0.0
        primary: list[Session] = []
        apart: list[Session] = []
        for s in sessions:
            if _apart(self._first_start(s)):
                self._fold_apart(s)
                apart.append(s)
                continue
            i = len(primary)
            primary.append(s)
            self._shift_blind(s)
            self._fold_session(s, base)
            if s.reset:
                for old in primary[:i]:
                    old.dropped_by_reset = True
                job = job_of(s.start)
                for old in apart:  # an earlier job's ranks go with it; this job's ranks stay
                    if job_of(old.start) != job or job is None:
                        old.dropped_by_reset = True
                kept_from = i
                base = 0.0
                self._reset_state()
                self._fold_session(s, base, again=True)
            if s.start_t is not None and s.last_t is not None:
                base += max(0.0, s.last_t - s.start_t)
        self.sessions = primary[kept_from:]
        self.rank_sessions = [s for s in apart if not s.dropped_by_reset]
        for s in self.rank_sessions:
            self.saved_files.update(s.saved_files)

    def _shift_blind(self, s: Session) -> None:
        """A blind session (resumed where it could not see the sessions
        before it: a requeue onto a node with a fresh root) counted its
        steps from 0; they go on after the last step before it. So do those
        of a session that resumed one (it started from a step at or below
        the last one before it). Not those of a session that logged with
        explicit ``step=`` (it said so): they are kept as logged."""
        start = self._first_start(s) or {}
        if rank_of(start) not in (None, 0):
            return  # a shared rank's rows count their own steps
        first = start.get("first_step", 0)
        if self.last_step is None or start.get("reset") or not isinstance(first, int) or isinstance(first, bool):
            return
        if not (start.get("blind") or (start.get("resumed") and "first_step" in start)) or first > self.last_step:
            return
        records = [rec for sf in s.files for _, rec in self._files.segment(sf).records]
        if any(rec["k"] == fmt.META and rec.get("explicit_steps") for rec in records):
            return
        by = self.last_step + 1 - first
        ends = [seg.last_step for sf in s.files if (seg := self._files.segment(sf)).last_step is not None]
        if first < 0 or max(ends, default=0) + by >= _MAX_STEP:
            return  # a start record no writer makes (steps would leave int64): its steps as logged
        s.shifted_by = by
        for sf in s.files:
            self._files.shifts[sf.name] = s.shifted_by

    def _first_start(self, s: Session) -> dict[str, Any] | None:
        """A session's start record, from its first file (no column is read)."""
        if not s.files:
            return None
        for _, rec in self._files.segment(s.files[0]).records:
            if rec["k"] == fmt.START:
                return rec
        return None

    def _fold_apart(self, s: Session) -> None:
        """Fold a rank's session on its own: the run's state is left as it was."""
        kept = (self.config, self.summary, self.meta, self.metrics, self.last_step, self.steps)
        kept_more = (self.alerts, self.saved_files, self.artifacts, self.used, self._budget, self._held)
        self._reset_state()
        self._fold_session(s, 0.0)
        s.saved_files = self.saved_files
        self.config, self.summary, self.meta, self.metrics, self.last_step, self.steps = kept
        self.alerts, self.saved_files, self.artifacts, self.used, self._budget, self._held = kept_more

    def _reset_state(self) -> None:
        self.config, self.summary, self.meta = {}, {}, {}
        self._budget = limits.Budget()  # the maps and lists config and summary may hold, together
        self._held = {}
        self.metrics = Metrics()
        self.last_step, self.steps = None, 0
        self.alerts = []
        self.saved_files = {}
        self.artifacts = []
        self.used = []

    def _fold_session(self, s: Session, runtime_base: float, again: bool = False) -> None:
        """Fold one session's run stream into the run's state and fill ``s``:
        each stream file's other records in order, and between them the
        effect of its rows (their last values, known without reading a
        column unless a metric definition asks for a summary op)."""
        if again:  # a reset session is read a second time, on a clean slate
            s.start = s.finish = s.signal = s.environment = None
            s.start_t = s.last_t = None
            s.rows = s.lost = s.dropped = 0
        s.runtime_base = runtime_base
        for sf in s.files:
            seg = self._files.segment(sf)
            if s.start_t is None and seg.first_t is not None:
                s.start_t = seg.first_t
            if seg.last_t is not None and (s.last_t is None or seg.last_t > s.last_t):
                s.last_t = seg.last_t
            done = 0
            for pos, rec in seg.records:
                if pos > done:
                    self._fold_rows(sf, done, pos)
                    done = pos
                self._fold_record(s, rec)
            if seg.rows > done:
                self._fold_rows(sf, done, seg.rows)
            if seg.last_step is not None:
                self.last_step = seg.last_step + self._files.shifts.get(sf.name, 0)
            s.rows += seg.rows
            self.steps += seg.rows

    def _fold_rows(self, sf: StreamFile, start: int, stop: int) -> None:
        """Rows [start, stop) of a file into the summary: each key's last
        value, or for a key whose metric definition asks for summary ops,
        their aggregate over every row so far (as the writer's run.summary)."""
        lasts = self._files.last_values(sf, start, stop)
        self._keep(self.summary, "summary", lasts)
        if not any(spec.summary is not None for spec in self.metrics.specs):
            return
        specced = [k for k in lasts if (spec := self.metrics.spec_for(k)) is not None and spec.summary is not None]
        if not specced:
            return
        values = self._files.present(sf, specced, start, stop)
        for key in specced:
            self.metrics.observe_many(key, values[key], self.summary)

    def _keep(self, target: dict[str, Any], what: str, values: dict[str, Any]) -> None:
        """``target.update(values)`` while config and summary hold at most
        ``limits.KEPT_ITEMS`` values in their maps and lists together; a
        value past that is ``limits.NOT_KEPT`` (and said, once)."""
        budget, held = self._budget, self._held
        for key, value in values.items():
            budget.give(held.pop((what, key), 0))
            n = budget.take(value)
            if n is None or (type(value) is str and value == limits.NOT_KEPT):
                value = limits.NOT_KEPT
                if not any(p.kind == "not-kept" and p.path == what for p in self.problems):
                    message = (
                        f"values of {what} not kept: past {limits.KEPT_ITEMS} values, what a reader keeps of a run"
                    )
                    self.problems.append(Problem(what, 0, "not-kept", message))
            elif n:
                held[(what, key)] = n
            target[key] = value

    def _fold_record(self, s: Session, r: dict[str, Any]) -> None:
        """One record other than a row (its shape was checked)."""
        kind, t = r["k"], r["t"]
        config, summary, meta, metrics = self.config, self.summary, self.meta, self.metrics
        if kind == fmt.CONFIG:
            self._keep(config, "config", chart_schema.update_config(config, r["d"]))
        elif kind == fmt.SUMMARY:
            self._keep(summary, "summary", r.get("d") or {})
            for key in r.get("del") or ():
                summary.pop(key, None)
                self._budget.give(self._held.pop(("summary", key), 0))
        elif kind == fmt.METRIC:
            try:
                spec = MetricSpec.from_record(r)
            except Exception:
                return  # a definition this reader cannot use: ignore it
            if spec.name not in metrics and (
                len(metrics) >= limits.KEPT_METRICS
                or (spec.name.endswith("*") and metrics.globs >= limits.KEPT_METRIC_GLOBS)
            ):
                if not any(p.kind == "not-kept" and p.path == "metrics" for p in self.problems):
                    message = (
                        f"metric definitions not kept: past {limits.KEPT_METRICS} names "
                        f"({limits.KEPT_METRIC_GLOBS} globs), what a reader keeps of a run"
                    )
                    self.problems.append(Problem("metrics", 0, "not-kept", message))
                return
            metrics.define(spec)
        elif kind == fmt.START and s.start is None:
            s.start = r
            s.start_t = t
            meta.update({k: r[k] for k in _META_KEYS if r.get(k) not in (None, [], ())})
        elif kind == fmt.META:
            meta.update({k: r[k] for k in _META_KEYS if k in r})
        elif kind == fmt.FILE:
            self.saved_files[r["path"]] = r
        elif kind == fmt.ALERT:
            self.alerts.append(r)
        elif kind == fmt.ARTIFACT:
            art = artifact_of(r)
            if art is not None and len(self.artifacts) < limits.KEPT_ARTIFACTS:
                self.artifacts.append(art)
        elif kind == fmt.USE:
            use = use_of(r)
            if use is not None and len(self.used) < limits.KEPT_ARTIFACTS:
                self.used.append(use)
        elif kind == fmt.ENVIRONMENT:
            s.environment = r
        elif kind == fmt.FINISH:
            s.finish = r
        elif kind == fmt.SIGNAL:
            s.signal = r
        elif kind == fmt.LOSS:
            s.lost += int(r.get("lost") or 0)
            s.dropped += int(r.get("dropped") or 0)


def artifact_of(r: dict[str, Any]) -> dict[str, Any] | None:
    """What an ``artifact`` record says (name, type, version, aliases,
    files), its shape checked (a crafted record is not trusted); None if it
    names no artifact."""
    name, type_, version = r.get("name"), r.get("type"), r.get("version")
    if not isinstance(name, str) or not 0 < len(name) <= limits.MAX_ARTIFACT_NAME or not isinstance(type_, str):
        return None
    words = [a for a in r.get("aliases") or () if isinstance(a, str)] if isinstance(r.get("aliases"), list) else []
    files = [f for f in r.get("files") or () if relpath_ok(f)] if isinstance(r.get("files"), list) else []
    digest = r.get("digest")
    return {
        "name": name,
        "type": type_[: limits.MAX_ARTIFACT_NAME],
        "version": version if isinstance(version, str) else None,
        "aliases": words[:100],
        "files": files[: limits.KEPT_ARTIFACT_FILES],
        "t": r.get("t"),
        "stored": r.get("stored") is True,
        "digest": digest if isinstance(digest, str) and len(digest) == 64 else None,
    }


def use_of(r: dict[str, Any]) -> dict[str, Any] | None:
    """What a ``use`` record says (name, version, project, type, digest,
    place), each field's shape checked; None if it names no version."""
    name, version = r.get("name"), r.get("version")
    if not isinstance(name, str) or not 0 < len(name) <= limits.MAX_ARTIFACT_NAME or not isinstance(version, str):
        return None
    out: dict[str, Any] = {"name": name, "version": version[:32], "t": r.get("t")}
    for key in ("project", "type", "digest", "place"):
        value = r.get(key)
        out[key] = value[: limits.MAX_ARTIFACT_NAME] if isinstance(value, str) else None
    return out


def ranks_of(sessions: list[Session]) -> list[dict[str, Any]]:
    """The ranks the sessions of a distributed run were, by rank (see ``RunView.ranks``)."""
    out: dict[int, dict[str, Any]] = {}
    for s in sessions:
        p = s.placement
        rank = rank_of(s.start)
        if p is None or rank is None:
            continue
        start = s.start or {}
        r = out.setdefault(
            rank,
            {
                "rank": rank,
                "local_rank": p.get("local_rank"),
                "world_size": p.get("world_size"),
                "node": p.get("node"),
                "host": start.get("host"),
                "pids": [],
                "sessions": [],
                "rows": 0,
                "claims": 0,
            },
        )
        r["pids"].append(start.get("pid"))
        r["sessions"].append(s.id)
        r["rows"] += s.rows
        r["node"] = p.get("node")
    for r in out.values():
        r["claims"] = _overlapping([s for s in sessions if s.id in r["sessions"]])
    return [out[k] for k in sorted(out)]


def _overlapping(sessions: list[Session]) -> int:
    """The most sessions among these that ran at one time (two processes
    that claimed one rank at once give 2)."""
    spans = sorted((s.start_t, s.last_t) for s in sessions if s.start_t is not None and s.last_t is not None)
    most, ends = (1 if sessions else 0), list[float]()
    for start, end in spans:
        ends = [e for e in ends if e >= start] + [end]
        most = max(most, len(ends))
    return most
