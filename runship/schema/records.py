"""Shape checks of decoded records: what the reader accepts before it uses one.

A record that passed its batch's checksum may still hold anything (a file
crafted by hand, another program's bug). ``problem(rec)`` says what is wrong
with a record, or None; the reader reports a record with a problem and
skips it, so that nothing downstream (the fold, JSON output, time
formatting) ever meets a value of the wrong type, a nesting deeper than
``MAX_DEPTH`` or a timestamp out of range.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from itertools import chain, compress
from operator import not_
from typing import Any

from runship.schema import format as fmt
from runship.schema.limits import MAX_DEPTH, MAX_TIME
from runship.schema.names import BadName, check_relpath

_SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_LEAVES = frozenset({str, int, float, bool, type(None), bytes, _dt.datetime})
_STR_OR_NONE = (str, type(None))
_CONTAINERS = frozenset({dict, list})
_DICT, _LIST, _STR = frozenset({dict}), frozenset({list}), frozenset({str})


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


def _map(rec: dict[str, Any], key: str, required: bool = True) -> str | None:
    v = rec.get(key)
    if v is None and not required:
        return None
    if type(v) is not dict:
        return f"'{key}' must be a map, got {type(v).__name__}"
    for k, x in v.items():
        if type(k) is not str:
            return f"a key of type {type(k).__name__} in '{key}'"
        if type(x) not in _SCALARS:
            why = _value_problem(x, 3)
            if why:
                return f"{why} in '{key}'"
    return None


def _int(rec: dict[str, Any], key: str, required: bool = False) -> str | None:
    v = rec.get(key)
    if v is None and not required:
        return None
    if type(v) is not int:
        return f"'{key}' must be an integer, got {type(v).__name__}"
    return None


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


def _start(rec: dict[str, Any]) -> str | None:
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


def _file(rec: dict[str, Any]) -> str | None:
    try:
        check_relpath(rec.get("path"), "'path'")
    except BadName as e:
        return str(e)
    return _int(rec, "size") or _strs(rec, ("sha256", "policy"))


def _summary(rec: dict[str, Any]) -> str | None:
    return _map(rec, "d", required=False) or _str_list(rec, "del")


def _loss(rec: dict[str, Any]) -> str | None:
    for key in ("lost", "dropped"):
        why = _int(rec, key)
        if why:
            return why
        if (rec.get(key) or 0) < 0:
            return f"'{key}' must not be negative"
    return None


_TIME_TYPES = frozenset({float, int})
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _step(step: int) -> str | None:
    return None if _I64_MIN <= step <= _I64_MAX else "'s' is a step past int64"


def _rows(rec: dict[str, Any]) -> str | None:
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


_KIND_CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    fmt.START: _start,
    fmt.CONFIG: lambda r: _map(r, "d"),
    fmt.ROW: lambda r: _int(r, "s", required=True) or _step(r["s"]) or _map(r, "d"),
    fmt.ROWS: _rows,
    fmt.SUMMARY: _summary,
    fmt.META: lambda r: _strs(r, _META) or _str_list(r, "tags"),
    fmt.FILE: _file,
    fmt.METRIC: lambda r: _strs(r, ("name", "step_metric", "goal")),
    fmt.ALERT: lambda r: _strs(r, ("title", "text", "level")),
    fmt.FINISH: lambda r: _int(r, "exit_code") or _loss(r),
    fmt.SIGNAL: lambda r: _int(r, "signal") or _strs(r, ("name",)),
    fmt.LOSS: _loss,
    fmt.STATS: lambda r: _map(r, "d"),
    fmt.OUT: lambda r: _strs(r, ("s", "text")),
    fmt.HEADER: lambda r: (
        _strs(r, ("format", "project", "run", "session", "stream")) or _int(r, "version") or _int(r, "segment")
    ),
}


_D_CHECKED = frozenset({fmt.ROW, fmt.CONFIG, fmt.STATS, fmt.SUMMARY})
_D_WALKED = frozenset({"d"})
_NONE_WALKED: frozenset[str] = frozenset()
_WALKED = {fmt.ROWS: frozenset({"keys", "s", "ts", "v"})}  # the kind's check walked these already


def problem(rec: object) -> str | None:
    """What is wrong with a decoded record, or None if the reader may use it."""
    if type(rec) is not dict:
        return f"a record that is not a map ({type(rec).__name__})"
    kind = rec.get("k")
    if type(kind) is not str:
        return "a record without a string kind 'k'"
    t = rec.get("t")
    if not isinstance(t, (float, int)) or type(t) is bool or not (0 <= t < MAX_TIME):
        return f"{kind} record with a timestamp 't' that is not a time: {t!r:.40}"
    n = rec.get("n")
    if n is not None and type(n) is not int:
        return f"{kind} record with a sequence number 'n' that is not an integer"
    check = _KIND_CHECKS.get(kind)
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
