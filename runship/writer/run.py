"""The Run object: log, config, summary, flush, finish."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from runship import safefile
from runship.schema import format as fmt
from runship.schema.limits import LimitError, check_packed
from runship.schema.metrics import Metrics, MetricSpec
from runship.schema.records import AlertFields, EmptyFields, FileFields, MetaFields, placement_of, rank_of
from runship.schema.values import (
    FLOAT_TYPES,
    NUMBER_TYPES,
    PLAIN_TYPES,
    SCALAR_TYPES,
    F32Row,
    SerializationError,
    dict_key,
    plain_row,
    to_plain,
    values_of_one_type,
)
from runship.writer import charts as _charts
from runship.writer import files as _files
from runship.writer import prior as _prior
from runship.writer.config import Config, Summary
from runship.writer.files import Saver
from runship.writer.hooks import Stop
from runship.writer.lifecycle import PROCESS, exit_code_of
from runship.writer.resume import forget as forget_resume
from runship.writer.stream import BLOCK_BYTES, Stream, Writer

if TYPE_CHECKING:
    from runship.store.artifact_api import Artifact
    from runship.writer.artifacts import Pending
    from runship.writer.plan import Plan

_MAX_STEP_WARNINGS = 10
_time = time.time


_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1  # what msgpack packs
_STEP_LIMIT = 2**63
_BLOCK_KEYS, _BLOCK_KEY_CHARS = 2048, 16384  # a row with more keys, or longer ones, is a row record


class _Full(Exception):
    """The queue is past its buffer: log() waits for room outside the lock."""


def _step_of(step: Any) -> int:
    """log()'s ``step`` as an int, or TypeError naming it."""
    try:
        n = step if type(step) is int else int(step)
    except (TypeError, ValueError):
        raise TypeError(f"log() step must be an integer, got {step!r}") from None
    if n >= _STEP_LIMIT:  # readers keep steps as int64
        raise TypeError(f"log() step must be below 2**63, got {n}")
    return n


def _check_keys(keys: Any) -> None:
    for k in keys:
        if type(k) is not str:
            raise TypeError(f"log() keys must be strings, got {type(k).__name__} {k!r}")


def _block_values(data: dict[str, Any]) -> tuple[Any, type] | None:
    """The values of ``data`` as plain numbers (numpy scalars and 0-d tensors
    converted), which a block takes without packing them first, and the kind
    of row they make (dict, or F32Row: floats that pack as float32); None
    when a value needs more (a string, an int past 64 bits, media, an array,
    a map): the long way then. Keys are checked when a block opens."""
    values: Any = data.values()
    kind: type = F32Row if type(data) is F32Row else dict  # a row converted before (the pending row)
    types = set(map(type, values))
    if not types <= NUMBER_TYPES:
        if len(types) == 1:  # all np.float32, all np.int64, ...
            got = values_of_one_type(data, types.pop())
            if got is not None:
                return got[0], F32Row if got[1] else dict
        row = plain_row(data)
        if row is None:
            return None
        values, kind = row.values(), type(row)
        types = set(map(type, values))
        if not types <= NUMBER_TYPES:
            return None
    if int in types:
        for v in values:
            if type(v) is int and not _INT_MIN <= v <= _UINT_MAX:
                return None
    return values, kind


