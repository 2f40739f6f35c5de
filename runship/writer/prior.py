"""What a resumed session continues from, read by the writer itself.

A primary session keeps its state beside its streams when it ends (at
``finish()``, and on SIGTERM when no ``log()`` was cut short): ``resume.state``
holds the next step, config, summary, metadata, metric definitions and their
running aggregates, and the size of every run stream file it had folded.
``init(resume=...)`` reads that file and then only the run stream records
written after it (the *tail*: the bytes past the sizes it names, and the
files of sessions it does not name), folded the way readers fold a run
(docs/FORMAT.md, "Sessions, resume and reset"). A run without the file (an
older writer's, or one whose every session was killed) is folded from its
first record. Nothing here uses the columnar reader, numpy, pyarrow or any
cache, and nothing is written outside the run directory.

The stream decoding is the format's framing, checked as readers check it
(length and CRC of each batch, the shape of each record); where a reader
would report a problem this stops reading the file, so a damaged run resumes
from its last readable step.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from runship import safefile
from runship.schema import charts as chart_schema
from runship.schema import format as fmt
from runship.schema import limits
from runship.schema.metrics import Metrics, MetricSpec
from runship.schema.records import placement_of, problem, rank_of

STATE = "resume.state"
_STATE_FORMAT = "runship-state"
_STATE_VERSION = 2  # 2: artifact versions kept (a state of 1 is folded again from the streams)
_STATE_LIMIT = 64 * 1024 * 1024
_META_KEYS = ("name", "notes", "group", "job_type", "entity", "tags")
_MAX_STEP = 2**63


# ---- a run stream file's committed records ------------------------------------------------
def _version(f: Any) -> int | None:
    """The format version in a stream file's header; None without one."""
    f.seek(0)
    try:
        head = next(msgpack.Unpacker(io.BytesIO(f.read(limits.SMALL_RECORD)), **limits.DECODE))
    except Exception:
        return None
    ok = type(head) is dict and head.get("k") == fmt.HEADER and type(head.get("version")) is int
    return int(head["version"]) if ok else None


def records(run_dir: str, name: str, start: int = 0, first: int | None = None) -> Iterator[dict[str, Any]]:
    """The committed data records of the stream file ``name`` from byte
    ``start`` (0, or the end of a commit record), header and commit records
    left out, bad records skipped; reading stops at the first damaged batch.
    The file is read as far as the caller takes records; ``first``: only
    the first that many records of the batch they begin (the rest of the
    batch is checked, not decoded)."""
    try:
        f = safefile.open_file(run_dir, name)
    except OSError:
        return
    with f:
        version = _version(f)
        if version is None or version > fmt.FORMAT_VERSION:
            return
        f.seek(start)
        yield from _committed(f, version, start == 0, first)


def _committed(f: Any, version: int, header: bool, first: int | None) -> Iterator[dict[str, Any]]:
    u = msgpack.Unpacker(max_buffer_size=limits.MAX_RECORD_BYTES + limits.READ_CHUNK, **limits.DECODE)
    win = bytearray()  # the bytes of the batch being read, from its start
    base = pos = 0  # file offsets (from ``start``) of win[0] and of the next record
    pending: list[dict[str, Any]] = []
    rec: Any = None
    while True:
        at = pos - base
        try:
            if first is not None and len(pending) >= first and not win.startswith(fmt.COMMIT_MARKER, at):
                u.skip()  # past what the caller wants: framing only, up to the commit record
                rec = None
            else:
                rec = u.unpack()
        except msgpack.OutOfData:
            chunk = f.read(limits.READ_CHUNK)
            if not chunk:
                return  # an uncommitted tail, or the end
            u.feed(chunk)
            win += chunk
            continue
        except Exception:
            return
        end = u.tell()
        if rec is not None and type(rec) is not dict:
            return
        if rec is not None and rec.get("k") == fmt.COMMIT and win.startswith(fmt.COMMIT_MARKER, at):
            with memoryview(win) as w:
                if fmt.check_commit(version, w[:at], w[at : end - base]) is not None:
                    return
            for found in pending:  # checked as taken: a caller that wants the first records checks those only
                if problem(found) is None:
                    yield found
            if first is not None:
                return
            pending = []
            del win[: end - base]
            base = end
        elif rec is not None and not (header and pos == 0 and rec.get("k") == fmt.HEADER):
            pending.append(rec)
        pos = end


def first_start(run_dir: str, name: str) -> dict[str, Any] | None:
    """The start record among the first records of a run stream file."""
    for rec in records(run_dir, name, first=9):
        if rec["k"] == fmt.START:
            return rec
    return None


def run_files(run_dir: str) -> dict[str, list[str]]:
    """The run stream files of ``run_dir`` by session, oldest first, each
    session's in segment order."""
    try:
        names = sorted(os.listdir(run_dir))
    except OSError:
        return {}
    out: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        parsed = fmt.parse_stream_file_name(name)
        if parsed and parsed[0] == fmt.RUN_STREAM:
            out.setdefault(parsed[1], []).append((parsed[2], name))
    return {s: [n for _, n in sorted(out[s])] for s in sorted(out)}


