"""A sweep's spec, as wandb's sweep YAML says it: ``method`` (grid,
random, bayes), ``metric`` (``name``, ``goal``), ``parameters`` (each a
``value``, ``values`` with optional ``probabilities``, or ``min``/``max``
with a ``distribution``; ``parameters`` nests), ``early_terminate``
(``type: hyperband`` with ``min_iter`` or ``max_iter``/``s``, ``eta``),
``run_cap``, ``program``, ``command``, ``name``, ``description``.

``check(spec)`` returns the spec as the sweep keeps it, or raises
SweepSpecError naming what is wrong; ``grid_size``/``grid_params`` and
``random_params`` make a trial's parameters (bayes: ``runship.sweep.bayes``).

A spec is input: the agent checks it again when it reads a sweep directory
(another user may have written it). Parameter names follow
``names.check_param_name``; ``program`` is a file path, never an option;
every number, list and string is bounded (the limits below)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

from runship import safefile
from runship.errors import UsageError
from runship.schema import names

MAX_SPEC_BYTES = 1 << 20  # the spec as JSON (a spec file, spec.json)
MAX_SPEC_DEPTH = 32  # nesting of the spec's maps and lists
MAX_PARAMS = 64  # parameters (leaves, nested ones counted)
MAX_PARAM_DEPTH = 8  # parameters nested in parameters
MAX_VALUES = 10_000  # a values (or probabilities) list
MAX_VALUE_BYTES = 1024  # one value (value, an item of values) as JSON: a trial's params fit one env variable (128 KiB)
MAX_NUMBER = 1e15  # magnitude of min, max, mu, sigma, q
MAX_EXPONENT = 700.0  # log_uniform, q_log_uniform, inv_log_uniform: min and max (exp stays finite); log_normal: mu
MAX_TRIALS = 1_000_000  # run_cap, and a grid's points
MAX_ITER = 1_000_000  # hyperband's min_iter and max_iter (rows)
MAX_BRACKETS = 32  # hyperband's s
MAX_ETA = 100.0  # hyperband's eta (above 1)
MAX_TEXT = 1024  # program, metric.name

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


def _number(where: str, value: Any, bound: float = MAX_NUMBER) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SweepSpecError(f"{where} must be a number, got {_shown(value)}")
    if abs(value) > bound:
        raise SweepSpecError(f"{where} must be within ±{bound:g}, got {value:g}")
    return value


def _whole(where: str, value: Any, low: int, high: int) -> int:
    """A whole number in [low, high] (a float with no fraction, as YAML's 1e3, counts)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) <= 2**53:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SweepSpecError(f"{where} must be a whole number from {low} to {high:,}, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 60 else f"{text[:60]}..."


def _json_size(value: Any, where: str, limit: int) -> int:
    """About how many bytes ``value`` takes as JSON, walked without recursion
    and given up past ``limit`` or MAX_SPEC_DEPTH (a YAML alias bomb stops
    here, not in json.dumps); raises SweepSpecError naming ``where``."""
    size, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_SPEC_DEPTH:
            raise SweepSpecError(f"{where} is nested more than {MAX_SPEC_DEPTH} deep")
        if isinstance(item, dict):
            size += 2 + 4 * len(item)
            for k, v in item.items():
                if not isinstance(k, str):
                    raise SweepSpecError(f"{where} has a key that is not a string: {_shown(k)}")
                size += len(json.dumps(k))
                stack.append((v, depth + 1))
        elif isinstance(item, list):
            size += 2 + len(item)
            if size <= limit:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise SweepSpecError(f"{where} holds a NUL character")
            size += len(json.dumps(item))  # as JSON writes it: é is 6 bytes (\u00e9)
        elif item is None or isinstance(item, bool):
            size += 5
        elif isinstance(item, (int, float)):
            size += len(repr(item)) if abs(item) < 1e300 else 24  # no repr of a 4,000-digit int
        else:
            raise SweepSpecError(f"{where} holds a {type(item).__name__}: only JSON values are allowed")
        if size > limit:
            raise SweepSpecError(f"{where} is larger than {limit:,} bytes as JSON")
    return size


def _param(name: str, p: Any, depth: int = 0) -> dict[str, Any]:
    """One parameter (``name``: its full dotted name), with its distribution made explicit."""
    if not isinstance(p, dict):
        raise SweepSpecError(f"parameters.{name} must be a map (value, values, or min/max), got {_shown(p)}")
    if "parameters" in p:
        return {"parameters": _params(p["parameters"], f"{name}.", depth + 1)}
    out = dict(p)
    dist = out.get("distribution")
    if dist is None:
        dist = _implied(name, out)
    if dist not in DISTRIBUTIONS:
        raise SweepSpecError(f"parameters.{name}.distribution {_shown(dist)} is not one of {', '.join(DISTRIBUTIONS)}")
    out["distribution"] = dist
    if dist == "constant":
        if "value" not in out:
            raise SweepSpecError(f"parameters.{name}: a constant needs value")
        _json_size(out["value"], f"parameters.{name}.value", MAX_VALUE_BYTES)
    if dist == "categorical":
        _categorical(name, out)
    if dist in RANGED:
        _ranged(name, dist, out)
    if dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
        out.setdefault("mu", 0.0)
        out.setdefault("sigma", 1.0)
        _number(f"parameters.{name}.mu", out["mu"], MAX_EXPONENT if "log" in dist else MAX_NUMBER)
        if _number(f"parameters.{name}.sigma", out["sigma"]) <= 0:
            raise SweepSpecError(f"parameters.{name}.sigma must be above 0")
    if dist.startswith("q_"):
        out.setdefault("q", 1.0)
        if _number(f"parameters.{name}.q", out["q"]) <= 0:
            raise SweepSpecError(f"parameters.{name}.q must be above 0")
    return out


def _params(params: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """A ``parameters`` map (``prefix``: the names of the maps it is nested in)."""
    where = f"parameters.{prefix}parameters" if prefix else "parameters"
    if not isinstance(params, dict) or not params:
        raise SweepSpecError(f"{where} must be a non-empty map of parameter name -> its values")
    if depth >= MAX_PARAM_DEPTH:
        raise SweepSpecError(f"{where}: parameters are nested more than {MAX_PARAM_DEPTH} deep")
    out = {}
    for key, p in params.items():
        try:
            names.check_param_name(key)
            names.check_param_name(f"{prefix}{key}")
        except names.BadName as e:
            raise SweepSpecError(str(e)) from None
        out[key] = _param(f"{prefix}{key}", p, depth)
    return out


def _implied(name: str, p: dict[str, Any]) -> str:
    """The distribution a parameter without one has, as wandb infers it."""
    if "value" in p:
        return "constant"
    if "values" in p:
        return "categorical"
    if "min" in p and "max" in p:
        ints = all(isinstance(p[k], int) and not isinstance(p[k], bool) for k in ("min", "max"))
        return "int_uniform" if ints else "uniform"
    if "mu" in p or "sigma" in p:
        return "normal"
    raise SweepSpecError(f"parameters.{name}: give value, values, or min and max")


def _categorical(name: str, p: dict[str, Any]) -> None:
    values = p.get("values")
    if not isinstance(values, list) or not values:
        raise SweepSpecError(f"parameters.{name}.values must be a non-empty list")
    if len(values) > MAX_VALUES:
        raise SweepSpecError(f"parameters.{name}.values has {len(values):,} values, at most {MAX_VALUES:,} allowed")
    for i, value in enumerate(values):
        _json_size(value, f"parameters.{name}.values[{i}]", MAX_VALUE_BYTES)
    probs = p.get("probabilities")
    if probs is not None:
        if not isinstance(probs, list) or len(probs) != len(values):
            raise SweepSpecError(f"parameters.{name}.probabilities must be as long as values")
        if abs(sum(_number(f"parameters.{name}.probabilities", x, 1.0) for x in probs) - 1) > 1e-6:
            raise SweepSpecError(f"parameters.{name}.probabilities must sum to 1")
        if any(x < 0 for x in probs):
            raise SweepSpecError(f"parameters.{name}.probabilities must not be negative")


def _ranged(name: str, dist: str, p: dict[str, Any]) -> None:
    exponents = dist in ("log_uniform", "q_log_uniform", "inv_log_uniform")  # min and max are exponents
    for k in ("min", "max"):
        if k not in p:
            raise SweepSpecError(f"parameters.{name}: distribution {dist} needs min and max")
        _number(f"parameters.{name}.{k}", p[k], MAX_EXPONENT if exponents else MAX_NUMBER)
    if p["min"] > p["max"]:
        raise SweepSpecError(f"parameters.{name}: min {p['min']} is above max {p['max']}")
    if dist.endswith("_values") and p["min"] <= 0:
        raise SweepSpecError(f"parameters.{name}: {dist} needs min > 0")
    if dist == "int_uniform" and not all(isinstance(p[k], int) for k in ("min", "max")):
        raise SweepSpecError(f"parameters.{name}: int_uniform needs whole min and max")


def check(spec: Any) -> dict[str, Any]:
    """The spec as a sweep keeps it (distributions explicit), or SweepSpecError."""
    if not isinstance(spec, dict):
        raise SweepSpecError(f"a sweep spec is a map (method, metric, parameters), got {type(spec).__name__}")
    _json_size(spec, "the sweep spec", MAX_SPEC_BYTES)
    unknown = sorted(set(spec) - TOP_KEYS)
    if unknown:
        raise SweepSpecError(f"unknown sweep spec key(s): {', '.join(map(str, unknown))}")
    method = spec.get("method")
    if method not in METHODS:
        raise SweepSpecError(f"method must be one of {', '.join(METHODS)}, got {_shown(method)}")
    out = dict(spec)
    out["parameters"] = _params(spec.get("parameters"))
    flat = _flat(out["parameters"])
    if len(flat) > MAX_PARAMS:
        raise SweepSpecError(f"parameters: {len(flat)} parameters, at most {MAX_PARAMS} allowed")
    metric = _metric(spec.get("metric"))
    if metric is not None:
        out["metric"] = metric
    if method == "bayes" and metric is None:
        raise SweepSpecError("method bayes needs a metric (name and goal) to optimise")
    if method == "grid":
        _grid(flat)
    if spec.get("run_cap") is not None:
        _whole("run_cap", spec["run_cap"], 1, MAX_TRIALS)
    if spec.get("early_terminate") is not None:
        if metric is None:
            raise SweepSpecError("early_terminate needs a metric")
        _early(spec["early_terminate"])
    if spec.get("program") is not None:
        _program(spec["program"])
    return out


def _metric(metric: Any) -> dict[str, Any] | None:
    if metric is None:
        return None
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str) or not metric["name"]:
        raise SweepSpecError("metric must be a map with a name (and goal: minimize or maximize)")
    if len(metric["name"]) > MAX_TEXT:
        raise SweepSpecError(f"metric.name is longer than {MAX_TEXT} characters")
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise SweepSpecError(f"metric.goal must be minimize or maximize, got {_shown(goal)}")
    return {**metric, "goal": goal}


def _grid(flat: list[tuple[str, dict[str, Any]]]) -> None:
    size = 1
    for name, p in flat:
        if p["distribution"] not in ("constant", "categorical"):
            raise SweepSpecError(f"method grid needs values for every parameter; {name} is {p['distribution']}")
        size *= len(p["values"]) if p["distribution"] == "categorical" else 1
        if size > MAX_TRIALS:
            raise SweepSpecError(f"method grid: more than {MAX_TRIALS:,} grid points (at parameter {name})")


def _early(early: Any) -> None:
    """early_terminate: hyperband with min_iter, or max_iter and s; eta."""
    if not isinstance(early, dict) or early.get("type") != "hyperband":
        raise SweepSpecError("early_terminate: only type hyperband is known")
    if "min_iter" not in early and "max_iter" not in early:
        raise SweepSpecError("early_terminate (hyperband) needs min_iter, or max_iter and s")
    for key in ("min_iter", "max_iter"):
        if key in early:
            _whole(f"early_terminate.{key}", early[key], 1, MAX_ITER)
    if "s" in early:
        _whole("early_terminate.s", early["s"], 1, MAX_BRACKETS)
    if _number("early_terminate.eta", early.get("eta", 3), MAX_ETA) <= 1:
        raise SweepSpecError("early_terminate.eta must be above 1")


def _program(program: Any) -> None:
    """The spec's program: a path to a file (run as ``python <program>``), never an option."""
    if not isinstance(program, str) or not program or len(program) > MAX_TEXT or not program.isprintable():
        raise SweepSpecError(
            f"program must be the path of a file (printable, at most {MAX_TEXT} characters), got {_shown(program)}"
        )
    if program.startswith("-"):
        raise SweepSpecError(f"program must be the path of a file, not an option: {_shown(program)}")


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
    combo: list[Any] = []
    for values in reversed(choices):
        index, at = divmod(index, len(values))
        combo.append(values[at])
    combo.reverse()
    return _nest({name: v for (name, _), v in zip(flat, combo)}, spec["parameters"])


def _exp(x: float) -> float:
    """exp that stays finite (a normal's tail can reach past what exp takes)."""
    return math.exp(min(x, 709.0))


def _quantized(x: float, q: float) -> float:
    """``x`` rounded to a multiple of ``q`` (``x`` itself where that is past a float)."""
    steps = x / q
    return round(steps) * q if math.isfinite(steps) else x


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
        return _quantized(rng.uniform(lo, hi), p["q"])
    if d == "log_uniform":  # min and max are exponents (natural log), as wandb
        return _exp(rng.uniform(lo, hi))
    if d == "log_uniform_values":
        return _exp(rng.uniform(math.log(lo), math.log(hi)))
    if d == "q_log_uniform":
        return _quantized(_exp(rng.uniform(lo, hi)), p["q"])
    if d == "q_log_uniform_values":
        return _quantized(_exp(rng.uniform(math.log(lo), math.log(hi))), p["q"])
    if d == "inv_log_uniform":
        return _exp(-rng.uniform(lo, hi))
    if d == "inv_log_uniform_values":
        return 1 / _exp(rng.uniform(math.log(1 / hi), math.log(1 / lo)))
    if d == "normal":
        return rng.gauss(p["mu"], p["sigma"])
    if d == "q_normal":
        return _quantized(rng.gauss(p["mu"], p["sigma"]), p["q"])
    if d == "log_normal":
        return _exp(rng.gauss(p["mu"], p["sigma"]))
    if d == "q_log_normal":
        return _quantized(_exp(rng.gauss(p["mu"], p["sigma"])), p["q"])
    raise SweepSpecError(f"unknown distribution {d!r}")


def random_params(spec: dict[str, Any], seed: int, index: int) -> dict[str, Any]:
    """Trial ``index``'s parameters of a random sweep: the same for every agent that asks."""
    rng = random.Random(f"{seed}:{index}")
    flat = {name: sample(p, rng) for name, p in _flat(spec["parameters"])}
    return _nest(flat, spec["parameters"])


def fits(spec: dict[str, Any], params: Any) -> bool:
    """Are ``params`` (from a claim file, written by whoever claimed) a
    trial's params of this spec: the spec's parameters and no others, each
    a value it can take (a grid's or a categorical's values, a constant's
    value, a finite number for the others)?"""
    return _fits(spec["parameters"], params)


def _fits(params: dict[str, Any], given: Any) -> bool:
    if not isinstance(given, dict) or set(given) != set(params):
        return False
    for name, p in params.items():
        value, d = given[name], p.get("distribution")
        if "parameters" in p:
            ok = _fits(p["parameters"], value)
        elif d == "constant":
            ok = value == p["value"]
        elif d == "categorical":
            ok = value in p["values"]
        else:
            ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if not ok:
            return False
    return True


def flat_params(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return _flat(spec["parameters"])


def nest(flat: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return _nest(flat, spec["parameters"])


def load(path: str) -> dict[str, Any]:
    """A spec file: YAML (needs PyYAML) or JSON, at most MAX_SPEC_BYTES; a
    FIFO or anything but a regular file is refused, not read."""
    text = _read_text(path)
    try:
        return check(_parse(path, text))
    except SweepSpecError as e:
        raise SweepSpecError(f"{path}: {e}") from None


def _read_text(path: str) -> str:
    try:
        data = safefile.read_named(path, MAX_SPEC_BYTES)
    except safefile.NotRegular:
        raise SweepSpecError(f"{path}: not a regular file; a sweep spec is a YAML or JSON file") from None
    except safefile.TooLarge:
        raise SweepSpecError(f"{path}: larger than {MAX_SPEC_BYTES:,} bytes; a sweep spec is smaller") from None
    except OSError as e:
        raise SweepSpecError(f"{path}: cannot read it: {e.strerror or e}") from None
    return data.decode("utf-8", "replace")


def _parse(path: str, text: str) -> Any:
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as e:
            raise SweepSpecError(f"not JSON: {e}") from None
    try:
        import yaml
    except ImportError:
        raise SweepSpecError("reading YAML needs PyYAML: pip install 'runship[sweep]'") from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as e:
        raise SweepSpecError(f"not YAML: {e}") from None
