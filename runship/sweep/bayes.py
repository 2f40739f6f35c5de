"""Bayesian search through Optuna's TPE sampler (``pip install
'runship[sweep]'``): each claim builds an in-memory study from the sweep's
finished trials (and its running ones, so that agents claiming at once
are told apart: TPE's constant liar) and asks it for the next point.

A parameter TPE has no distribution for (normal and its kin) is drawn at
random as in a random sweep; a categorical whose values are not plain
numbers or strings is chosen by its position."""

from __future__ import annotations

import math
import random
import sys
from typing import Any

from runship.sweep import spec as specs


def missing() -> str | None:
    """Why a bayes sweep cannot run in this Python (Optuna cannot be
    imported), with how to install it; None when it can."""
    try:
        import optuna  # noqa: F401
    except ImportError as e:
        return (
            f"method bayes needs Optuna, which this Python ({sys.executable}) cannot import ({e}); "
            "install it where the sweep's agents run: pip install 'runship[sweep]'"
        )
    return None


def _distributions(spec: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, p in specs.flat_params(spec):
        d = p["distribution"]
        lo: Any = p.get("min")
        hi: Any = p.get("max")
        if d == "categorical":
            out[name] = CategoricalDistribution(list(range(len(p["values"]))))
        elif d == "int_uniform":
            out[name] = IntDistribution(int(lo), int(hi))
        elif d == "uniform":
            out[name] = FloatDistribution(float(lo), float(hi))
        elif d == "log_uniform_values":
            out[name] = FloatDistribution(float(lo), float(hi), log=True)
        elif d == "log_uniform":
            out[name] = FloatDistribution(math.exp(lo), math.exp(hi), log=True)
        elif d == "q_uniform" and ((hi - lo) / p["q"]).is_integer():
            out[name] = FloatDistribution(float(lo), float(hi), step=float(p["q"]))
    return out


def _internal(spec: dict[str, Any], params: dict[str, Any], dists: dict[str, Any]) -> dict[str, Any] | None:
    """A trial's params as the study knows them (categoricals by position); None if they do not fit."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, mapping: dict[str, Any]) -> None:
        for k, v in mapping.items():
            if (
                isinstance(v, dict)
                and f"{prefix}{k}" not in dists
                and any(n.startswith(f"{prefix}{k}.") for n in dists)
            ):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", params)
    out = {}
    by_name = dict(specs.flat_params(spec))
    for name, dist in dists.items():
        if name not in flat:
            return None
        value = flat[name]
        if by_name[name]["distribution"] == "categorical":
            values = by_name[name]["values"]
            if value not in values:
                return None
            value = values.index(value)
        try:
            if not dist._contains(dist.to_internal_repr(value)):
                return None
        except (TypeError, ValueError):
            return None
        out[name] = value
    return out


def suggest(
    spec: dict[str, Any], results: dict[int, dict[str, Any]], running: list[dict[str, Any]], rng: random.Random
) -> dict[str, Any]:
    """The next trial's params."""
    try:
        import optuna
    except ImportError:
        raise ImportError("method bayes needs Optuna: pip install 'runship[sweep]'") from None
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(spec)
    goal = spec["metric"]["goal"]
    sampler = optuna.samplers.TPESampler(
        seed=rng.randrange(2**31), constant_liar=True, n_startup_trials=min(10, max(2, len(dists) * 2))
    )
    study = optuna.create_study(direction="minimize" if goal == "minimize" else "maximize", sampler=sampler)
    for res in results.values():
        value = res.get("metric")
        params = _internal(spec, res.get("params") or {}, dists)
        if params is None or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if res.get("state") not in ("finished", "stopped"):
            continue
        study.add_trial(create_trial(params=params, distributions=dists, value=float(value)))
    for params_ in running:
        params = _internal(spec, params_, dists)
        if params is not None:
            study.add_trial(create_trial(params=params, distributions=dists, state=TrialState.RUNNING))
    trial = study.ask(fixed_distributions=dists)
    flat: dict[str, Any] = {}
    for name, p in specs.flat_params(spec):
        if name in dists:
            value = trial.params[name]
            flat[name] = p["values"][value] if p["distribution"] == "categorical" else value
        else:
            flat[name] = specs.sample(p, rng)
    return specs.nest(flat, spec)
