"""``wandb.plot`` charts in a logged row, stored as wandb stores them.

wandb takes every chart out of the row (in nested dicts too: its key is the
dotted path), logs its table under ``<key>_table`` at the row's top level
and keeps how to draw it in the run's config, ``_wandb.visualize.<key>``.
runship does the same, so that ``run.summary["roc_table"]``,
``run.history(keys=["roc_table"])`` and the config read the same in both.

``wandb.visualize(id, table)`` (``runship.plot.Visualize``, what
``wandb.sklearn`` logs) keeps its table under the key itself and its preset
in the config at ``_wandb.viz.<key>``. A chart is known by its type
(``_type == "plot"``) and its ``table_key``, ``config_value`` and
``config_section``: the writer does not import the plot module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 8  # as deep as a row's nested dicts are converted


def is_chart(value: object) -> bool:
    return (
        getattr(value, "_type", None) == "plot" and hasattr(value, "config_value") and hasattr(value, "config_section")
    )


def split_charts(data: Mapping[str, Any], prefix: str = "", depth: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` without its charts (a new dict; a nested dict that held one
    is a new dict too, left out where the charts were all it held, as wandb
    records it), and the charts by their dotted key. ``data`` is not changed."""
    rest: dict[str, Any] = {}
    charts: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if is_chart(v):
            charts[key] = v
        elif isinstance(v, dict) and depth < MAX_DEPTH:
            inner, found = split_charts(v, key, depth + 1)
            if inner or not found:
                rest[k] = inner if found else v
            charts.update(found)
        else:
            rest[k] = v
    return rest, charts


def with_tables(rest: dict[str, Any], charts: dict[str, Any]) -> dict[str, Any]:
    """The row to convert: ``rest`` and each chart's table at its table key."""
    out = dict(rest)
    for key, chart in charts.items():
        out[chart.table_key(key)] = chart.table
    return out


def visualize(wandb_config: object, charts: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the config's ``_wandb`` value with these charts set, what to record
    of it): a ``wandb.plot`` chart's spec under ``visualize``, a
    ``wandb.visualize`` preset's under ``viz``. Only a spec that is new or
    changed is recorded (readers merge ``_wandb``'s chart sections key by
    key): a run that logs a chart under a new key each epoch records each
    spec once, not all of them again."""
    base = dict(wandb_config) if isinstance(wandb_config, dict) else {}
    delta: dict[str, Any] = {}
    for key, chart in charts.items():
        section, spec = chart.config_section, chart.config_value(key)
        shown = base.get(section)
        specs = dict(shown) if isinstance(shown, dict) else {}
        if specs.get(key) == spec:
            continue
        specs[key] = spec
        base[section] = specs
        delta.setdefault(section, {})[key] = spec
    return base, delta
