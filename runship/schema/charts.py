"""The charts a run's config describes: wandb's ``_wandb.visualize``.

A ``wandb.plot`` chart logged under ``key`` is a table under its table key
(``<key>_table``) plus, in the run's config at ``_wandb.visualize.<key>``,
wandb's panel config: ``panel_config.panelDefId`` (the preset,
``wandb/line/v0``), ``fieldSettings`` (the preset's columns by role),
``stringSettings`` (its title) and the table key inside ``userQuery``.
A ``wandb.visualize(id, table)`` chart (``wandb.sklearn``'s) is the table
under ``key`` itself and ``_wandb.viz.<key>`` = ``{"id": preset, ...}``:
its columns are the preset's (``PRESETS``).

``user_config`` is the config without ``_wandb`` (what wandb's API returns as
``run.config``); ``charts`` reads the specs back, checked: a config is input
like any other (a run directory may hold crafted records), so a spec that is
not of this shape is left out, and every name is a bounded string.
"""

from __future__ import annotations

from typing import Any

CONFIG_KEY = "_wandb"
MAX_CHARTS = 1000
MAX_NAME = 1000  # a key, a preset, a column, a title
MAX_FIELDS = 64


# wandb.visualize's presets (wandb.sklearn's charts): the config names only the preset, whose
# table has fixed columns; each is drawn as the chart (spec, its columns by role, title) here
PRESETS: dict[str, tuple[str, dict[str, str], str]] = {
    "wandb/confusion_matrix/v1": (
        "wandb/confusion_matrix/v1",
        {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "Count"},
        "Confusion Matrix",
    ),
    "wandb/feature_importances/v1": (
        "wandb/bar/v0",
        {"label": "feature_names", "value": "importances"},
        "Feature Importance",
    ),
    "wandb/class_proportions/v1": ("wandb/bar/v0", {"label": "class", "value": "count"}, "Class Proportions"),
    "wandb/calibration/v1": (
        "wandb/calibration/v1",
        {"x": "mean_predicted_value", "y": "fraction_of_positives", "stroke": "model"},
        "Calibration Curve",
    ),
    "wandb/metrics/v1": ("wandb/bar/v0", {"label": "metric_name", "value": "metric_value"}, "Summary Metrics"),
    "wandb/learning_curve/v1": (
        "wandb/lineseries/v0",
        {"step": "train_size", "lineKey": "dataset", "lineVal": "score"},
        "Learning Curve",
    ),
    "wandb/outliers/v1": ("wandb/bar/v0", {"label": "instance_indicies", "value": "distance"}, "Outlier Candidates"),
    "wandb/residuals_plot/v1": ("wandb/scatter/v0", {"x": "y_pred", "y": "residuals"}, "Residuals"),
    "wandb/elbow/v1": ("wandb/line/v0", {"x": "cluster_ranges", "y": "errors"}, "Elbow Plot"),
    "wandb/silhouette_/v1": ("wandb/scatter/v0", {"x": "x2", "y": "y_sil"}, "Silhouette"),
}


SECTIONS = ("visualize", "viz")


def merged(old: object, delta: object) -> object:
    """``_wandb``'s value once a ``config`` record setting it to ``delta`` is
    read over ``old``: a writer records only the charts it adds
    (``{"visualize": {key: spec}}``), so a chart section is merged key by key;
    anything else is replaced, as any config key is."""
    if not isinstance(old, dict) or not isinstance(delta, dict):
        return delta
    out = dict(old)
    for section, value in delta.items():
        before = out.get(section)
        if section in SECTIONS and isinstance(before, dict) and isinstance(value, dict):
            out[section] = {**before, **value}
        else:
            out[section] = value
    return out


def update_config(config: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """``changed`` (a ``config`` record's ``d``) as read over ``config``:
    ``_wandb`` merged (``merged``), every other key as it is."""
    if CONFIG_KEY in changed and CONFIG_KEY in config:
        return {**changed, CONFIG_KEY: merged(config[CONFIG_KEY], changed[CONFIG_KEY])}
    return changed


def user_config(config: dict[str, Any]) -> dict[str, Any]:
    """The run's own config: without wandb's ``_wandb`` (chart specs)."""
    if CONFIG_KEY not in config:
        return config
    return {k: v for k, v in config.items() if k != CONFIG_KEY}


def charts(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The charts of ``_wandb.visualize`` (``wandb.plot``) and ``_wandb.viz``
    (``wandb.visualize``'s presets), by key: ``{"spec", "fields",
    "string_fields", "table_key"}`` (at most MAX_CHARTS; malformed ones left out)."""
    inner = config.get(CONFIG_KEY)
    if not isinstance(inner, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for section, read in zip(SECTIONS, (_chart, _preset)):
        shown = inner.get(section)
        for key, value in shown.items() if isinstance(shown, dict) else ():
            chart = read(key, value)
            if chart is not None and _name(key) and len(out) < MAX_CHARTS:
                out[key] = chart
    return out


def _preset(key: str, value: object) -> dict[str, Any] | None:
    """A ``wandb.visualize`` chart: its preset drawn over the table at its key."""
    preset = PRESETS.get(str(value.get("id"))) if isinstance(value, dict) else None
    if preset is None:
        return None
    spec, fields, title = preset
    return {"spec": spec, "fields": dict(fields), "string_fields": {"title": title}, "table_key": key}


def _chart(_key: str, value: object) -> dict[str, Any] | None:
    panel = value.get("panel_config") if isinstance(value, dict) else None
    if not isinstance(panel, dict):
        return None
    spec, table_key = panel.get("panelDefId"), _table_key(panel.get("userQuery"))
    if not _name(spec) or table_key is None:
        return None
    return {
        "spec": spec,
        "fields": _names(panel.get("fieldSettings")),
        "string_fields": _names(panel.get("stringSettings")),
        "table_key": table_key,
    }


def _table_key(query: object) -> str | None:
    """The ``tableKey`` argument of the query's ``summaryTable`` field."""
    fields = query.get("queryFields") if isinstance(query, dict) else None
    for field in fields if isinstance(fields, list) else ():
        for inner in field.get("fields", ()) if isinstance(field, dict) else ():
            if not isinstance(inner, dict) or inner.get("name") != "summaryTable":
                continue
            for arg in inner.get("args", ()) if isinstance(inner.get("args"), list) else ():
                if isinstance(arg, dict) and arg.get("name") == "tableKey" and _name(arg.get("value")):
                    return str(arg["value"])
    return None


def _names(value: object) -> dict[str, str]:
    """A map of bounded strings (numbers as text, as a title may be); others left out."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for k, v in list(value.items())[:MAX_FIELDS]:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if _name(k) and isinstance(v, str) and len(v) <= MAX_NAME:
            out[k] = v
    return out


def _name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME
