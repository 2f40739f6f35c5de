"""A sweep's spec, as wandb's sweep YAML says it: ``method`` (grid,
random, bayes), ``metric`` (``name``, ``goal``), ``parameters`` (each a
``value``, ``values`` with optional ``probabilities``, or ``min``/``max``
with a ``distribution``; ``parameters`` nests), ``early_terminate``
(``type: hyperband`` with ``min_iter`` or ``max_iter``/``s``, ``eta``),
``run_cap``, ``program``, ``command``, ``name``, ``description``.

``check(spec)`` returns the spec as the sweep keeps it, or raises
SweepSpecError naming what is wrong; ``grid_size``/``grid_params`` and
``random_params`` make a trial's parameters (bayes: ``runship.sweep.bayes``)."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

from runship.errors import UsageError

METHODS = ("grid", "random", "bayes")
DISTRIBUTIONS = (
    "constant",
    "categorical",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
)
RANGED = DISTRIBUTIONS[2:11]  # those drawn between min and max
TOP_KEYS = {
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
    "program",
    "command",
    "name",
    "description",
    "project",
    "entity",
    "controller",
    "runship",
}


class SweepSpecError(UsageError):
    """A sweep spec that cannot be run, and why."""


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SweepSpecError(f"{where} must be a number, got {value!r}")
    return value


def _param(name: str, p: Any) -> dict[str, Any]:
    """One parameter, with its distribution made explicit."""
    if not isinstance(p, dict):
        raise SweepSpecError(f"parameters.{name} must be a map (value, values, or min/max), got {p!r}")
    if "parameters" in p:
        nested = p["parameters"]
        if not isinstance(nested, dict) or not nested:
            raise SweepSpecError(f"parameters.{name}.parameters must be a non-empty map")
        return {"parameters": {k: _param(f"{name}.{k}", v) for k, v in nested.items()}}
    out = dict(p)
    dist = out.get("distribution")
    if dist is None:
        if "value" in out:
            dist = "constant"
        elif "values" in out:
            dist = "categorical"
        elif "min" in out and "max" in out:
            ints = all(isinstance(out[k], int) and not isinstance(out[k], bool) for k in ("min", "max"))
            dist = "int_uniform" if ints else "uniform"
        elif "mu" in out or "sigma" in out:
            dist = "normal"
        else:
            raise SweepSpecError(f"parameters.{name}: give value, values, or min and max")
    if dist not in DISTRIBUTIONS:
        raise SweepSpecError(f"parameters.{name}.distribution {dist!r} is not one of {', '.join(DISTRIBUTIONS)}")
    out["distribution"] = dist
    if dist == "constant" and "value" not in out:
        raise SweepSpecError(f"parameters.{name}: a constant needs value")
    if dist == "categorical":
        values = out.get("values")
        if not isinstance(values, list) or not values:
            raise SweepSpecError(f"parameters.{name}.values must be a non-empty list")
        probs = out.get("probabilities")
        if probs is not None:
            if not isinstance(probs, list) or len(probs) != len(values):
                raise SweepSpecError(f"parameters.{name}.probabilities must be as long as values")
            if abs(sum(_number(f"parameters.{name}.probabilities", x) for x in probs) - 1) > 1e-6:
                raise SweepSpecError(f"parameters.{name}.probabilities must sum to 1")
    if dist in RANGED:
        for k in ("min", "max"):
            if k not in out:
                raise SweepSpecError(f"parameters.{name}: distribution {dist} needs min and max")
            _number(f"parameters.{name}.{k}", out[k])
        if out["min"] > out["max"]:
            raise SweepSpecError(f"parameters.{name}: min {out['min']} is above max {out['max']}")
        if dist.endswith("_values") and out["min"] <= 0:
            raise SweepSpecError(f"parameters.{name}: {dist} needs min > 0")
        if dist == "int_uniform" and not all(isinstance(out[k], int) for k in ("min", "max")):
            raise SweepSpecError(f"parameters.{name}: int_uniform needs whole min and max")
    if dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
        out.setdefault("mu", 0.0)
        out.setdefault("sigma", 1.0)
        _number(f"parameters.{name}.mu", out["mu"])
        if _number(f"parameters.{name}.sigma", out["sigma"]) <= 0:
            raise SweepSpecError(f"parameters.{name}.sigma must be above 0")
    if dist.startswith("q_"):
        out.setdefault("q", 1.0)
        if _number(f"parameters.{name}.q", out["q"]) <= 0:
            raise SweepSpecError(f"parameters.{name}.q must be above 0")
    return out


def check(spec: Any) -> dict[str, Any]:
    """The spec as a sweep keeps it (distributions explicit), or SweepSpecError."""
    if not isinstance(spec, dict):
        raise SweepSpecError(f"a sweep spec is a map (method, metric, parameters), got {type(spec).__name__}")
    unknown = sorted(set(spec) - TOP_KEYS)
    if unknown:
        raise SweepSpecError(f"unknown sweep spec key(s): {', '.join(map(str, unknown))}")
    method = spec.get("method")
    if method not in METHODS:
        raise SweepSpecError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    params = spec.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SweepSpecError("parameters must be a non-empty map of parameter name -> its values")
    out = dict(spec)
    out["parameters"] = {str(k): _param(str(k), v) for k, v in params.items()}
    metric = spec.get("metric")
    if metric is not None:
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            raise SweepSpecError("metric must be a map with a name (and goal: minimize or maximize)")
        goal = metric.get("goal", "minimize")
        if goal not in ("minimize", "maximize"):
            raise SweepSpecError(f"metric.goal must be minimize or maximize, got {goal!r}")
        out["metric"] = {**metric, "goal": goal}
    if method == "bayes" and metric is None:
        raise SweepSpecError("method bayes needs a metric (name and goal) to optimise")
    if method == "grid":
        for name, p in _flat(out["parameters"]):
            if p["distribution"] not in ("constant", "categorical"):
                raise SweepSpecError(f"method grid needs values for every parameter; {name} is {p['distribution']}")
    cap = spec.get("run_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise SweepSpecError(f"run_cap must be a whole number above 0, got {cap!r}")
    early = spec.get("early_terminate")
    if early is not None:
        if not isinstance(early, dict) or early.get("type") != "hyperband":
            raise SweepSpecError("early_terminate: only type hyperband is known")
        if "min_iter" not in early and "max_iter" not in early:
            raise SweepSpecError("early_terminate (hyperband) needs min_iter, or max_iter and s")
        eta = early.get("eta", 3)
        if _number("early_terminate.eta", eta) <= 1:
            raise SweepSpecError("early_terminate.eta must be above 1")
    if metric is None and early is not None:
        raise SweepSpecError("early_terminate needs a metric")
    return out


def _flat(params: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, p in params.items():
        if "parameters" in p:
            out.extend(_flat(p["parameters"], f"{prefix}{name}."))
        else:
            out.append((f"{prefix}{name}", p))
    return out


def _nest(flat: dict[str, Any], params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in params.items():
        if "parameters" in p:
            out[name] = _nest(flat, p["parameters"], f"{prefix}{name}.")
        else:
            out[name] = flat[f"{prefix}{name}"]
    return out


def grid_size(spec: dict[str, Any]) -> int:
    size = 1
    for _, p in _flat(spec["parameters"]):
        size *= len(p["values"]) if p["distribution"] == "categorical" else 1
    return size


def grid_params(spec: dict[str, Any], index: int) -> dict[str, Any]:
    """The ``index``-th combination of a grid (the last parameter varies fastest)."""
    flat = _flat(spec["parameters"])
    choices = [p["values"] if p["distribution"] == "categorical" else [p["value"]] for _, p in flat]
    combo = next(itertools.islice(itertools.product(*choices), index, None))
    return _nest({name: v for (name, _), v in zip(flat, combo)}, spec["parameters"])


def sample(p: dict[str, Any], rng: random.Random) -> Any:
    """One value of a parameter's distribution."""
    d = p["distribution"]
    if d == "constant":
        return p["value"]
    if d == "categorical":
        return rng.choices(p["values"], weights=p.get("probabilities"))[0]
    lo: Any = p.get("min")
    hi: Any = p.get("max")
    if d == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if d == "uniform":
        return rng.uniform(lo, hi)
    if d == "q_uniform":
        return round(rng.uniform(lo, hi) / p["q"]) * p["q"]
    if d == "log_uniform":  # min and max are exponents (natural log), as wandb
        return math.exp(rng.uniform(lo, hi))
    if d == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if d == "q_log_uniform":
        return round(math.exp(rng.uniform(lo, hi)) / p["q"]) * p["q"]
    if d == "q_log_uniform_values":
        return round(math.exp(rng.uniform(math.log(lo), math.log(hi))) / p["q"]) * p["q"]
    if d == "inv_log_uniform":
        return math.exp(-rng.uniform(lo, hi))
    if d == "inv_log_uniform_values":
        return 1 / math.exp(rng.uniform(math.log(1 / hi), math.log(1 / lo)))
    if d == "normal":
        return rng.gauss(p["mu"], p["sigma"])
    if d == "q_normal":
        return round(rng.gauss(p["mu"], p["sigma"]) / p["q"]) * p["q"]
    if d == "log_normal":
        return math.exp(rng.gauss(p["mu"], p["sigma"]))
    if d == "q_log_normal":
        return round(math.exp(rng.gauss(p["mu"], p["sigma"])) / p["q"]) * p["q"]
    raise SweepSpecError(f"unknown distribution {d!r}")


def random_params(spec: dict[str, Any], seed: int, index: int) -> dict[str, Any]:
    """Trial ``index``'s parameters of a random sweep: the same for every agent that asks."""
    rng = random.Random(f"{seed}:{index}")
    flat = {name: sample(p, rng) for name, p in _flat(spec["parameters"])}
    return _nest(flat, spec["parameters"])


def flat_params(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return _flat(spec["parameters"])


def nest(flat: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return _nest(flat, spec["parameters"])


def load(path: str) -> dict[str, Any]:
    """A spec file: YAML (needs PyYAML) or JSON."""
    with open(path, encoding="utf-8") as f:
        text = f.read(1 << 20)
    if path.endswith(".json"):
        import json

        try:
            return check(json.loads(text))
        except ValueError as e:
            if isinstance(e, SweepSpecError):
                raise
            raise SweepSpecError(f"{path}: not JSON: {e}") from None
    try:
        import yaml
    except ImportError:
        raise SweepSpecError(f"{path}: reading YAML needs PyYAML: pip install 'runship[sweep]'") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SweepSpecError(f"{path}: not YAML: {e}") from None
    return check(data)
