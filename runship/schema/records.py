"""The record kinds of the format, typed, and the checks a reader makes of them.

Records are plain maps on the wire and in memory. Each kind is described here
twice over, once for each side of the format:

- ``<Kind>Fields`` (a ``TypedDict``): the fields the writer passes for a
  record of that kind (``Stream.write(kind, fields)``), that is everything
  but the envelope ``k``, ``t`` and ``n``; ``<Kind>Record`` is the same
  with the envelope, what a reader gets back. A ``TypedDict`` is a plain
  ``dict`` at run time: constructing one costs what the literal costs.
  ``RECORD_TYPES`` maps each kind to its record class.
- ``check_<kind>(rec)``: what is wrong with a decoded record of that kind,
  or None. ``problem(rec)`` checks the envelope, the kind's fields and every
  other value; ``parse_record(obj)`` is the reader's one entry: the record,
  typed, or what is wrong with it.

A record that passed its batch's checksum may still hold anything (a file
crafted by hand, another program's bug). The reader reports a record with
a problem and skips it, so that nothing downstream (the fold, JSON output,
time formatting) ever meets a value of the wrong type, a nesting deeper than
``MAX_DEPTH`` or a timestamp out of range. Fields a check does not name are
only checked to hold values of known types (``_value_problem``): readers
ignore fields they do not know (``docs/FORMAT.md``, "Record kinds").
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from itertools import chain, compress
from operator import not_
from typing import Any, TypedDict, cast

from runship.schema import annotations as annotation_record
from runship.schema import format as fmt
from runship.schema.limits import MAX_DEPTH, MAX_TIME
from runship.schema.names import BadName, check_relpath


# ---- the envelope and the kinds ----------------------------------------------------------
class Envelope(TypedDict):
    """What every record has: its kind and the wall-clock time it was made."""

    k: str
    t: float


class _Numbered(Envelope, total=False):
    n: int  # a data record's sequence number (framing records have none)


class HeaderFields(TypedDict):
    format: str
    version: int
    project: str
    run: str
    session: str
    stream: str
    segment: int


class CommitFields(TypedDict):
    len: int
    crc: int


class _Names(TypedDict, total=False):
    """What a session says about its run (in ``start``, and ``meta`` when changed)."""

    name: str | None
    notes: str | None
    group: str | None
    job_type: str | None
    entity: str | None
    tags: list[str]


class StartFields(_Names, total=False):
    session: str
    resumed: bool
    reset: bool
    resume: str | None
    mode: str
    host: str
    pid: int
    argv: list[str]
    cwd: str
    python: str
    runship: str
    settings: dict[str, Any]
    args: dict[str, Any]
    first_step: int
    blind: bool
    placement: dict[str, Any]


class ConfigFields(TypedDict):
    d: dict[str, Any]


class RowFields(TypedDict):
    s: int
    d: dict[str, Any]


class RowsFields(TypedDict):
    keys: list[str]
    s: list[int]
    ts: list[float]
    v: list[Any]


#: ``d``: the keys set; ``del``: the keys deleted (a Python keyword, hence this form)
SummaryFields = TypedDict("SummaryFields", {"d": dict[str, Any], "del": list[str]}, total=False)


class MetaFields(_Names, total=False):
    explicit_steps: bool
    link: dict[str, Any]


class _FileRequired(TypedDict):
    path: str
    size: int
    sha256: str
    policy: str


class FileFields(_FileRequired, total=False):
    source: str
    name: str


class MetricFields(TypedDict, total=False):
    name: str
    step_metric: str | None
    step_sync: bool | None
    hidden: bool | None
    summary: list[str] | None
    goal: str | None


class AlertFields(TypedDict, total=False):
    title: str
    text: str
    level: str
    wait_duration: float | None


class CodeFields(TypedDict, total=False):
    program: str
    git: dict[str, Any] | None


class ArtifactFields(TypedDict, total=False):
    name: str
    type: str
    version: str | None
    aliases: list[str]
    tags: list[str]
    description: str | None
    metadata: dict[str, Any]
    files: list[str]
    references: list[dict[str, Any]]
    # a version published to the project's artifact store (<project>/.artifacts/):
    digest: str  # its contents digest
    size: int  # bytes of its files
    stored: bool  # True: its files are in the store, not under files/artifacts/
    new: bool  # False: a version with the same contents was held (no new version made)


class UseFields(TypedDict, total=False):
    """``use``: the run used a version of an artifact (``use_artifact``)."""

    name: str
    version: str
    project: str
    type: str
    digest: str
    place: str  # where it was found (this root, or a remote's URL without credentials)


class EnvironmentFields(TypedDict, total=False):
    host: str
    user: str
    pid: int
    python: str
    executable: str
    platform: str
    argv: list[str]
    cwd: str
    cpu_count: int | None
    cuda_visible_devices: str | None
    scheduler: dict[str, Any] | None
    git: dict[str, Any] | None
    packages: list[str]


class StatsFields(TypedDict):
    d: dict[str, Any]


class _OutRequired(TypedDict):
    s: str  # "stdout" or "stderr"
    text: str


class OutFields(_OutRequired, total=False):
    partial: bool  # the line unfinished as yet (a progress bar): superseded by its stream's next line


class _NoticeRequired(TypedDict):
    message: str


class NoticeFields(_NoticeRequired, total=False):
    arg: str
    setting: str


class EmptyFields(TypedDict):
    """``heartbeat`` and ``preempting``: the envelope only."""


class SignalFields(TypedDict):
    signal: int
    name: str


class LossFields(TypedDict, total=False):
    lost: int
    reason: str
    dropped: int


class FinishFields(TypedDict, total=False):
    exit_code: int | None
    lost: int
    dropped: int


class HeaderRecord(Envelope, HeaderFields):
    pass


class CommitRecord(Envelope, CommitFields):
    pass


class StartRecord(_Numbered, StartFields):
    pass


class ConfigRecord(_Numbered, ConfigFields):
    pass


class RowRecord(_Numbered, RowFields):
    pass


class RowsRecord(_Numbered, RowsFields):
    pass


class SummaryRecord(_Numbered, SummaryFields):
    pass


class MetaRecord(_Numbered, MetaFields):
    pass


class FileRecord(_Numbered, FileFields):
    pass


class MetricRecord(_Numbered, MetricFields):
    pass


class AlertRecord(_Numbered, AlertFields):
    pass


class CodeRecord(_Numbered, CodeFields):
    pass


class ArtifactRecord(_Numbered, ArtifactFields):
    pass


class UseRecord(_Numbered, UseFields):
    pass


class EnvironmentRecord(_Numbered, EnvironmentFields):
    pass


class StatsRecord(_Numbered, StatsFields):
    pass


class OutRecord(_Numbered, OutFields):
    pass


class NoticeRecord(_Numbered, NoticeFields):
    pass


class EmptyRecord(_Numbered, EmptyFields):
    pass


class SignalRecord(_Numbered, SignalFields):
    pass


class LossRecord(_Numbered, LossFields):
    pass


class FinishRecord(_Numbered, FinishFields):
    pass


Record = (
    HeaderRecord
    | CommitRecord
    | StartRecord
    | ConfigRecord
    | RowRecord
    | RowsRecord
    | SummaryRecord
    | MetaRecord
    | FileRecord
    | MetricRecord
    | AlertRecord
    | CodeRecord
    | ArtifactRecord
    | EnvironmentRecord
    | StatsRecord
    | OutRecord
    | NoticeRecord
    | EmptyRecord
    | SignalRecord
    | LossRecord
    | FinishRecord
)

#: each kind's record class (kinds not listed here are read as an ``Envelope``)
RECORD_TYPES: dict[str, type[Any]] = {
    fmt.HEADER: HeaderRecord,
    fmt.COMMIT: CommitRecord,
    fmt.START: StartRecord,
    fmt.CONFIG: ConfigRecord,
    fmt.ROW: RowRecord,
    fmt.ROWS: RowsRecord,
    fmt.SUMMARY: SummaryRecord,
    fmt.META: MetaRecord,
    fmt.FILE: FileRecord,
    fmt.METRIC: MetricRecord,
    fmt.ALERT: AlertRecord,
    fmt.CODE: CodeRecord,
    fmt.ARTIFACT: ArtifactRecord,
    fmt.USE: UseRecord,
    fmt.ENVIRONMENT: EnvironmentRecord,
    fmt.STATS: StatsRecord,
    fmt.OUT: OutRecord,
    fmt.NOTICE: NoticeRecord,
    fmt.HEARTBEAT: EmptyRecord,
    fmt.PREEMPTING: EmptyRecord,
    fmt.SIGNAL: SignalRecord,
    fmt.LOSS: LossRecord,
    fmt.FINISH: FinishRecord,
}


# ---- the checks --------------------------------------------------------------------------
_SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_LEAVES = frozenset({str, int, float, bool, type(None), bytes, _dt.datetime})
_STR_OR_NONE = (str, type(None))
_CONTAINERS = frozenset({dict, list})
_DICT, _LIST, _STR = frozenset({dict}), frozenset({list}), frozenset({str})
Check = Callable[[dict[str, Any]], "str | None"]


def _value_problem(value: object, depth: int) -> str | None:
    """Containers: string keys only, leaves of known types, depth bounded.
    Checked level by level with the work per element done in C (``map``,
    ``chain``, ``compress``): a record of 65,000 empty lists takes
    milliseconds, not a Python loop per element."""
    level: list[Any] = [value]
    while level:
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        types = set(map(type, level))
        odd = types - _LEAVES - _CONTAINERS
        if odd:
            return f"a value of type {min(t.__name__ for t in odd)}"
        dicts: list[Any] = list(compress(level, map(_DICT.__contains__, map(type, level)))) if dict in types else []
        lists: list[Any] = list(compress(level, map(_LIST.__contains__, map(type, level)))) if list in types else []
        key_types = set(map(type, chain.from_iterable(dicts)))
        if key_types - _STR:
            return f"a map key of type {min(t.__name__ for t in key_types - _STR)}"
        children: list[Any] = list(chain(chain.from_iterable(lists), chain.from_iterable(map(dict.values, dicts))))
        if set(map(type, children)) <= _LEAVES:
            return None
        level = list(compress(children, map(not_, map(_LEAVES.__contains__, map(type, children)))))
        depth += 1
    return None


def _typed(rec: dict[str, Any], key: str, want: type, what: str, required: bool) -> str | None:
    """``rec[key]`` is of type ``want`` (or absent/None where not ``required``)."""
    v = rec.get(key)
    if v is None and not required:
        return None
    if type(v) is not want:
        return f"'{key}' must be {what}, got {type(v).__name__}"
    return None


def _map(rec: dict[str, Any], key: str, required: bool = True) -> str | None:
    why = _typed(rec, key, dict, "a map", required)
    if why is not None or rec.get(key) is None:
        return why
    for k, x in rec[key].items():
        if type(k) is not str:
            return f"a key of type {type(k).__name__} in '{key}'"
        if type(x) not in _SCALARS:
            why = _value_problem(x, 3)
            if why:
                return f"{why} in '{key}'"
    return None


def _int(rec: dict[str, Any], key: str, required: bool = False) -> str | None:
    return _typed(rec, key, int, "an integer", required)


def _strs(rec: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if not isinstance(rec.get(key), _STR_OR_NONE):
            return f"'{key}' must be a string, got {type(rec.get(key)).__name__}"
    return None


def _str_list(rec: dict[str, Any], key: str) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if type(v) is not list or any(type(x) is not str for x in v):
        return f"'{key}' must be a list of strings"
    return None


_META = ("name", "notes", "group", "job_type", "entity")


def check_start(rec: dict[str, Any]) -> str | None:
    why = _strs(rec, (*_META, "session", "host", "mode")) or _str_list(rec, "tags") or _int(rec, "pid")
    if why:
        return why
    settings = rec.get("settings")
    if settings is not None:
        if type(settings) is not dict:
            return "'settings' must be a map"
        for key in ("heartbeat_interval", "flush_interval"):
            v = settings.get(key)
            if v is not None and (type(v) not in (int, float) or not math.isfinite(v) or v < 0):
                return f"settings '{key}' must be a non-negative number"
    return None


def check_file(rec: dict[str, Any]) -> str | None:
    try:
        check_relpath(rec.get("path"), "'path'")
    except BadName as e:
        return str(e)
    return _int(rec, "size") or _strs(rec, ("sha256", "policy"))


def check_summary(rec: dict[str, Any]) -> str | None:
    return _map(rec, "d", required=False) or _str_list(rec, "del")


def check_loss(rec: dict[str, Any]) -> str | None:
    for key in ("lost", "dropped"):
        why = _int(rec, key)
        if why:
            return why
        if (rec.get(key) or 0) < 0:
            return f"'{key}' must not be negative"
    return None


_TIME_TYPES = frozenset({float, int})
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def check_row(rec: dict[str, Any]) -> str | None:
    why = _int(rec, "s", required=True)
    if why is None and not _I64_MIN <= rec["s"] <= _I64_MAX:
        why = "'s' is a step past int64"
    return why or _map(rec, "d")


def check_rows(rec: dict[str, Any]) -> str | None:
    """A block of rows: K distinct string keys, R >= 1 steps and times, R*K
    values. Checked a list at a time (a block holds thousands of values)."""
    keys, steps, times, values = rec.get("keys"), rec.get("s"), rec.get("ts"), rec.get("v")
    if type(keys) is not list or not {str}.issuperset(map(type, keys)):
        return "'keys' must be a list of strings"
    if len(set(keys)) != len(keys):
        return "'keys' must not repeat a key"
    if type(steps) is not list or not steps or {type(s) for s in steps} != {int}:
        return "'s' must be a non-empty list of integers"
    if min(steps) < _I64_MIN or max(steps) > _I64_MAX:
        return "'s' holds a step past int64"
    if type(times) is not list or len(times) != len(steps):
        return "'ts' must be a list of as many times as 's' has steps"
    if not _TIME_TYPES.issuperset(map(type, times)) or not (min(times) >= 0 and max(times) < MAX_TIME):
        return "'ts' holds a value that is not a time"
    if any(t != t for t in times):  # NaN passes the comparisons above
        return "'ts' holds a value that is not a time (NaN)"
    if type(values) is not list or len(values) != len(keys) * len(steps):
        return "'v' must be a list of len(keys) * len(s) values"
    if not _SCALARS.issuperset(map(type, values)):
        for x in values:
            if type(x) not in _SCALARS:
                why = _value_problem(x, 3)
                if why:
                    return f"{why} in 'v'"
    return None


def check_config(rec: dict[str, Any]) -> str | None:
    return _map(rec, "d")


def check_stats(rec: dict[str, Any]) -> str | None:
    return _map(rec, "d")


def check_meta(rec: dict[str, Any]) -> str | None:
    return _strs(rec, _META) or _str_list(rec, "tags")


def check_metric(rec: dict[str, Any]) -> str | None:
    return _strs(rec, ("name", "step_metric", "goal"))


def check_alert(rec: dict[str, Any]) -> str | None:
    return _strs(rec, ("title", "text", "level"))


def check_finish(rec: dict[str, Any]) -> str | None:
    return _int(rec, "exit_code") or check_loss(rec)


def check_signal(rec: dict[str, Any]) -> str | None:
    return _int(rec, "signal") or _strs(rec, ("name",))


def check_out(rec: dict[str, Any]) -> str | None:
    return _strs(rec, ("s", "text"))


def check_header(rec: dict[str, Any]) -> str | None:
    return _strs(rec, ("format", "project", "run", "session", "stream")) or _int(rec, "version") or _int(rec, "segment")


#: an annotation's fields (name, tags, notes: bounded; see runship.schema.annotations)
check_annotation = annotation_record.check_annotation


#: each kind's check of its own fields (a kind not here: its values' types only)
KIND_CHECKS: dict[str, Check] = {
    fmt.START: check_start,
    fmt.CONFIG: check_config,
    fmt.ROW: check_row,
    fmt.ROWS: check_rows,
    fmt.SUMMARY: check_summary,
    fmt.META: check_meta,
    fmt.FILE: check_file,
    fmt.METRIC: check_metric,
    fmt.ALERT: check_alert,
    fmt.FINISH: check_finish,
    fmt.SIGNAL: check_signal,
    fmt.LOSS: check_loss,
    fmt.STATS: check_stats,
    fmt.OUT: check_out,
    fmt.HEADER: check_header,
    annotation_record.KIND: check_annotation,
}


_D_CHECKED = frozenset({fmt.ROW, fmt.CONFIG, fmt.STATS, fmt.SUMMARY})
_D_WALKED = frozenset({"d"})
_NONE_WALKED: frozenset[str] = frozenset()
_WALKED = {fmt.ROWS: frozenset({"keys", "s", "ts", "v"})}  # the kind's check walked these already


def _envelope_problem(rec: dict[Any, Any]) -> str | None:
    kind = rec.get("k")
    if type(kind) is not str:
        return "a record without a string kind 'k'"
    t = rec.get("t")
    if not isinstance(t, (float, int)) or type(t) is bool or not (0 <= t < MAX_TIME):
        return f"{kind} record with a timestamp 't' that is not a time: {t!r:.40}"
    n = rec.get("n")
    if n is not None and type(n) is not int:
        return f"{kind} record with a sequence number 'n' that is not an integer"
    return None


def problem(rec: object) -> str | None:
    """What is wrong with a decoded record, or None if the reader may use it."""
    if type(rec) is not dict:
        return f"a record that is not a map ({type(rec).__name__})"
    why = _envelope_problem(rec)
    if why is not None:
        return why
    kind = rec["k"]
    check = KIND_CHECKS.get(kind)
    why = check(rec) if check is not None else None
    if why is None:
        walked = _D_WALKED if kind in _D_CHECKED else _WALKED.get(kind, _NONE_WALKED)
        for key, v in rec.items():
            if type(key) is not str:
                why = f"a key of type {type(key).__name__}"
            elif type(v) not in _SCALARS and key not in walked:
                why = _value_problem(v, 1)
            if why:
                break
    return f"{kind} record: {why}" if why else None


def parse_record(obj: object) -> tuple[Record | None, str | None]:
    """A decoded map as a typed record: (the record, None), or (None, what
    is wrong with it). The record is ``obj`` itself (no copy): its type is
    that of its kind in ``RECORD_TYPES`` (check ``rec["k"]`` to narrow)."""
    why = problem(obj)
    if why is not None:
        return None, why
    return cast(Record, obj), None


# ---- a session's place in a distributed job (its start record's ``placement``) ----------
def placement_of(start: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``placement`` map of a start record, None outside a distributed job
    (or where it is not a map: a crafted record)."""
    found = (start or {}).get("placement")
    return found if isinstance(found, dict) else None


def rank_of(start: dict[str, Any] | None) -> int | None:
    rank = (placement_of(start) or {}).get("rank")
    return rank if isinstance(rank, int) and not isinstance(rank, bool) else None


def job_of(start: dict[str, Any] | None) -> str | None:
    job = (placement_of(start) or {}).get("job")
    return job if isinstance(job, str) else None