def start_meta(start: dict[str, Any]) -> dict[str, Any]:
    """The metadata a start record sets (its values that are not empty)."""
    return {k: start[k] for k in _META_KEYS if start.get(k) not in (None, [], ())}


def meta_of(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata a meta record sets."""
    return {k: rec[k] for k in _META_KEYS if k in rec}


def apart(start: dict[str, Any] | None) -> bool:
    """A rank's session, folded apart from the run's (rank other than 0, not shared)."""
    return rank_of(start) not in (None, 0) and not (placement_of(start) or {}).get("shared")


_PRIOR_KEYS = ("config", "summary", "meta", "metrics", "starts", "artifacts")  # what as_prior passes on as they are


# ---- the fold ------------------------------------------------------------------------------
@dataclass
class Prior:
    """The run's state as readers fold it: what a resumed session goes on from."""

    last_step: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    folded: dict[str, int] = field(default_factory=dict)  # run stream file -> bytes folded
    starts: dict[str, dict[str, Any]] = field(default_factory=dict)  # session -> its start record
    artifacts: dict[str, int] = field(default_factory=dict)  # artifact name -> its next version

    @property
    def next_step(self) -> int:
        return 0 if self.last_step is None else self.last_step + 1

    def as_prior(self) -> dict[str, Any]:
        """The map ``Run`` takes as ``prior``."""
        return {"next_step": self.next_step, **{key: getattr(self, key) for key in _PRIOR_KEYS}}

    def fold_record(self, rec: dict[str, Any], shift: int) -> None:
        kind = rec["k"]
        if kind in (fmt.ROWS, fmt.ROW):
            self._fold_rows(rec, shift)
        elif kind == fmt.CONFIG:
            self.config.update(chart_schema.update_config(self.config, rec["d"]))
        elif kind == fmt.ARTIFACT:
            name, version = rec.get("name"), rec.get("version")
            if isinstance(name, str) and isinstance(version, str) and version[1:].isdigit():
                self.artifacts[name] = max(self.artifacts.get(name, 0), int(version[1:]) + 1)
        elif kind == fmt.SUMMARY:
            self.summary.update(rec.get("d") or {})
            for key in rec.get("del") or ():
                self.summary.pop(key, None)
        elif kind == fmt.METRIC:
            try:
                self.metrics.define(MetricSpec.from_record(rec))
            except Exception:
                pass  # a definition this writer cannot use, as readers ignore it
        elif kind == fmt.START:
            self.meta.update(start_meta(rec))
        elif kind == fmt.META:
            self.meta.update(meta_of(rec))

    def _fold_rows(self, rec: dict[str, Any], shift: int) -> None:
        summary, metrics = self.summary, self.metrics
        ops = any(spec.summary is not None for spec in metrics.specs)
        if rec["k"] == fmt.ROWS and not ops:  # the last row's values are what the summary keeps
            keys, values, steps = rec["keys"], rec["v"], rec["s"]
            if steps:
                summary.update(zip(keys, values[(len(steps) - 1) * len(keys) :]))
                self.last_step = steps[-1] + shift
            return
        for row, step, _ in fmt.rows_of_record(rec):
            summary.update(row)
            if ops:
                metrics.observe(row, summary)
            self.last_step = step + shift


def _session_shift(prior: Prior, start: dict[str, Any] | None, names: list[str], run_dir: str) -> int:
    """What a blind (or re-resumed) session's steps move by, as readers move
    them (docs/FORMAT.md, "Blind sessions and requeues"); 0 for any other."""
    start = start or {}
    first = start.get("first_step", 0)
    if prior.last_step is None or start.get("reset") or type(first) is not int or rank_of(start) not in (None, 0):
        return 0
    if not (start.get("blind") or (start.get("resumed") and "first_step" in start)) or first > prior.last_step:
        return 0
    last = None
    for name in names:
        for rec in records(run_dir, name):
            if rec["k"] == fmt.META and rec.get("explicit_steps"):
                return 0
            if rec["k"] in (fmt.ROWS, fmt.ROW):
                last = rec["s"][-1] if rec["k"] == fmt.ROWS else rec["s"]
    by = prior.last_step + 1 - first
    if first < 0 or (last or 0) + by >= _MAX_STEP:
        return 0
    return by


def _fold_session(prior: Prior, run_dir: str, names: list[str], start: dict[str, Any] | None) -> Prior:
    """A whole session of the run folded onto ``prior`` (a new fold where it resets the run)."""
    if (start or {}).get("reset"):
        prior = Prior(folded=prior.folded, starts=prior.starts)
    shift = _session_shift(prior, start, names, run_dir)
    for name in names:
        _fold_file(prior, run_dir, name, 0, shift)
    return prior


def _fold_file(prior: Prior, run_dir: str, name: str, offset: int, shift: int) -> None:
    for rec in records(run_dir, name, offset):
        prior.fold_record(rec, shift)
    try:
        prior.folded[name] = os.lstat(os.path.join(run_dir, name)).st_size
    except OSError:
        pass


# ---- the state file ------------------------------------------------------------------------
def _metrics_state(metrics: Metrics) -> list[Any]:
    return [spec.to_record() for spec in metrics.specs] + [metrics.aggregates()]


def _metrics_from(state: object) -> Metrics:
    metrics = Metrics()
    if not isinstance(state, list) or not state:
        return metrics
    for rec in state[:-1]:
        metrics.define(MetricSpec.from_record(rec))
    metrics.restore_aggregates(state[-1])
    return metrics


def save(run_dir: str, session: str, prior: Prior) -> bool:
    """Keep ``prior`` (this session's state, everything it wrote being on
    disk) as the run's state file, with the size of every run stream file
    of the directory now; False where it could not be written."""
    sizes: dict[str, int] = {}
    sessions = run_files(run_dir)
    for names in sessions.values():
        for name in names:
            try:
                sizes[name] = os.lstat(os.path.join(run_dir, name)).st_size
            except OSError:
                return False
    state = {
        "format": _STATE_FORMAT,
        "version": _STATE_VERSION,
        "session": session,
        "files": sizes,
        "last_step": prior.last_step,
        "config": prior.config,
        "summary": prior.summary,
        "meta": prior.meta,
        "metrics": _metrics_state(prior.metrics),
        "starts": {s: rec for s, rec in prior.starts.items() if s in sessions},
        "artifacts": prior.artifacts,
    }
    try:
        data = msgpack.packb(state, datetime=True)
        safefile.write_atomic(run_dir, STATE, data)
    except (OSError, ValueError, TypeError, OverflowError):
        return False
    return True


def _load(run_dir: str) -> Prior | None:
    try:
        data = safefile.read_bytes(run_dir, STATE, _STATE_LIMIT)
        state = msgpack.unpackb(data, **limits.DECODE)
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            return None
        if state.get("version") != _STATE_VERSION:
            return None
        last = state["last_step"]
        if last is not None and (type(last) is not int or last < 0):
            return None  # a step the writer never writes: the state is not this writer's
        files = state["files"]
        if any(type(v) is not int or v < 0 for v in files.values()):
            return None
        return Prior(
            last_step=last,
            config=dict(state["config"]),
            summary=dict(state["summary"]),
            meta=dict(state["meta"]),
            metrics=_metrics_from(state["metrics"]),
            folded={str(k): int(v) for k, v in files.items()},
            starts={str(k): v for k, v in (state.get("starts") or {}).items() if isinstance(v, dict)},
            artifacts={str(k): int(v) for k, v in state["artifacts"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, msgpack.ExtraData):
        return None


# ---- resume ---------------------------------------------------------------------------------
def prior_state(run_dir: str, starts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a resumed session continues from: the state file, then the run
    stream records written after it; the whole run where there is no state
    file or it does not fit the files (one it names shrank or is gone, or a
    session before its own is not in it). ``starts``: the sessions' start
    records already read (session id -> record)."""
    sessions = run_files(run_dir)
    found = _load(run_dir)
    known = {**(found.starts if found is not None else {}), **(starts or {})}
    if found is not None and not _fits(found, run_dir, sessions, known):
        found = None
    stated = set(found.folded) if found is not None else set()
    prior = found or Prior()
    prior.starts = known
    for session, names in sessions.items():
        if stated.intersection(names):  # a session the state saw: what it wrote past that, if anything
            for name in names:
                if _size(run_dir, name) != prior.folded.get(name):
                    _fold_file(prior, run_dir, name, prior.folded.get(name, 0), 0)
            continue
        start = _start(run_dir, session, names, known)
        if not apart(start):
            prior = _fold_session(prior, run_dir, names, start)
    return prior.as_prior()


def known_starts(run_dir: str) -> dict[str, dict[str, Any]]:
    """The sessions' start records the state file keeps (a session's first
    file, where its start record is, is never written again once its first
    batch is); {} without one."""
    found = _load(run_dir)
    return found.starts if found is not None else {}


def _start(run_dir: str, session: str, names: list[str], known: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if session not in known and names:
        found = first_start(run_dir, names[0])
        if found is not None:
            known[session] = found
    return known.get(session)


def _size(run_dir: str, name: str) -> int | None:
    try:
        return os.lstat(os.path.join(run_dir, name)).st_size
    except OSError:
        return None


def _fits(prior: Prior, run_dir: str, sessions: dict[str, list[str]], known: dict[str, dict[str, Any]]) -> bool:
    """The state's files are all there, none shorter than it saw them, and
    every session before the newest it saw is in it (or a rank's, apart)."""
    for name, size in prior.folded.items():
        now = _size(run_dir, name)
        if now is None or now < size:
            return False
    newest = max((fmt.parse_stream_file_name(n) or ("", "", 0))[1] for n in prior.folded) if prior.folded else ""
    for session, names in sessions.items():
        if (
            session < newest
            and not set(names) & set(prior.folded)
            and not apart(_start(run_dir, session, names, known))
        ):
            return False
    return True
