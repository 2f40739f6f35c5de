"""define_metric: which summary a key gets, shared by the writer (run.summary)
and the reader (the folded summary), so both compute the same thing."""

from __future__ import annotations

import math
from typing import Any

SUMMARY_OPS = ("min", "max", "mean", "first", "last", "best", "copy", "none")
GOALS = ("minimize", "maximize")


_RECORD_KEYS = ("name", "step_metric", "step_sync", "hidden", "summary", "goal")  # a metric record, in order


class MetricSpec:
    """One define_metric() call. ``name`` may end in ``*`` (a prefix glob)."""

    __slots__ = ("goal", "hidden", "name", "step_metric", "step_sync", "summary")

    def __init__(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | list[Any] | None = None,
        goal: str | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise ValueError(f"define_metric: name must be a non-empty string, got {name!r}")
        if "*" in name[:-1]:
            raise ValueError(f"define_metric: only a trailing '*' glob is supported, got {name!r}")
        if step_metric is not None and (not isinstance(step_metric, str) or "*" in step_metric):
            raise ValueError(f"define_metric: step_metric must be a metric name, got {step_metric!r}")
        ops = _parse_ops(summary)
        if goal is not None and goal not in GOALS:
            raise ValueError(f"define_metric: goal must be 'minimize' or 'maximize', got {goal!r}")
        self.name = name
        self.step_metric = step_metric
        self.step_sync = step_sync if step_sync is not None else (True if step_metric else None)
        self.hidden = hidden
        self.summary = ops
        self.goal = goal

    def matches(self, key: str) -> bool:
        if self.name.endswith("*"):
            return key.startswith(self.name[:-1])
        return key == self.name

    def to_record(self) -> dict[str, Any]:
        record = {key: getattr(self, key) for key in _RECORD_KEYS}
        record["summary"] = list(self.summary) if self.summary is not None else None
        return record

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> MetricSpec:
        return cls(
            rec["name"],
            step_metric=rec.get("step_metric"),
            step_sync=rec.get("step_sync"),
            hidden=rec.get("hidden"),
            summary=rec.get("summary"),
            goal=rec.get("goal"),
        )


def _parse_ops(summary: object) -> tuple[str, ...] | None:
    if summary is None:
        return None
    parts = summary.split(",") if isinstance(summary, str) else list(summary)  # type: ignore[call-overload]
    ops = tuple(p.strip().lower() for p in parts if str(p).strip())
    for op in ops:
        if op not in SUMMARY_OPS:
            raise ValueError(f"define_metric: summary op {op!r} is not one of {', '.join(SUMMARY_OPS)}")
    return ops


class Metrics:
    """The metric definitions of a run, and the running aggregates they need."""

    def __init__(self) -> None:
        # by name, in the order last defined: a define is O(1) (it was a copy
        # of the list: a run of many definitions cost its reader quadratic time)
        self._specs: dict[str, MetricSpec] = {}
        self._globs: dict[str, MetricSpec] = {}  # by prefix (the name without its "*")
        self._glob_lengths: tuple[int, ...] = ()  # of the prefixes, shortest first
        self._merged: dict[tuple[str, ...], MetricSpec] = {}  # what a chain of globs makes
        self._cache: dict[str, MetricSpec | None] = {}
        self._agg: dict[str, _Agg] = {}

    @property
    def specs(self) -> list[MetricSpec]:
        """The definitions, the latest of each name, in the order last defined."""
        return list(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    @property
    def globs(self) -> int:
        """How many of the definitions are globs (``name*``)."""
        return len(self._globs)

    def merged(self, spec: MetricSpec) -> MetricSpec:
        """``spec`` as a further define_metric() call of its name makes it,
        as wandb: fields it sets override, summary ops add to those defined
        before ("none" alone clears them)."""
        before = self._specs.get(spec.name)
        if before is None:
            return spec
        out = MetricSpec(spec.name)
        for field in ("step_metric", "step_sync", "hidden", "goal"):
            value = getattr(spec, field)
            setattr(out, field, value if value is not None else getattr(before, field))
        if spec.summary is None or spec.summary == ("none",) or before.summary in (None, ("none",)):
            out.summary = spec.summary if spec.summary is not None else before.summary
        else:
            out.summary = tuple(dict.fromkeys((*before.summary, *spec.summary)))
        return out

    def define(self, spec: MetricSpec) -> None:
        # the latest definition of a name wins; exact names win over globs
        self._specs.pop(spec.name, None)
        self._specs[spec.name] = spec
        if spec.name.endswith("*"):
            self._globs[spec.name[:-1]] = spec
            self._glob_lengths = tuple(sorted({len(p) for p in self._globs}))
            self._cache.clear()
            self._merged.clear()
        else:  # an exact name changes what its own key gets, no other
            self._cache.pop(spec.name, None)

    def spec_for(self, key: str) -> MetricSpec | None:
        try:
            return self._cache[key]
        except KeyError:
            pass
        # globs (shorter first, keys starting with "_" never match one), then
        # the exact definition: each one's fields override where they are set
        # a key matches at most one glob of each length: looked up by its prefixes, shortest first
        globs: list[MetricSpec] = []
        if self._globs and not key.startswith("_"):
            get = self._globs.get
            globs = [g for g in map(get, [key[:n] for n in self._glob_lengths]) if g is not None]
        exact = self._specs.get(key)
        found = None
        if exact is not None:
            found = _merge(key, [*globs, exact])
        elif globs:  # the keys a set of globs match share what they make
            chain = tuple(g.name for g in globs)
            found = self._merged.get(chain)
            if found is None:
                found = self._merged[chain] = _merge(chain[-1], globs)
        self._cache[key] = found
        return found

    def observe(self, row: dict[str, Any], summary: dict[str, Any]) -> None:
        """Fold one logged row into ``summary`` (already updated with the row's
        plain values): keys with summary ops get their aggregate instead."""
        for key, value in row.items():
            spec = self.spec_for(key)
            if spec is None or spec.summary is None:
                continue
            agg = self._agg_of(key)
            agg.add(value)
            _put(summary, key, agg.summary(spec.summary, spec.goal))

    def observe_many(self, key: str, values: Any, summary: dict[str, Any]) -> None:
        """Fold a key's values of consecutive rows (a numpy array, or a list)
        into ``summary`` at once, as ``observe`` row by row would: the
        summary must already hold the last of them."""
        spec = self.spec_for(key)
        if spec is None or spec.summary is None or not len(values):
            return
        agg = self._agg_of(key)
        agg.add_many(values)
        _put(summary, key, agg.summary(spec.summary, spec.goal))

    def _agg_of(self, key: str) -> _Agg:
        agg = self._agg.get(key)
        if agg is None:
            agg = self._agg[key] = _Agg()
        return agg

    def aggregates(self) -> dict[str, list[Any]]:
        """The running aggregates of the keys with summary ops (key ->
        [count, total, min, max, first, last]), as ``restore_aggregates`` takes them."""
        return {k: [a.count, a.total, a.min, a.max, a.first, a.last] for k, a in self._agg.items()}

    def restore_aggregates(self, found: object) -> None:
        """Aggregates kept by ``aggregates`` (a resumed writer's); entries of another shape are passed over."""
        if not isinstance(found, dict):
            return
        for key, values in found.items():
            if isinstance(key, str) and isinstance(values, list) and len(values) == 6:
                agg = self._agg[key] = _Agg()
                agg.count, agg.total, agg.min, agg.max, agg.first, agg.last = values

    def step_sync(self, row: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
        """wandb's step_sync: a row with a key whose metric has a step_metric
        gets the step metric's last value when it does not carry one."""
        extra = None
        for key in row:
            spec = self.spec_for(key)
            if spec is None or not spec.step_sync or not spec.step_metric:
                continue
            sm = spec.step_metric
            if sm not in row and sm in last and (extra is None or sm not in extra):
                extra = extra or {}
                extra[sm] = last[sm]
        if extra:
            return {**row, **extra}
        return row


def _merge(name: str, chain: list[MetricSpec]) -> MetricSpec:
    """A spec named ``name`` with the fields of ``chain``, each set one
    overriding those before it."""
    found = MetricSpec(name)
    for spec in chain:
        for field in ("step_metric", "step_sync", "hidden", "summary", "goal"):
            value = getattr(spec, field)
            if value is not None:
                setattr(found, field, value)
    return found


def _put(summary: dict[str, Any], key: str, result: Any) -> None:
    """A key's summary: its aggregate, or none (None: the ops give nothing)."""
    if result is None:
        summary.pop(key, None)
    else:
        summary[key] = result


class _Agg:
    __slots__ = ("count", "first", "last", "max", "min", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.first: object = None
        self.last: object = None

    def add(self, value: object) -> None:
        if self.count == 0 and self.first is None:
            self.first = value
        self.last = value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return
        self.count += 1
        self.total += value
        if self.min is None or value < self.min:
            self.min = value
        if self.max is None or value > self.max:
            self.max = value

    def add_many(self, values: Any) -> None:
        """``add`` of each value in turn; a numpy array of numbers (the
        reader's columns) at numpy's speed, with the same result: the sum is
        accumulated in order, and the first of equal extremes is kept."""
        if isinstance(values, list):
            for v in values:
                self.add(v)
            return
        import numpy as np

        if not len(values):
            return
        if self.count == 0 and self.first is None:
            self.first = values[0].item()
        self.last = values[-1].item()
        if values.dtype.kind not in "iuf":
            return  # bools: first and last only
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
            if not len(values):
                return
        self.count += len(values)
        self.total = float(np.cumsum(np.concatenate(([self.total], values.astype(np.float64))))[-1])
        low = values[int(np.argmin(values))].item()
        high = values[int(np.argmax(values))].item()
        if self.min is None or low < self.min:
            self.min = low
        if self.max is None or high > self.max:
            self.max = high

    def summary(self, ops: tuple[str, ...], goal: str | None) -> dict[str, Any] | None:
        if not ops or "none" in ops:
            return None
        out = {}
        for op in ops:
            value: object
            if op == "min":
                value = self.min
            elif op == "max":
                value = self.max
            elif op == "mean":
                value = self.total / self.count if self.count else None
            elif op == "first":
                value = self.first
            elif op == "best":
                value = self.max if goal == "maximize" else self.min
            else:  # last, copy
                value = self.last
            if value is not None:
                out[op] = value
        return out
