"""Folding a run directory's streams into run state and history.

A run is the fold of its sessions in order (session ids sort by time). A
session that started with ``reset`` drops every earlier session from the
view (their bytes stay on disk). Within a session, a stream's segments are
read in order; each file contributes its committed records only.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from runship import store
from runship.errors import CorruptionError
from runship.reader.cache import CacheDamaged, SegmentCache, commit_at, identity, probe, resolve_cache, tail_after
from runship.reader.columns import (
    KEY_PREFIX,
    Columns,
    Segment,
    decode_segment,
    empty_segment,
    present_values,
    rows_of,
)
from runship.reader.history import DERIVED_X, Part, Stack, derived, frame, key_arrays, matching, rows_at, sample
from runship.reader.stream import Problem, StreamFile, describe, iter_records
from runship.safefile import NotRegular
from runship.schema import format as fmt
from runship.schema import limits
from runship.schema.metrics import Metrics, MetricSpec
from runship.schema.names import BadName, check_id, check_relpath
from runship.schema.records import job_of as _job_of
from runship.schema.records import placement_of
from runship.schema.records import rank_of as _rank_of
from runship.store import RunSource
from runship.store.protocol import NamedRun

_META_KEYS = ("name", "notes", "group", "job_type", "entity", "tags")
CACHE_LIVE_BYTES = 8 * 1024 * 1024  # a file still being written is cached once it holds this much


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


_MAX_STEP = 2**63 - 1  # steps are int64 columns


def _apart(start: dict[str, Any] | None) -> bool:
    """A rank's session folded apart from the run's (rank other than 0, not shared)."""
    return _rank_of(start) not in (None, 0) and not (placement_of(start) or {}).get("shared")


class RunView:
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
        self._strict = strict
        self._stale_after = stale_after
        self._now = now
        self.problems: list[Problem] = []
        self.files: dict[str, list[StreamFile]] = {}
        self.other_names: list[str] = []
        for name in source.names():
            sf = describe(source.join(name))
            if sf is None:
                self.other_names.append(name)
                continue
            self.files.setdefault(sf.stream, []).append(sf)
        for files in self.files.values():
            files.sort(key=lambda f: (f.session, f.segment))
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self._budget: limits.Budget = limits.Budget()
        self._held: dict[tuple[str, str], int] = {}
        self.last_step: int | None = None
        self.steps = 0
        self.metrics = Metrics()
        self.alerts: list[dict[str, Any]] = []
        self.saved_files: dict[str, dict[str, Any]] = {}
        self.rank_sessions: list[Session] = []
        self._shifts: dict[str, int] = {}  # file -> what its steps move by (a blind session's)
        self._shifted: dict[str, _Shifted] = {}
        self._cache = cache
        self._segments: dict[str, Segment] = {}
        self._names = (source.parent_name, source.basename)
        self._fold()

    # ---- reading -------------------------------------------------------------
    def _records(self, sf: StreamFile) -> Iterator[dict[str, Any]]:
        sf.reset()
        try:
            f = self._source.open(sf.name)
        except NotRegular as e:
            sf.add(0, "not-regular", f"not a regular file ({e.kind}): not read")
            return
        except OSError as e:
            sf.add(0, "unreadable", f"cannot read: {e.strerror or e}")
            return
        with f:
            try:
                yield from iter_records(f, sf)
            except OSError as e:  # the storage failed part-way (a vanished file, a network error)
                sf.add(sf.committed, "unreadable", f"reading stopped: {e.strerror or e}")
        if self._strict:
            for p in sf.problems:
                if p.is_corruption:
                    raise CorruptionError(p.path, p.offset, p.message)

    def _sessions(self, stream: str) -> list[Session]:
        by_id: dict[str, Session] = {}
        for sf in self.files.get(stream, []):
            by_id.setdefault(sf.session, Session(sf.session)).files.append(sf)
        return [by_id[k] for k in sorted(by_id)]

    def _prefetch(self) -> None:
        """Read a remote run's run stream files several at once (each is a
        few requests: cache probes, or the whole file)."""
        todo = [sf for sf in self.files.get(fmt.RUN_STREAM, []) if sf.name not in self._segments]
        if not self._source.concurrent or len(todo) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            segments = list(pool.map(lambda sf: self._read_segment(sf, self._cache), todo))
        for sf, seg in zip(todo, segments):
            self._segments[sf.name] = seg
            self._check_strict(sf)

    def _check_strict(self, sf: StreamFile) -> None:
        if self._strict:
            for p in sf.problems:
                if p.is_corruption:
                    raise CorruptionError(p.path, p.offset, p.message)

    def _fold(self) -> None:
        """One pass over the run stream's sessions in order. A session that
        starts with ``reset`` clears everything folded before it. Sessions
        of a distributed job's ranks other than 0 are folded apart: their
        rows, config and summary are theirs, not the run's."""
        self._prefetch()
        sessions = self._sessions(fmt.RUN_STREAM)
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
                job = _job_of(s.start)
                for old in apart:  # an earlier job's ranks go with it; this job's ranks stay
                    if _job_of(old.start) != job or job is None:
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
        for files in self.files.values():
            for sf in files:
                self.problems.extend(sf.problems)
        self._check_names()

    def _shift_blind(self, s: Session) -> None:
        """A blind session (resumed where it could not see the sessions
        before it: a requeue onto a node with a fresh root) counted its
        steps from 0; they go on after the last step before it. So do those
        of a session that resumed one (it started from a step at or below
        the last one before it). Not those of a session that logged with
        explicit ``step=`` (it said so): they are kept as logged."""
        start = self._first_start(s) or {}
        if _rank_of(start) not in (None, 0):
            return  # a shared rank's rows count their own steps
        first = start.get("first_step", 0)
        if self.last_step is None or start.get("reset") or not isinstance(first, int) or isinstance(first, bool):
            return
        if not (start.get("blind") or (start.get("resumed") and "first_step" in start)) or first > self.last_step:
            return
        records = [rec for sf in s.files for _, rec in self._segment(sf).records]
        if any(rec["k"] == fmt.META and rec.get("explicit_steps") for rec in records):
            return
        by = self.last_step + 1 - first
        ends = [seg.last_step for sf in s.files if (seg := self._segment(sf)).last_step is not None]
        if first < 0 or max(ends, default=0) + by >= _MAX_STEP:
            return  # a start record no writer makes (steps would leave int64): its steps as logged
        s.shifted_by = by
        for sf in s.files:
            self._shifts[sf.name] = s.shifted_by

    def _first_start(self, s: Session) -> dict[str, Any] | None:
        """A session's start record, from its first file (no column is read)."""
        if not s.files:
            return None
        for _, rec in self._segment(s.files[0]).records:
            if rec["k"] == fmt.START:
                return rec
        return None

    def _fold_apart(self, s: Session) -> None:
        """Fold a rank's session on its own: the run's state is left as it was."""
        kept = (self.config, self.summary, self.meta, self.metrics, self.last_step, self.steps)
        kept_more = (self.alerts, self.saved_files, self._budget, self._held)
        self._reset_state()
        self._fold_session(s, 0.0)
        s.saved_files = self.saved_files
        self.config, self.summary, self.meta, self.metrics, self.last_step, self.steps = kept
        self.alerts, self.saved_files, self._budget, self._held = kept_more

    def _reset_state(self) -> None:
        self.config, self.summary, self.meta = {}, {}, {}
        self._budget = limits.Budget()  # the maps and lists config and summary may hold, together
        self._held = {}
        self.metrics = Metrics()
        self.last_step, self.steps = None, 0
        self.alerts = []
        self.saved_files = {}

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
            seg = self._segment(sf)
            if s.start_t is None and seg.first_t is not None:
                s.start_t = seg.first_t
            if seg.last_t is not None and (s.last_t is None or seg.last_t > s.last_t):
                s.last_t = seg.last_t
            done = 0
            for pos, rec in seg.records:
                if pos > done:
                    self._fold_rows(sf, seg, done, pos)
                    done = pos
                self._fold_record(s, rec)
            if seg.rows > done:
                self._fold_rows(sf, seg, done, seg.rows)
            if seg.last_step is not None:
                self.last_step = seg.last_step + self._shifts.get(sf.name, 0)
            s.rows += seg.rows
            self.steps += seg.rows

    def _fold_rows(self, sf: StreamFile, seg: Segment, start: int, stop: int) -> None:
        """Rows [start, stop) of a file into the summary: each key's last
        value, or for a key whose metric definition asks for summary ops,
        their aggregate over every row so far (as the writer's run.summary)."""
        try:
            lasts = seg.last_values(start, stop)
        except CacheDamaged:
            lasts = self._columns(sf, None).last_values(start, stop)
        self._keep(self.summary, "summary", lasts)
        if not any(spec.summary is not None for spec in self.metrics.specs):
            return
        specced = [k for k in lasts if (spec := self.metrics.spec_for(k)) is not None and spec.summary is not None]
        if not specced:
            return
        cols = self._columns(sf, [KEY_PREFIX + k for k in specced])
        for key in specced:
            self.metrics.observe_many(key, present_values(cols.named(KEY_PREFIX + key), start, stop), self.summary)

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
            self._keep(config, "config", r["d"])
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
        elif kind == fmt.ENVIRONMENT:
            s.environment = r
        elif kind == fmt.FINISH:
            s.finish = r
        elif kind == fmt.SIGNAL:
            s.signal = r
        elif kind == fmt.LOSS:
            s.lost += int(r.get("lost") or 0)
            s.dropped += int(r.get("dropped") or 0)

    def _segment(self, sf: StreamFile) -> Segment:
        """A run stream file, decoded (once per view): from the columnar
        cache where it holds the file's committed prefix, with anything
        written since decoded after it."""
        seg = self._segments.get(sf.name)
        if seg is None:
            seg = self._segments[sf.name] = self._read_segment(sf, self._cache)
            self._check_strict(sf)
        return seg

    def _columns(self, sf: StreamFile, wanted: list[str] | None) -> Columns:
        """A file's columns with ``wanted`` (default: all) read. A cache
        entry that fails a check is replaced by the file decoded again (the
        same rows: the view does not move on)."""
        seg = self._segment(sf)
        try:
            seg.columns.load(seg.columns.names if wanted is None else wanted)
        except CacheDamaged:
            scratch = replace(sf, problems=[], ends=None)
            fresh = self._read_segment(scratch, None)
            seg.columns = Columns(fresh.columns.whole().slice(0, seg.rows))
        by = self._shifts.get(sf.name)
        if by:
            shifted = self._shifted.get(sf.name)
            if shifted is None or shifted.inner is not seg.columns:
                shifted = self._shifted[sf.name] = _Shifted(seg.columns, by)
            return shifted
        return seg.columns

    def _read_segment(self, sf: StreamFile, cache: SegmentCache | None) -> Segment:
        sf.reset()
        sf.header = None
        size = self._source.size(sf.name)
        hit = None
        access = _Access(self._source, sf.name)
        if cache is not None and size is not None:
            if self._source.concurrent and size <= SMALL_REMOTE_FILE:
                access.whole = size  # one request when the file must be read, not three
            try:
                hit = self._lookup(sf, size, cache, access)
            except OSError:
                hit = None  # the file is opened below, which says what is wrong with it
            if hit is not None and hit[1] == size:
                sf.size = size
                return hit[0]  # all of it cached: the file is not even opened
        try:
            f = access.open()
        except NotRegular as e:
            sf.reset()
            sf.add(0, "not-regular", f"not a regular file ({e.kind}): not read")
            return empty_segment()
        except OSError as e:
            sf.reset()
            sf.add(0, "unreadable", f"cannot read: {e.strerror or e}")
            return empty_segment()
        with f:
            try:
                return self._decode(f, sf, cache, hit)
            except OSError as e:  # the storage failed part-way (a vanished file, a network error)
                sf.reset()
                sf.add(0, "unreadable", f"reading stopped: {e.strerror or e}")
                return empty_segment()

    def _lookup(
        self, sf: StreamFile, size: int, cache: SegmentCache, access: _Access
    ) -> tuple[Segment, int, str] | None:
        """(segment, committed length, identity) of the longest cache entry
        for the file's committed prefix (its header and the commit record at
        that length read as two small ranges; nothing at all when the file is
        as it was when last read: same stamp), with ``sf`` filled from it."""
        index = cache.index()
        known = index.seen(self._source.join(sf.name)) if index is not None else None
        if known is not None and known[2] <= size and self._source.stamp(sf.name, known[2]) == known[0]:
            try:
                seg = cache.load(known[1], known[2], None, sf)
            except CacheDamaged:
                seg = None
            if seg is not None:
                return seg, known[2], known[1]
            sf.reset()
            sf.header = None
        ident = identity(access.read_at(0, min(size, 4096)), sf)
        if ident is None and size > 4096:  # a header record larger than most
            ident = identity(access.read_at(0, min(size, limits.SMALL_RECORD)), sf)
        if ident is None:
            return None
        for length in cache.lengths(ident):
            if length > size or length < fmt.COMMIT_SIZE:
                continue
            commit = access.read_at(length - fmt.COMMIT_SIZE, fmt.COMMIT_SIZE)
            try:
                seg = cache.load(ident, length, commit, sf)
            except CacheDamaged:
                continue
            if seg is not None and self._same_bytes(sf, seg, ident, length, cache, access):
                return seg, length, ident
            sf.reset()
            sf.header = None
            identity(access.read_at(0, min(size, limits.SMALL_RECORD)), sf)
        return None

    def _same_bytes(
        self, sf: StreamFile, seg: Segment, ident: str, length: int, cache: SegmentCache, access: _Access
    ) -> bool:
        """Are the file's first ``length`` bytes still those the entry was
        made of? Yes when the file is as it was last checked (its stamp:
        size, time, inode, or an object's ETag); else each of its batches is
        checked against its commit record again (reading, not decoding)."""
        stamp = self._source.stamp(sf.name, length)
        index = cache.index()
        if stamp is None or index is None:
            return True  # a server's file: its commit record at ``length`` is all there is to go by
        where = self._source.join(sf.name)
        if index.seen(where) == (stamp, ident, length):
            return True
        if seg.ends is None or seg.damaged or not seg.ends or seg.ends[-1] != length:
            return False  # decoded again: nothing to check it by
        if not _batches_hold(access, seg.ends):
            return False
        index.see(where, stamp, ident, length)
        return True

    def _decode(
        self, f: BinaryIO, sf: StreamFile, cache: SegmentCache | None, hit: tuple[Segment, int, str] | None
    ) -> Segment:
        size = self._source.size(sf.name)
        if size is None:
            size = f.seek(0, io.SEEK_END)
        if cache is None:
            f.seek(0)
            return decode_segment(f, sf)
        seg: Segment | None = None
        cached = 0
        if hit is not None:
            seg, cached, ident = hit
            sf.size = size
            if size > cached:  # written since: decoded from there
                f.seek(cached)
                sf.ends = list(seg.ends) if seg.ends is not None else None
                sf.kept = limits.count_items([rec for _, rec in seg.records], limits.KEPT_ITEMS)
                tail = decode_segment(f, sf, start=cached, header=sf.header)
                if tail.rows or tail.records:
                    try:
                        seg = tail_after(seg, tail)
                    except CacheDamaged:
                        seg = None
        else:
            ident_or_none = identity(probe(f, size)[0], sf)
            if ident_or_none is None:  # a version 1 file: not cached
                sf.header = None
                f.seek(0)
                return decode_segment(f, sf)
            ident = ident_or_none
        if seg is None:
            sf.reset()
            sf.header = None
            f.seek(0)
            sf.ends = []  # kept in the entry, to check the file's bytes against later
            seg = decode_segment(f, sf)
            cached = 0
        worth = self._closed(sf, seg) or sf.committed - cached >= CACHE_LIVE_BYTES
        worth = worth and sf.committed > cached and sf.committed >= fmt.COMMIT_SIZE
        if worth and cache.store(ident, sf.committed, commit_at(f, sf.committed), seg, sf):
            stamp = self._source.stamp(sf.name, sf.committed)
            index = cache.index()
            if stamp is not None and index is not None:
                index.see(self._source.join(sf.name), stamp, ident, sf.committed)
        sf.ends = None
        return seg

    def _closed(self, sf: StreamFile, seg: Segment) -> bool:
        """Will the file's writer ever write to it again? Not once a later
        segment or session exists, or its session finished."""
        files = self.files.get(sf.stream, [])
        if files and (files[-1].session, files[-1].segment) != (sf.session, sf.segment):
            return True
        return any(rec["k"] == fmt.FINISH for _, rec in seg.records)

    # ---- identity and metadata -------------------------------------------------------
    @property
    def header(self) -> dict[str, Any]:
        for files in self.files.values():
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
        where = (self._source.parent_name, self._source.basename)
        names = list(where)
        problems: dict[str, Problem] = {}
        for files in self.files.values():
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
        return self.meta.get("name") or self.id

    @property
    def tags(self) -> list[Any]:
        return list(self.meta.get("tags") or [])

    def __getattr__(self, key: str) -> Any:
        if key in ("notes", "group", "job_type", "entity"):
            return self.meta.get(key)
        raise AttributeError(key)

    @property
    def next_step(self) -> int:
        """The step the run has reached: last logged step + 1 (0 if none)."""
        return 0 if self.last_step is None else self.last_step + 1

    @property
    def start_time(self) -> float | None:
        return self.sessions[0].start_t if self.sessions else None

    @property
    def last_write(self) -> float | None:
        times = [s.last_t for s in self.all_sessions if s.last_t is not None]
        return max(times) if times else None

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.sessions)

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self.sessions)

    # ---- state --------------------------------------------------------------------
    @property
    def exit_code(self) -> int | None:
        if not self.sessions or not self.sessions[-1].finish:
            return None
        return self.sessions[-1].finish.get("exit_code")

    @property
    def state(self) -> str:
        """ "running", "finished" (exit code 0), "failed" (a non-zero exit
        code: the script raised or called sys.exit(n)), "terminated" (by a
        signal) or "crashed" (no finish record and no write for longer than
        ``stale_after``: 3 heartbeat intervals + 2 flush intervals, 92 s with
        the default settings)."""
        if self.error is not None:
            return "unreadable"
        if not self.sessions:
            return "empty"
        last = self.sessions[-1]
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
        settings = ((self.sessions[-1].start or {}).get("settings") if self.sessions else None) or {}
        hb = float(settings.get("heartbeat_interval") or 30.0)
        flush = float(settings.get("flush_interval") or 1.0)
        return 3 * hb + 2 * flush

    # ---- history --------------------------------------------------------------------
    def scan_history(
        self,
        keys: Iterable[str] | None = None,
        stream: str = fmt.RUN_STREAM,
        match: str = "all",
        *,
        rank: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield history rows in order, each with ``_step``, ``_timestamp`` and
        ``_runtime``. With ``keys``, the rows that have all of them (as
        wandb's public API; ``match="any"``: at least one of them), holding
        only those keys (and ``_step``...). ``rank``: the rows a distributed
        job's rank logged (rank 0's are the run's history)."""
        wanted = list(keys) if keys is not None else None
        if match not in ("all", "any"):
            raise ValueError(f"match must be 'all' or 'any', got {match!r}")
        need = len(wanted) if wanted is not None and match == "all" else 1
        if stream != fmt.RUN_STREAM:
            yield from self._raw_history(stream, wanted, need)
            return
        for s in self._of_rank(rank):
            runtime = (s.runtime_base, s.start_t) if s.start_t is not None else None
            for sf in s.files:
                cols = self._columns(sf, ["_step", "_t", *(KEY_PREFIX + k for k in (wanted or []))] if wanted else None)
                yield from rows_of(cols, wanted, need, runtime=runtime)

    def _of_rank(self, rank: int | None) -> list[Session]:
        """The sessions whose rows are ``rank``'s (None or 0: the run's)."""
        if rank is None or rank == 0:
            return self.sessions
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise ValueError(f"rank must be a whole number, got {rank!r}")
        return [s for s in [*self.sessions, *self.rank_sessions] if _rank_of(s.start) == rank]

    @property
    def ranks(self) -> list[dict[str, Any]]:
        """The ranks of a distributed run, by rank: ``{"rank", "local_rank",
        "world_size", "node", "host", "pids", "sessions", "rows"}`` (empty
        for a run of one process). ``claims`` above 1 means several live
        processes said they were that rank of the same job."""
        out: dict[int, dict[str, Any]] = {}
        for s in [*self.sessions, *self.rank_sessions]:
            p = s.placement
            rank = _rank_of(s.start)
            if p is None or rank is None:
                continue
            r = out.setdefault(
                rank,
                {
                    "rank": rank,
                    "local_rank": p.get("local_rank"),
                    "world_size": p.get("world_size"),
                    "node": p.get("node"),
                    "host": (s.start or {}).get("host"),
                    "pids": [],
                    "sessions": [],
                    "rows": 0,
                    "claims": 0,
                },
            )
            r["pids"].append((s.start or {}).get("pid"))
            r["sessions"].append(s.id)
            r["rows"] += s.rows
            r["node"] = p.get("node")
        for r in out.values():
            r["claims"] = _overlapping([s for s in [*self.sessions, *self.rank_sessions] if s.id in r["sessions"]])
        return [out[k] for k in sorted(out)]

    def history_length(self) -> int:
        """How many history rows the run holds (no column is read)."""
        return sum(self._segment(sf).rows for s in self.sessions for sf in s.files)

    def _files_from(self, start: int) -> Iterator[tuple[Session, StreamFile, int, int]]:
        """(session, file, number of its first row in the run, its first row
        at or after ``start``) of each run stream file holding rows from
        ``start`` on."""
        at = 0
        for s in self.sessions:
            for sf in s.files:
                n = self._segment(sf).rows
                if at + n > start:
                    yield s, sf, at, max(0, start - at)
                at += n

    def history_tables(self, start: int = 0, keys: Iterable[str] | None = None) -> Iterator[tuple[int, Any]]:
        """The history from row number ``start`` on, as Arrow tables, one per
        stream file it spans: (the number of the table's first row, a table
        of ``_step``, ``_timestamp``, ``_runtime``, then one column per key
        (``keys``: only those), null where a row has none). Numbers, bools and
        text are Arrow's own types; any other value is msgpack-packed
        (``large_binary``). Only the files the rows are in are read: what an
        incremental export needs."""
        import pyarrow as pa

        from runship.reader import arrow

        wanted = None if keys is None else ["_step", "_t", *(KEY_PREFIX + k for k in keys)]
        for s, sf, at, lo in self._files_from(start):
            cols = self._columns(sf, wanted)
            names = cols.names if wanted is None else [n for n in wanted if n in cols.names]
            table = pa.table({n: cols.named(n) for n in names}).slice(lo)
            times = arrow.values(table.column("_t"))
            runtime = s.runtime_base + (times - s.start_t) if s.start_t is not None else times * float("nan")
            arrays = {
                "_step": table.column("_step"),
                "_timestamp": table.column("_t"),
                "_runtime": arrow.numbers(runtime, pa.float64()),
            }
            for n in names:
                if n.startswith(KEY_PREFIX):
                    arrays[n[len(KEY_PREFIX) :]] = table.column(n)
            yield at + lo, pa.table(arrays)

    def rows_from(self, start: int) -> Iterator[dict[str, Any]]:
        """History rows (as ``scan_history``) from row number ``start`` on;
        only the files they are in are read."""
        for s, sf, _, lo in self._files_from(start):
            runtime = (s.runtime_base, s.start_t) if s.start_t is not None else None
            cols = self._columns(sf, None)
            if lo:
                cols = Columns(cols.whole().slice(lo))
            yield from rows_of(cols, None, 1, runtime=runtime)

    def _raw_history(self, stream: str, wanted: list[str] | None, need: int) -> Iterator[dict[str, Any]]:
        for s in self._sessions(stream):
            for sf in s.files:
                for r in self._records(sf):
                    for d, step, t in fmt.rows_of_record(r):
                        if wanted is not None:
                            d = {k: d[k] for k in wanted if k in d}
                            if len(d) < need:
                                continue
                        yield {**d, "_step": step, "_timestamp": t}

    def history_keys(self) -> list[str]:
        """Every logged key of the history, in the order first logged (no
        column is read)."""
        keys: dict[str, None] = {}
        for s in self.sessions:
            for sf in s.files:
                keys.update(dict.fromkeys(self._segment(sf).columns.keys()))
        return list(keys)

    def _parts(self, keys: Iterable[str]) -> Stack:
        """Every run stream file's rows in order, with these keys' columns read."""
        wanted = ["_step", "_t", *(KEY_PREFIX + k for k in keys)]
        files = [(s, sf) for s in self.sessions for sf in s.files]
        return Stack([Part(self._columns(sf, wanted), s.runtime_base, s.start_t) for s, sf in files])

    def history(
        self,
        keys: Iterable[str] | None = None,
        match: str = "all",
        *,
        samples: int | None = None,
        x: str = "_step",
        xrange: tuple[float, float] | None = None,
        rank: int | None = None,
    ) -> list[dict[str, Any]]:
        """History rows (see ``scan_history``; ``rank``: a distributed job's
        rank's rows, not with ``samples``). With ``samples``: at most
        about that many points per key, keeping each x-bucket's first, last,
        minimum, maximum and first NaN (see ``runship.reader.history``); ``x``
        is ``_step``, ``_runtime``, ``_timestamp`` or a logged key (a step
        metric such as ``epoch``), ``xrange`` the (low, high) part of it."""
        if samples is None:
            if xrange is not None or x != "_step":
                raise ValueError("history(): x= and xrange= go with samples=")
            return list(self.scan_history(keys, match=match, rank=rank))
        if rank not in (None, 0):
            raise ValueError("history(): rank= does not go with samples= (a rank's rows are read whole)")
        wanted = self._sampled_keys(keys, x)
        parts = self._parts([*wanted, x])
        together = keys is not None and _match(match) == "all"
        rows, kept = sample(parts, wanted, _samples(samples), x, xrange, together)
        return list(rows_at(parts, rows, kept, x))

    def series(
        self,
        keys: Iterable[str],
        samples: int,
        *,
        x: str = "_step",
        xrange: tuple[float, float] | None = None,
    ) -> dict[str, tuple[Any, Any]]:
        """Per key, the points ``history(keys, match="any", samples=...)``
        keeps of it, as two numpy arrays (x, then float64 values; NaN stays
        NaN), for charts: no row is made. A key whose values are not all
        numbers has none; ``x`` and ``xrange`` as ``history``."""
        wanted = [k for k in dict.fromkeys(keys) if k != x]
        parts = self._parts([*wanted, x])
        _, kept = sample(parts, wanted, _samples(samples), x, xrange, False)
        xs = derived(parts, x) if x in DERIVED_X else key_arrays(parts, x)[1]
        out: dict[str, tuple[Any, Any]] = {}
        for key in wanted:
            values = key_arrays(parts, key)[1]
            if values is None or xs is None:
                continue
            rows = kept[key]
            out[key] = (xs[rows], values[rows])
        return out

    def _sampled_keys(self, keys: Iterable[str] | None, x: str) -> list[str]:
        if keys is None:
            return [k for k in self.history_keys() if k != x]
        return list(dict.fromkeys(keys))

    def history_df(
        self,
        keys: Iterable[str] | None = None,
        match: str = "all",
        *,
        samples: int | None = None,
        x: str = "_step",
        xrange: tuple[float, float] | None = None,
    ) -> Any:
        """The history as a pandas DataFrame, built from the columns: one
        column per key (NaN where a row has none), then _step, _timestamp
        and _runtime. ``keys``, ``match``, ``samples``, ``x`` and ``xrange``
        as ``history``."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError("history_df() needs pandas: pip install pandas") from None
        if match not in ("all", "any"):
            raise ValueError(f"match must be 'all' or 'any', got {match!r}")
        if samples is not None:
            wanted = self._sampled_keys(keys, x)
            parts = self._parts([*wanted, x])
            together = keys is not None and match == "all"
            rows, kept = sample(parts, wanted, _samples(samples), x, xrange, together)
            return frame(parts, wanted, rows, kept)
        if xrange is not None or x != "_step":
            raise ValueError("history_df(): x= and xrange= go with samples=")
        if keys is None:
            wanted = self.history_keys()
            return frame(self._parts(wanted), wanted, None)
        wanted = list(dict.fromkeys(keys))
        parts = self._parts(wanted)
        return frame(parts, wanted, matching(parts, wanted, len(wanted) if match == "all" else 1))

    # ---- system metrics, console, environment -------------------------------------------
    @property
    def environment(self) -> dict[str, Any] | None:
        """The newest session's environment record (host, user, packages, git, scheduler)."""
        for s in reversed(self.sessions):
            if s.environment is not None:
                return {k: v for k, v in s.environment.items() if k not in ("k", "n")}
        return None

    def _timed(
        self, stream: str, kind: str, rank: int | None = None, node: str | None = None
    ) -> Iterator[tuple[dict[str, Any], float | None, dict[str, Any] | None]]:
        """(record, its runtime, its session's placement) of ``kind`` in a
        stream, every kept session's (``rank``/``node``: that one's only)."""
        kept = {s.id: s for s in self.sessions}
        apart = {s.id: s for s in self.rank_sessions}
        dropped = {s.id for s in self.all_sessions if s.dropped_by_reset}
        for s in self._sessions(stream):
            run_session = kept.get(s.id)
            placed = run_session or apart.get(s.id)
            if placed is None and (s.id in dropped or (self.sessions and s.id < self.sessions[0].id)):
                continue  # before a reset
            placement = placed.placement if placed is not None else None
            if rank is not None and (_rank_of(placed.start if placed else None) or 0) != rank:
                continue
            if node is not None and (placement or {}).get("node") != node:
                continue
            for sf in s.files:
                for r in self._records(sf):
                    if r.get("k") != kind:
                        continue
                    t = r.get("t")
                    runtime = None  # a rank's session: from its own start
                    if placed is not None and placed.start_t is not None and isinstance(t, (int, float)):
                        runtime = placed.runtime_base + (t - placed.start_t)
                    yield r, runtime, placement

    def system(self, keys: Iterable[str] | None = None, *, node: str | None = None) -> Iterator[dict[str, Any]]:
        """System metrics samples: ``{"_timestamp", "_runtime", "cpu", ...}``;
        in a distributed run each sample names its node (``_node``), and
        ``node`` picks one."""
        wanted = list(keys) if keys is not None else None
        for r, runtime, placement in self._timed(fmt.SYSTEM_STREAM, fmt.STATS, node=node):
            d = r["d"]  # a stats record's shape was checked: a map
            if wanted is not None:
                d = {k: d[k] for k in wanted if k in d}
            where = {"_node": placement.get("node")} if placement else {}
            yield {"_timestamp": r.get("t"), "_runtime": runtime, **where, **d}

    def console(self, *, rank: int | None = None) -> Iterator[dict[str, Any]]:
        """Console lines: ``{"t", "stream": "stdout"|"stderr", "text"}``, in
        a distributed run with the ``rank`` that wrote each (``rank``: that
        rank's only), session after session."""
        for r, _, placement in self._timed(fmt.CONSOLE_STREAM, fmt.OUT, rank=rank):
            line = {"t": r.get("t"), "stream": r.get("s"), "text": r.get("text", "")}
            if placement is not None:
                line["rank"] = placement.get("rank")
            yield line

    # ---- media and files -------------------------------------------------------------
    def location_of(self, ref: object) -> str:
        """Full path (or URL) of a typed reference's file or of a run-relative path."""
        return self._source.join(self._relpath(ref))

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
        return self._source.open(self._relpath(rel))

    def read_file(self, rel: str, limit: int = 256 * 1024 * 1024) -> bytes:
        """The bytes of one of the run's files (ValueError past ``limit``)."""
        return self._source.read(self._relpath(rel), limit)

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
        for s in self._sessions(stream):
            for sf in s.files:
                yield from self._records(sf)

    # ---- integrity -------------------------------------------------------------------
    def verify(self) -> list[Problem]:
        """Read every stream file to the end; return every problem found."""
        problems: list[Problem] = []
        for files in self.files.values():
            for sf in files:
                for _ in self._records(sf):
                    pass
                problems.extend(sf.problems)
        self.problems = problems
        self._check_names()  # every file's header is read now
        return self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "project": self.project,
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "exit_code": self.exit_code,
            "entity": self.entity,
            "group": self.group,
            "job_type": self.job_type,
            "tags": self.tags,
            "notes": self.notes,
            "steps": self.steps,
            "last_step": self.last_step,
            "start_time": self.start_time,
            "last_write": self.last_write,
            "lost": self.lost,
            "dropped": self.dropped,
            "config": self.config,
            "summary": self.summary,
            "sessions": [s.to_dict() for s in self.all_sessions],
            **({"ranks": self.ranks} if self.ranks else {}),
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


def _match(match: str) -> str:
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', got {match!r}")
    return match


SMALL_REMOTE_FILE = 1 << 20  # a remote stream file this small is fetched whole at once


class _Access:
    """One stream file's bytes: from its source, or from memory once fetched."""

    def __init__(self, source: RunSource, name: str):
        self.source, self.name = source, name
        self.data: bytes | None = None
        self.whole = 0  # > 0: the first read fetches this many bytes, the whole file

    def read_at(self, start: int, length: int) -> bytes:
        if self.data is None and self.whole:
            self.data = self.source.read_at(self.name, 0, self.whole)
        if self.data is not None:
            return self.data[start : start + length]
        return self.source.read_at(self.name, start, length)

    def open(self) -> BinaryIO:
        if self.data is None and self.whole:
            self.data = self.source.read_at(self.name, 0, self.whole)
        return io.BytesIO(self.data) if self.data is not None else self.source.open(self.name)


def _batches_hold(access: _Access, ends: list[int]) -> bool:
    """Does each batch up to the last of ``ends`` still match its commit record?"""
    try:
        with access.open() as f:
            start = 0
            for end in ends:
                data = f.read(end - start)
                if len(data) != end - start:
                    return False
                cut = len(data) - fmt.COMMIT_SIZE
                if fmt.check_commit(fmt.FORMAT_VERSION, data[:cut], data[cut:]) is not None:
                    return False
                start = end
    except (OSError, ValueError):
        return False
    return True


def _samples(samples: int) -> int:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive number of points, got {samples!r}")
    return samples


class _NoSource(NamedRun):
    """The source of a run directory that could not be opened."""

    concurrent = False

    def __init__(self, location: str, project: str, run_id: str):
        self.location, self.project, self.run_id = location, project, run_id

    def names(self) -> list[str]:
        return []

    def kind(self, name: str) -> str:
        return "file"

    def size(self, name: str) -> int | None:
        return None

    def open(self, name: str) -> BinaryIO:
        raise FileNotFoundError(f"{self.location}/{name}: the run could not be read")

    def read(self, name: str, limit: int = 0) -> bytes:
        raise FileNotFoundError(f"{self.location}/{name}: the run could not be read")

    def read_at(self, name: str, start: int, length: int) -> bytes:
        raise FileNotFoundError(f"{self.location}/{name}: the run could not be read")

    def stamp(self, name: str, length: int) -> str | None:
        return None


class _Shifted(Columns):
    """A file's columns with its ``_step`` moved on by ``by`` (a blind session's)."""

    def __init__(self, inner: Columns, by: int):
        self.inner = inner
        self.by = by
        self.table = None
        self._names = inner.names
        self._rows = inner.rows
        self._present = {}
        self._step: Any = None

    def load(self, wanted: list[str]) -> None:
        self.inner.load(wanted)

    def release(self, name: str) -> None:
        self.inner.release(name)

    def named(self, name: str) -> Any:
        if name != "_step":
            return self.inner.named(name)
        if self._step is None:
            import pyarrow as pa

            from runship.reader import arrow

            self._step = pa.chunked_array(
                [arrow.numbers(arrow.values(self.inner.named("_step")) + self.by, pa.int64())]
            )
        return self._step

    def whole(self) -> Any:
        table = self.inner.whole()
        return table.set_column(table.column_names.index("_step"), "_step", self.named("_step"))


def _overlapping(sessions: list[Session]) -> int:
    """The most sessions among these that ran at one time (two processes
    that claimed one rank at once give 2)."""
    spans = sorted((s.start_t, s.last_t) for s in sessions if s.start_t is not None and s.last_t is not None)
    most, ends = (1 if sessions else 0), list[float]()
    for start, end in spans:
        ends = [e for e in ends if e >= start] + [end]
        most = max(most, len(ends))
    return most


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
    a directory or a ``SegmentCache``; False: none). ``root``: the run root
    a local ``location`` (``root/project/run``) was named below: the project
    and run directories are entered without following a link (a linked one
    is not there: RunNotFound), so a name never leads out of its project.
    """
    return RunView(
        store.open_run(location, storage_options, root=root),
        stale_after=stale_after,
        now=now,
        strict=strict,
        cache=resolve_cache(cache),
    )