class Run:
    """One process's tenure of a run (a *session*). Created by ``runship.init``."""

    _tb_mirror: Stop | None = None  # sync_tensorboard: what stops the mirror of TensorBoard writers (hooks.py)

    def __init__(self, plan: Plan) -> None:
        """The run ``plan`` says (writer/plan.py), writing from now on:
        ``runship.init`` resolves the plan and starts it (writer/init.py)."""
        prior, meta, disabled, root = plan.prior or {}, plan.start, plan.disabled, plan.root
        project, run_id, session, config = plan.project, plan.run_id, plan.session, plan.config
        self._port = _Port(self)
        self.id, self.project, self.settings, self.session = run_id, project, plan.settings, session
        self.resumed, self.disabled, self.offline, self.mode = plan.resuming, disabled, not disabled, plan.mode
        self.entity = meta.get("entity")
        self.group = meta.get("group")
        self.job_type = meta.get("job_type")
        self._notes = meta.get("notes")
        self._tags = tuple(meta.get("tags") or ())
        self._name = meta.get("name")
        self._sweep = meta.get("sweep") if isinstance(meta.get("sweep"), dict) else None
        # settings ranks="shared": every rank's rows go to the run's history, each saying its rank
        self._rank_tag = rank_of(meta) if (placement_of(meta) or {}).get("shared") else None
        self.root = root
        self.run_dir = os.path.join(root, project, run_id)
        self._step = int(prior.get("next_step", 0))
        self.starting_step = self._step  # wandb's: the step this session's first row gets
        self._start_time = time.time()
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._step_warnings = 0
        self._explicit_steps = False
        self._notices: set[str] = set()
        self._finished = False
        self._inactive = disabled  # log() returns at once when True
        self._hot = False  # log() may take its inlined path: set once the run writes, cleared with _inactive
        self._fast = False  # _hot, no pending row and no metrics: checked by that path under the lock
        self._exit_code: int | None = None
        self._state = "running"
        self._summary_items = dict(prior.get("summary") or {})
        # the open block's rows already in _summary_items: (the stream's block_serial, how many)
        self._summary_mark: tuple[int, int] = (-1, 0)
        self._metrics: Metrics | None = (
            prior.get("metrics") if prior.get("metrics") and prior["metrics"].specs else None
        )
        self._last_logged: dict[str, Any] = dict(prior.get("summary") or {})
        # the run's metadata as readers fold it, kept in the state file at the end (writer/prior.py)
        self._meta_state = {**(prior.get("meta") or {}), **_prior.start_meta(meta)}
        self._keeps_state = not _prior.apart(meta)  # a rank's session, folded apart, keeps none
        self._starts: dict[str, dict[str, Any]] = {
            **(prior.get("starts") or {}),
            **({session: meta} if session else {}),
        }
        self._artifact_versions: dict[str, int] = dict(prior.get("artifacts") or {})  # next run_table version by name
        self._artifact_pending: Pending | None = None  # versions being logged (made on first use)
        self._logged_lock = threading.Lock()
        self._follower: str | None = None  # mode="online": where its uploader ships the run
        self.summary = Summary(None if disabled else self._port, self._summary_items)
        self.config = Config(None, prior.get("config"), plan.allow_val_change)
        self._writer: Writer | None = None
        # None only for a disabled run, which never writes (log() returns at once)
        self._run_stream: Stream = cast(Stream, None)
        if disabled:
            self.config.update(config or {})
            return
        writer = self._open_streams(project, run_id, cast(str, session), meta)  # session: None only when disabled
        object.__setattr__(self.config, "_run", self._port)
        self.config.update(config or {}, allow_val_change=True if plan.resuming else None)
        writer.start()
        self._hot = self._rank_tag is None
        self._refresh_fast()

    def _open_streams(self, project: str, run_id: str, session: str, meta: dict[str, Any]) -> Writer:
        """The run's writer (not started yet) and streams, its start record,
        and the threads and ticks the settings ask for (system metrics,
        console, environment)."""
        self._writer = Writer(
            self.run_dir,
            project=project,
            run_id=run_id,
            session=session,
            settings=self.settings,
            report=self._notice,
        )
        self._run_stream = self._writer.stream(fmt.RUN_STREAM)
        self._lock = self._run_stream._lock
        self._run_stream.on_seal = self._sync_summary_locked
        self._max_buffer = self._writer.max_buffer
        self._batch_bytes = self._writer.batch_bytes
        self._wake = self._writer._wake
        self._run_stream.write(fmt.START, meta)
        self._saver = Saver(self._port)
        self._writer.ticks.append(self._saver.tick)
        self._console = None
        self._env_thread = None
        if self.settings.system_metrics:
            from runship.writer.system import Sampler

            sampler = Sampler(
                self._writer.stream(fmt.SYSTEM_STREAM), self.settings.stats_interval, self.settings.stats_source
            )
            self._writer.ticks.append(sampler.tick)
        if self.settings.console != "off" and PROCESS.console_owner is None:
            from runship.writer.console import Capture

            console = Capture(self._writer.stream(fmt.CONSOLE_STREAM), self.settings.console)
            console.start()
            self._console = console
            PROCESS.console_owner = self
        if self.settings.environment:
            self._env_thread = threading.Thread(
                target=self._record_environment, name="runship-environment", daemon=True
            )
            self._env_thread.start()
        return self._writer

    # ---- attributes ------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name or self.id

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)
        self._record(fmt.META, MetaFields(name=self._name))

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        """Set after ``init()`` too (recorded, as wandb records it)."""
        self._notes = None if value is None else str(value)
        self._record(fmt.META, MetaFields(notes=self._notes))

    @property
    def tags(self) -> tuple[str, ...]:
        return self._tags

    @tags.setter
    def tags(self, value: Any) -> None:
        """Any iterable of tags (``run.tags = run.tags + ("best",)``), recorded
        as wandb records it. A single string is one tag (wandb would keep its
        letters); what is not iterable is not taken, with a notice: training
        code does not stop for a tag."""
        if isinstance(value, str):
            value = (value,)
        try:
            tags = tuple(str(t) for t in value)
        except TypeError:
            self._notice(f"run.tags takes a list or tuple of strings, not {type(value).__name__}: not changed")
            return
        self._tags = tags
        self._record(fmt.META, MetaFields(tags=list(tags)))

    @property
    def dir(self) -> str:
        """The run's ``files/`` directory (as ``wandb.run.dir``)."""
        return os.path.join(self.run_dir, "files")

    @property
    def path(self) -> str:
        """``entity/project/id`` (``project/id`` without an entity), as wandb's."""
        return "/".join(p for p in (self.entity, self.project, self.id) if p)

    @property
    def sweep_id(self) -> str | None:
        """The id of the sweep this run is a trial of (its agent says so), else None."""
        return self._sweep.get("id") if self._sweep else None

    @property
    def step(self) -> int:
        """The step the next committed row gets."""
        return self._step

    @property
    def active(self) -> bool:
        """True until finish(); False for a run inherited by a forked child."""
        return not self._finished and (self.disabled or not self._inactive)

    @property
    def start_time(self) -> float:
        return self._start_time

    @property
    def url(self) -> None:
        return None

    # ---- logging -----------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Log a row of values. wandb's step rules:

        - ``step=None``: the row goes to the current step; ``commit`` (default
          True) ends the step, ``commit=False`` keeps adding to it.
        - ``step=N`` higher than the current step commits the pending row and
          moves to N; the row at N is committed by a later higher step, by
          ``commit=True`` or by ``finish()``.
        - ``step=N`` lower than the current step: dropped, with a warning.

        A value that cannot be recorded raises TypeError naming its key path;
        nothing of that call is recorded and nothing earlier is lost.
        """
        if self._hot and type(data) is dict:
            if FLOAT_TYPES.issuperset(map(type, data.values())):  # np.float64 joins them once met
                vals: Any = data.values()
                kind: type = dict
            else:
                got = _block_values(data)
                if got is None:
                    return self._log(data, step, commit)
                vals, kind = got
            if step is not None or commit is False:
                _check_keys(data)
                return self._log(kind(zip(data, vals)), step, commit, plain=True)
            # the common call, inlined: a row of plain numbers to the next step,
            # added to the run stream's open block (packed later by the writer)
            st = self._run_stream
            keys = tuple(data)
            full = False
            lock = self._lock
            lock.acquire()
            try:
                if self._fast:
                    steps = st.block_steps
                    if keys != st.block_keys or kind is not st.block_type or len(steps) >= st.block_rows:
                        if not self._open_block(st, keys, kind, data, vals):
                            return  # dropped and counted ("drop" policy), or written as a row record
                        steps = st.block_steps
                    n = self._step
                    # its values, its time, then its step (a seal without the lock, by a
                    # signal handler, takes the rows whose step is in: Stream.seal)
                    values, times = st.block_values, st.block_times
                    values.extend(vals)
                    times.append(_time())
                    steps.append(n)
                    self._step = n + 1
                    return
            except _Full:
                full = True  # the queue is full: room is waited for outside the lock (by _log)
            finally:
                lock.release()
            if not full:
                _check_keys(data)
            # converted once (device tensors copied once)
            return self._log(kind(zip(data, vals)), step, commit, plain=True)
        self._log(data, step, commit)

    def _refresh_fast(self) -> None:
        self._fast = self._hot and self._pending is None and self._metrics is None

    def _log(self, data: Mapping[str, Any], step: int | None, commit: bool | None, plain: bool = False) -> None:
        """log() the long way; ``plain``: ``data`` is a dict of plain values with string keys already."""
        if self._inactive:
            if not self.disabled:
                self._notice(
                    "log() on a finished run is ignored" if self._finished else "log() in a forked child is ignored"
                )
            return
        if step is not None:
            step = _step_of(step)  # before any conversion: a bad step records nothing of the call
        row: dict[str, Any] | None = cast("dict[str, Any]", data)
        logged: Callable[[], None] | None = None  # what the row adds beside it (charts' specs, run_table artifacts)
        if not plain:
            if not isinstance(data, dict):
                if not isinstance(data, Mapping):
                    raise TypeError(f"log() takes a dict, got {type(data).__name__}")
                data = dict(data)
            if self._rank_tag is not None:
                data = {**data, "rank": self._rank_tag}
            row = data
            for k, v in data.items():
                if type(k) is not str:
                    raise TypeError(f"log() keys must be strings, got {type(k).__name__} {k!r}")
                if type(v) not in PLAIN_TYPES:
                    row = None
            if row is None:  # numpy scalars and 0-d tensors quickly; media, arrays and maps the long way
                row = plain_row(data)
                if row is None:
                    row, logged = self._convert(data, self._step if step is None else step)
        row = cast("dict[str, Any]", row)
        st = self._run_stream
        if st._queued - st._taken > self._max_buffer and not st.room():
            return  # dropped and counted ("drop" policy)
        if step is not None and not self._explicit_steps:
            # said once: a reader keeps these steps as logged where a blind session's are moved on
            self._explicit_steps = True
            self._record(fmt.META, MetaFields(explicit_steps=True))
        if self._place(row, step, commit) and logged is not None:
            logged()

    def _place(self, row: dict[str, Any], step: int | None, commit: bool | None) -> bool:
        """The row to its step (wandb's rules, log()'s doc); False where it is dropped (a lower step)."""
        with self._lock:  # the run stream's lock: one lock per log() call (log() inlines the common case)
            if step is not None:
                if step < self._step:
                    self._warn_step(step)
                    return False
                if step > self._step:
                    if self._pending is not None:
                        self._commit_pending()
                    self._step = step
                if commit is not True:
                    self._merge_pending(row)
                    return True
            elif commit is False:
                self._merge_pending(row)
                return True
            if self._pending is not None:
                self._merge_pending(row)
                self._commit_pending()
            else:
                self._write_row(row)
        return True

    def _convert(self, data: dict[str, Any], step: int) -> tuple[dict[str, Any], Callable[[], None] | None]:
        """Values of a row made plain: media become references (their files are
        written by the writer), arrays of more than 32 elements histograms;
        and what records what the row adds beside it, once the row is taken
        (its charts' specs in the config, a run_table artifact of each table)."""
        jobs: list[Any] = []
        tables: list[tuple[str, dict[str, Any], Any]] = []
        out = {}
        rest, found = _charts.split_charts(data)
        if found:  # wandb.plot charts: each table at <key>_table, how to draw it in the config
            data = _charts.with_tables(rest, found)
        for k, v in data.items():
            try:
                out[k] = self._convert_value(k, v, step, jobs, tables)
            except SerializationError as e:
                e.path.insert(0, k)
                raise TypeError(f"log(): {e.reason} - at `{e.where('data')}`") from None
        for job in jobs:  # only once the whole row converted
            cast(Writer, self._writer).submit(job)  # a disabled run never converts
        if not found and not tables:
            return out, None
        return out, lambda: self._logged_beside(found, tables)

    def _logged_beside(self, charts: dict[str, Any], tables: list[tuple[str, dict[str, Any], Any]]) -> None:
        """A taken row's charts' specs into the config (only those it adds or
        changes: readers merge ``_wandb``), and a run_table artifact of each of
        its tables (its file, not a copy; once a Table object, as wandb)."""
        with self._logged_lock:  # log() from many threads: one merge, one version counter
            if charts:
                shown, delta = _charts.visualize(self.config.get("_wandb"), charts)
                if delta:
                    self.config.keep_recorded("_wandb", shown, delta)
            for key, ref, table in tables:
                if getattr(table, "_run_table_of", None) != self.id:
                    table._run_table_of = self.id
                    self._record(fmt.ARTIFACT, _files.run_table(self._port, key, ref))

    def _convert_value(self, key: str, v: Any, step: int, jobs: list[Any], tables: list[Any], depth: int = 0) -> Any:
        """``v`` made plain; the files of its media go to ``jobs``, its tables (key, reference, table) to ``tables``."""
        if type(v) in SCALAR_TYPES:
            return v
        if hasattr(v, "_runship_media_") and hasattr(v, "_bind"):
            ref, job = v._bind(self.run_dir, key, step)
            if job is not None:
                jobs.append(job)
            if getattr(v, "_type", None) == "table-file":
                tables.append((key, ref, v))
            return ref
        if isinstance(v, (list, tuple)) and v and all(hasattr(x, "_bind") for x in v):
            return [self._convert_value(f"{key}_{i}", x, step, jobs, tables, depth + 1) for i, x in enumerate(v)]
        if isinstance(v, Mapping) and depth < 8:
            out = {}
            for k2, v2 in v.items():
                sub = dict_key(k2)
                try:
                    out[sub] = self._convert_value(f"{key}.{sub}", v2, step, jobs, tables, depth + 1)
                except SerializationError as e:
                    e.path.insert(0, sub)
                    raise
            return out
        kind = type(v).__module__ or ""
        if kind.startswith(("matplotlib", "plotly", "pandas")) or (
            isinstance(v, types.ModuleType) and v.__name__ == "matplotlib.pyplot"
        ):
            from runship.media import Table, figure_media

            as_media: Callable[[Any], Any] = figure_media  # runship.media is not annotated
            media = as_media(v) if not kind.startswith("pandas") else None
            if media is None and kind.startswith("pandas") and hasattr(v, "columns") and hasattr(v, "to_numpy"):
                media = Table(dataframe=v)  # a DataFrame logged as a value: a table, as wandb does
            if media is not None:
                return self._convert_value(key, media, step, jobs, tables, depth)
        if hasattr(v, "tolist"):
            from runship.media import auto_histogram

            as_histogram: Callable[[Any], Any] = auto_histogram  # runship.media is not annotated
            hist = as_histogram(v)
            if hist is not None:
                return hist
        return to_plain(v)

    def _merge_pending(self, row: dict[str, Any]) -> None:
        pending = self._pending
        if pending is None:
            self._pending = F32Row(row) if type(row) is F32Row else dict(row)
            self._fast = False
        else:
            if type(pending) is F32Row and type(row) is not F32Row:
                pending = self._pending = dict(pending)  # floats of another width join it: all float64
            pending.update(row)

    def _commit_pending(self) -> None:
        row, self._pending = self._pending, None
        self._refresh_fast()
        if row is not None:  # always: every caller checks self._pending first
            self._write_row(row)

    def _write_row(self, row: dict[str, Any]) -> None:
        """Add a committed row to the open block (the caller holds the run stream's lock)."""
        st = self._run_stream
        step = self._step
        metrics = self._metrics
        if metrics is not None:
            row = metrics.step_sync(row, self._last_logged)
            self._last_logged.update(row)
        got = _block_values(row)
        if got is None:
            return self._write_row_record(row)  # not plain numbers (strings, maps, lists, media)
        vals, kind = got
        keys = tuple(row)
        if (
            keys != st.block_keys or kind is not st.block_type or len(st.block_steps) >= st.block_rows
        ) and not self._open_block(st, keys, kind, row, vals, wait=False):  # _log made room before the lock
            return  # dropped and counted ("drop" policy), or written as a row record
        st.block_values.extend(vals)
        st.block_times.append(_time())
        st.block_steps.append(step)
        self._step = step + 1
        if metrics is not None:  # the summary now (the hot path, without metrics, leaves it to _sync_summary)
            self._sync_summary_locked()
            self._summary_items.update(row)
            metrics.observe(row, self._summary_items)
            self._summary_mark = (st.block_serial, len(st.block_steps))

    def _write_row_record(self, row: dict[str, Any]) -> None:
        """A committed row as a row record of its own, packed now: a snapshot of
        values the caller may change (the caller holds the run stream's lock)."""
        st = self._run_stream
        step = self._step
        try:
            b = st._pack({"k": fmt.ROW, "n": 0, "t": _time(), "s": step, "d": row})
            check_packed(b, f"log(): the row at step {step}")
        except LimitError as e:
            raise TypeError(str(e)) from None
        except (OverflowError, ValueError) as e:
            raise TypeError(f"log(): cannot pack row at step {step}: {e}") from None
        if st.block_steps:
            st.seal()  # the rows before it stay before it
        # its sequence number, taken now that it is queued: "n"'s value is byte 9 of the packed map
        b = b[:9] + st._pack(next(st._seq)) + b[10:]
        st._q.append(b)
        st._queued += len(b)
        self._summary_items.update(row)
        if self._metrics is not None:
            self._metrics.observe(row, self._summary_items)
        self._step = step + 1
        if st._queued - st._taken > self._batch_bytes and not self._wake.is_set():
            self._wake.set()

    def _open_block(
        self, st: Stream, keys: tuple[Any, ...], kind: type, data: dict[str, Any], vals: Any, wait: bool = True
    ) -> bool:
        """Seal the run stream's open block and open one for rows of ``keys``
        whose values are plain numbers (``kind``: dict, or F32Row). Raises
        TypeError for a key that is not a string, before anything is recorded.

        The queue is checked here, once a block: past a batch the writer is
        woken; past the buffer the row is dropped and counted (the "drop"
        policy: False) or, with ``wait``, _Full is raised so that the caller
        waits for room outside the lock (the writer may need it) and tries
        again. A row too large for a block (``data``, its values ``vals``) is
        written as a row record of its own (False)."""
        _check_keys(keys)
        if st._queued - st._taken > self._batch_bytes:
            if not self._wake.is_set():
                self._wake.set()
            if st._queued - st._taken > self._max_buffer:
                if self._writer is not None and self._writer.drop_when_full:
                    st._count_drop()
                    if st.block_steps:
                        st.seal()  # the rows logged before this one are kept
                    st.block_keys = None  # the next row checks again
                    return False
                if wait:
                    raise _Full()
        if len(keys) > _BLOCK_KEYS or sum(map(len, keys)) > _BLOCK_KEY_CHARS:
            self._write_row_record(kind(zip(data, vals)))  # a huge row: alone, checked against the record limits
            return False
        row_size = 9 * len(keys) + 18  # at most 9 bytes a value (a float64, an int64), a step and a time
        st.open_block(keys, kind, row_size, max(1, BLOCK_BYTES // row_size))
        return True

    def _sync_summary_locked(self) -> None:
        """Bring the last row of the open block into the summary (the caller
        holds the run stream's lock). log() leaves the summary to this: it runs
        whenever the summary is read or set and before a block is sealed."""
        st = self._run_stream
        steps = st.block_steps
        if not steps or self._summary_mark == (st.block_serial, len(steps)):
            return
        keys = cast("tuple[Any, ...]", st.block_keys)
        width = len(keys)
        values = st.block_values
        rows = min(len(steps), len(st.block_times), len(values) // width) if width else 0
        if rows:
            self._summary_items.update(zip(keys, values[(rows - 1) * width : rows * width]))
        self._summary_mark = (st.block_serial, len(steps))

    def _sync_summary(self) -> None:
        """``_sync_summary_locked`` from outside the lock (a signal handler that
        interrupted the lock's holder syncs without it after a while)."""
        if self._run_stream is None:
            return
        locked = self._lock.acquire(timeout=0.2)
        try:
            self._sync_summary_locked()
        finally:
            if locked:
                self._lock.release()

    def _warn_step(self, step: int) -> None:
        self._step_warnings += 1
        if self._step_warnings <= _MAX_STEP_WARNINGS:
            tail = " (further step warnings are not shown)" if self._step_warnings == _MAX_STEP_WARNINGS else ""
            self._notice(
                f"log() to step {step} is lower than the current step {self._step}; "
                f"steps must increase, so this data was dropped{tail}",
                once=False,
            )

    def _record(self, kind: str, fields: Mapping[str, Any]) -> None:
        if self._inactive or self._run_stream is None:
            return
        if kind == fmt.META:
            self._meta_state.update(_prior.meta_of(fields))
        self._run_stream.write(kind, fields)

    def _save_state(self) -> None:
        """Keep the run's state beside its streams for a later resume
        (writer/prior.py), once everything this session logged is on disk:
        not where a record was lost or dropped, a row is still pending, or
        the run stream's lock is held (a signal cut a log() short)."""
        writer = self._writer
        if not self._keeps_state or writer is None or self.session is None or self._pending is not None:
            return
        if any(s.lost_records or s.dropped_records for s in writer.streams.values()):
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._sync_summary_locked()
            state = _prior.Prior(
                last_step=self._step - 1 if self._step > 0 else None,
                config=self.config.as_dict(),
                summary=dict(self._summary_items),
                meta=dict(self._meta_state),
                metrics=self._metrics if self._metrics is not None else Metrics(),
                starts=self._starts,
                artifacts=dict(self._artifact_versions),
            )
        finally:
            self._lock.release()
        _prior.save(self.run_dir, self.session, state)

    def _notice(self, message: str, once: bool = True) -> None:
        if once:
            if message in self._notices:
                return
            self._notices.add(message)
        if not self.settings.quiet:
            print(f"runship: {message}", file=sys.stderr, flush=True)

    def notice(self, message: str, **fields: Any) -> None:
        """Record a notice in the stream and show it once on stderr."""
        self._record(fmt.NOTICE, {"message": message, **fields})
        self._notice(message)

    # ---- wandb's other run methods ---------------------------------------------------
    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> MetricSpec:
        """Declare how a metric is summarised and plotted (wandb's semantics).

        ``name`` may end in ``*``. ``summary``: comma-separated ops among min,
        max, mean, first, last, best (by ``goal``), none; the summary of the
        key becomes ``{op: value, ...}`` ("none": no summary). ``step_metric``:
        the x axis; with ``step_sync`` (default when step_metric is given) a row
        without the step metric gets its last logged value.
        """
        spec = MetricSpec(name, step_metric, step_sync, hidden, summary, goal)
        if self._inactive and not self.disabled:
            return spec
        with self._lock:
            if self._metrics is None:
                self._metrics = Metrics()
                self._fast = False
            if not overwrite:  # a further call of a name adds to it, as wandb (the record holds the result)
                spec = self._metrics.merged(spec)
            self._metrics.define(spec)
        self._record(fmt.METRIC, spec.to_record())
        return spec

    def save(
        self,
        glob_str: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        policy: str = "live",
    ) -> list[str] | bool:
        """Copy files matching ``glob_str`` into ``files/`` (relative to
        ``base_path``, default the working directory). "live": now, again
        whenever they change, and at finish; "now": once; "end": at finish.
        Returns the target paths."""
        if glob_str is None:
            return True  # wandb's deprecated no-argument form
        if self.disabled or self._inactive:
            return []
        return self._saver.save(glob_str, base_path, policy)

    def log_code(
        self,
        root: str = ".",
        name: str | None = None,
        include_fn: Callable[..., Any] | None = None,
        exclude_fn: Callable[..., Any] | None = None,
    ) -> None:
        """Copy source files (``*.py``, requirements, Dockerfile) under ``root``
        into ``files/code/``."""
        if self.disabled or self._inactive:
            return None
        _files.log_code(self._port, root, name, include_fn, exclude_fn)
        return None

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """Record an alert (shown by ``runship show``); nothing is sent anywhere."""
        level_name = getattr(level, "value", level) or "INFO"
        if level_name not in ("INFO", "WARN", "ERROR"):
            raise ValueError(f"alert(): level must be AlertLevel.INFO, WARN or ERROR, got {level!r}")
        seconds = getattr(wait_duration, "total_seconds", None)
        wait = seconds() if callable(seconds) else wait_duration
        self._record(fmt.ALERT, AlertFields(title=str(title), text=str(text), level=level_name, wait_duration=wait))
        self._notice(f"alert [{level_name}] {title}: {text}", once=False)

    def watch(
        self,
        models: Any = None,
        criterion: Any = None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
    ) -> None:
        """Accepted; runship records no gradients or parameters."""
        self.notice("watch() has no effect in runship: gradients and parameters are not recorded")

    def unwatch(self, models: Any = None) -> None:
        return None

    def mark_preempting(self) -> None:
        """Record that the run expects to be preempted (and resumed)."""
        self._record(fmt.PREEMPTING, EmptyFields())

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Store an Artifact's files (or a path) by digest in the project's
        artifact store and publish a version (runship.writer.artifacts);
        ``wait()`` on the result blocks until its version is known."""
        from runship.store.artifact_api import Artifact
        from runship.writer import artifacts as _artifacts

        if self.disabled or self._inactive:
            return artifact_or_path if isinstance(artifact_or_path, Artifact) else Artifact(name or "artifact")
        return _artifacts.log_artifact(self._port, artifact_or_path, name, type, aliases, tags)

    def use_artifact(
        self, artifact_or_name: Artifact | str, type: str | None = None, aliases: Any = None, use_as: Any = None
    ) -> Artifact:
        """The version ``[project/]name[:alias|vN]`` names (``latest`` when
        none), found in this root or in ``settings.artifact_remotes``; the
        use is recorded. ``download()`` on it writes its files."""
        from runship.store.artifact_api import Artifact
        from runship.writer import artifacts as _artifacts

        if self.disabled:  # a placeholder, as wandb's disabled mode gives (its download() says why)
            if isinstance(artifact_or_name, Artifact):
                return artifact_or_name
            return Artifact(str(artifact_or_name).rsplit("/", 1)[-1].split(":", 1)[0], type or "unspecified")
        return _artifacts.use_artifact(self._port, artifact_or_name, type)

    def log_model(
        self, path: str | os.PathLike[str], name: str | None = None, aliases: list[str] | None = None
    ) -> Artifact:
        """A model file or directory logged as a ``model`` artifact, as wandb's."""
        base = os.path.basename(os.fspath(path).rstrip("/"))
        return self.log_artifact(path, name=name or f"run-{self.id}-{base}", type="model", aliases=aliases)

    def use_model(self, name: str) -> str:
        """Use the model ``name[:alias|vN]`` and download it: the local path of
        its folder, or of the one file or folder the folder holds (as wandb's).
        An artifact whose type does not say ``model``: AssertionError, as wandb."""
        art = self.use_artifact(name)
        if "model" not in str(art.type).lower():
            raise AssertionError(
                f"use_model({name!r}): {art.name} is of type {art.type!r}; "
                "use_model takes artifacts whose type contains 'model'"
            )
        folder = art.download()
        top = {p.split("/", 1)[0] for p in art.manifest["files"]}
        return os.path.join(folder, top.pop()) if len(top) == 1 else folder

    def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> Artifact:
        """log_model, then the version linked under ``registered_model_name``
        (a version of that name in this root's store, sharing the files);
        ``aliases`` go to the linked version only, as wandb's."""
        artifact = self.log_model(path, name=name)
        self.link_artifact(artifact, registered_model_name, aliases)
        return artifact

    def link_artifact(self, artifact: Artifact | str, target_path: str, aliases: list[str] | None = None) -> None:
        """The version published again under the last part of ``target_path``
        (wandb's registry offline), and the link recorded in the run."""
        from runship.store.artifact_api import Artifact
        from runship.writer import artifacts as _artifacts

        name = artifact._name if isinstance(artifact, Artifact) else str(artifact)  # the name, never name:vN
        self._record(
            fmt.META,
            MetaFields(link={"artifact": name, "target": str(target_path), "aliases": list(aliases or [])}),
        )
        if isinstance(artifact, Artifact) and not (self.disabled or self._inactive):
            _artifacts.link(self._port, artifact, target_path, aliases)

    def get_url(self) -> None:
        return None

    # wandb's links to its web app, None offline (as wandb offline has them)
    project_url = property(lambda self: None)
    sweep_url = property(lambda self: None)

    @property
    def sync_dir(self) -> str:
        """Where the run is written (wandb's offline run directory)."""
        return self.run_dir

    def _label(self, *args: Any, **kwargs: Any) -> None:  # used by integrations for telemetry
        return None

    def _file_record(
        self, rel: str, size: int, digest: str, policy: str, source: str | None = None, name: str | None = None
    ) -> None:
        """Record a file written under the run directory as ``rel`` (from the
        writer thread); ``name``: the name it was saved as, when that is not
        a name runship stores and ``rel`` was made from it."""
        fields = FileFields(path=rel, size=size, sha256=digest, policy=policy)
        if source is not None:
            fields["source"] = source
        if name is not None:
            fields["name"] = name
        self._run_stream.write(fmt.FILE, fields)

    # ---- flush and finish -------------------------------------------------------
    def flush_start(self) -> None:
        """Write what is queued (the start record) to the OS now, without an
        fsync: the other ranks of a distributed run look for it."""
        if self._writer is not None:
            self._writer.flush(fsync=False)

    def flush(self) -> None:
        """Return once everything logged (and saved) before this call is
        written and fsynced.

        A row still pending (``commit=False`` or an explicit step) is not
        written until it is committed.
        """
        if self._writer is not None and not self._inactive:
            try:
                self._writer.run_background()  # saves queued so far, in this thread
                self._writer.flush(fsync=True)
            except Exception as e:  # never into training
                self._notice(f"flush failed: {type(e).__name__}: {e}")

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Commit the pending row, write the finish record, fsync and close."""
        stop_mirror = self._tb_mirror
        if stop_mirror is not None:  # sync_tensorboard: its last row, then the writers as they were
            self._tb_mirror = None
            stop_mirror()
        with self._lock:
            if self._finished or self._writer is None or (self._inactive and not self.disabled):
                self._finished = True
                self._inactive = True
                self._hot = self._fast = False
                PROCESS.unregister(self)
                return
            self._finished = True
            self._inactive = True  # from here on log() returns at once
            self._hot = self._fast = False
            if self._pending is not None:
                try:
                    self._commit_pending()
                except Exception as e:
                    self._notice(f"the pending row could not be written: {e}")
        code = int(exit_code) if exit_code is not None else 0
        self._exit_code = code
        self._stop_capture()
        streams = self._writer.streams.values()
        lost = sum(s.lost_records for s in streams)
        dropped = sum(s.dropped_records for s in streams)
        self._last_write = _time()
        self._run_stream.write(fmt.FINISH, {"exit_code": code, "lost": lost, "dropped": dropped}, t=self._last_write)
        self._writer.close()
        self._save_state()
        self._state = "finished" if code == 0 else ("terminated" if self._state == "terminated" else "failed")
        self._write_snapshot()
        if code == 0:
            forget_resume(self.root, self.project, self.id)
        PROCESS.unregister(self)
        lost = sum(s.lost_records for s in streams)
        if lost or dropped:
            self._notice(f"run {self.id}: {lost} records could not be written, {dropped} were dropped")
        if not (self.settings.quiet if quiet is None else quiet):
            ended = self._state if code == 0 else f"{self._state} (exit {code})"
            steps = f"{self._step} step" + ("" if self._step == 1 else "s")
            print(f"runship: run {self.project}/{self.id} {ended}, {steps}, in {self.run_dir}", file=sys.stderr)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, etype: type[BaseException] | None, value: BaseException | None, tb: types.TracebackType | None
    ) -> Literal[False]:
        # the code the process would end with: sys.exit(3) in the block, 3; an interrupt, 130
        self.finish(exit_code=exit_code_of(value) if isinstance(value, BaseException) else int(etype is not None))
        return False

    def _record_environment(self) -> None:
        try:
            from runship.writer.environment import collect

            found = collect()
            if self._state != "terminated":  # nothing after a signal record: the process is ending
                self._run_stream.write(fmt.ENVIRONMENT, found)
        except Exception as e:  # never into training
            self._notice(f"the environment could not be recorded: {type(e).__name__}: {e}")

    def _stop_capture(self) -> None:
        if self._env_thread is not None:
            self._env_thread.join(10)
        if self._console is not None:
            self._console.stop()
            self._console = None
            if PROCESS.console_owner is self:
                PROCESS.console_owner = None

    # ---- process events -----------------------------------------------------------
    def _on_signal(self, signum: int, then: Callable[[], None]) -> bool:
        """Record a terminating signal and flush. If the signal interrupted a
        write of this very thread, the flush (and ``then``) run as soon as that
        write is over; returns False in that case."""
        if self._inactive or self._run_stream is None:
            return True
        import signal

        writer = cast(Writer, self._writer)  # set whenever the run stream is
        name = signal.Signals(signum).name
        writer.signalled = True
        self._run_stream.write_nolock(fmt.SIGNAL, {"signal": signum, "name": name}, after_rows=True)
        self._state = "terminated"
        if writer.busy_here():

            def finish_signal() -> None:
                writer.flush(fsync=True, timeout=10.0)
                self._write_snapshot()
                then()

            writer.defer(finish_signal)
            return False
        writer.flush(fsync=True, timeout=10.0)
        self._save_state()
        self._write_snapshot()
        return True

    def _forked(self) -> None:
        self._inactive = True
        self._artifact_pending = None  # the parent's jobs never run here
        self._hot = self._fast = False
        if self._console is not None:
            for sink in self._console.sinks.values():
                sink.stream = None  # the parent's streams are not ours
        if self._writer is not None:
            self._writer.abandon()

    # ---- the derived snapshot ---------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        from runship.schema.values import json_safe

        snap = json_safe(
            {
                "format": fmt.FORMAT_NAME,
                "version": fmt.FORMAT_VERSION,
                "derived": "a snapshot for people; the stream files are the source of truth",
                "project": self.project,
                "id": self.id,
                "name": self.name,
                "entity": self.entity,
                "group": self.group,
                "job_type": self.job_type,
                "tags": list(self.tags),
                "notes": self.notes,
                "state": self._state,
                "exit_code": self._exit_code,
                "last_write": getattr(self, "_last_write", None),
                "session": self.session,
                "steps": self._step,
                "config": self.config.as_dict(),
                "summary": self.summary.as_dict(),
                "updated": time.time(),
            },
            strict_json=True,
        )
        return cast("dict[str, Any]", snap)  # json_safe of a dict is a dict

    def _write_snapshot(self) -> None:
        try:
            data = json.dumps(self.snapshot(), indent=1, sort_keys=False).encode()
            safefile.write_atomic(self.run_dir, "run.json", data)
        except (OSError, ValueError) as e:
            self._notice(f"cannot write {os.path.join(self.run_dir, 'run.json')}: {e}")

    def __repr__(self) -> str:
        return f"<runship.Run {self.project}/{self.id} {'disabled' if self.disabled else self.run_dir}>"


class _Port:
    """A run as the writer's other modules see it (writer/ports.py: RunRecords,
    RunFiles, ProcessEvents): a few operations, none of the Run's state."""

    __slots__ = ("_run",)

    def __init__(self, run: Run) -> None:
        self._run = run

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def root(self) -> str:
        return self._run.root

    @property
    def run_dir(self) -> str:
        return self._run.run_dir

    @property
    def artifact_versions(self) -> dict[str, int]:
        return self._run._artifact_versions

    @property
    def project(self) -> str:
        return self._run.project

    @property
    def display_name(self) -> str | None:
        return self._run.name

    @property
    def artifact_remotes(self) -> list[str]:
        return list(self._run.settings.artifact_remotes or [])

    @property
    def artifact_pending(self) -> Pending:
        from runship.writer.artifacts import Pending

        run = self._run
        if run._artifact_pending is None:
            run._artifact_pending = Pending()
        return run._artifact_pending

    def notice(self, message: str, **fields: Any) -> None:
        self._run.notice(message, **fields)

    def record(self, kind: str, fields: Mapping[str, Any]) -> None:
        self._run._record(kind, fields)

    def sync_summary(self) -> None:
        self._run._sync_summary()

    def file_record(
        self, rel: str, size: int, digest: str, policy: str, source: str | None = None, name: str | None = None
    ) -> None:
        self._run._file_record(rel, size, digest, policy, source, name)

    def write(self, kind: str, fields: Mapping[str, Any]) -> None:
        self._run._run_stream.write(kind, fields)

    def background(self, job: Callable[[], None]) -> None:
        cast(Writer, self._run._writer).submit_background(job)  # never asked of a disabled run (no writer)

    def on_signal(self, signum: int, then: Callable[[], None]) -> bool:
        return self._run._on_signal(signum, then)

    def say(self, message: str) -> None:
        self._run._notice(message)

    def mirror(self, stop: Callable[[], None] | None) -> None:
        self._run._tb_mirror = stop

    def follow(self, target: str | None) -> None:
        self._run._follower = target

    def write_snapshot(self) -> None:
        self._run._write_snapshot()

    def forked(self) -> None:
        self._run._forked()


def port(run: Run) -> _Port:
    """``run`` as the writer's other modules (and the importers that write
    into a run) see it: writer/ports.py."""
    return run._port
