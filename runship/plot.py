"""``wandb.plot``: charts logged as a table plus how to draw it.

Each function returns a ``CustomChart``. Logged in a row as ``{key: chart}``
it is stored as wandb stores it: the table under ``<key>_table`` (a
``table-file`` reference, in the history and the summary) and how to draw it
in the run's config at ``_wandb.visualize.<key>`` (``panelDefId`` names
wandb's preset, ``wandb/line/v0`` and so on; ``fieldSettings`` its columns;
``stringSettings`` its title). ``runship ui`` draws line, scatter, bar,
histogram, line series, ROC and PR curves and confusion matrices from it.

No dependency beyond numpy (for the curves); scikit-learn is not needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from runship.media import Job, Media, Ref, Table

__all__ = [
    "CustomChart",
    "Visualize",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "plot_table",
    "pr_curve",
    "roc_curve",
    "scatter",
    "visualize",
]


class CustomChart(Media):
    """A table and the chart drawn from it (``spec``, ``fields``)."""

    _type = "plot"
    config_section = "visualize"

    def __init__(
        self,
        table: Table,
        spec: str,
        fields: Mapping[str, str | None],
        string_fields: dict[str, Any] | None = None,
        split_table: bool = False,
    ):
        if not isinstance(table, Table):
            raise TypeError(f"a chart needs a runship.Table (wandb.Table), got {type(table).__name__}")
        for role, column in fields.items():
            if column is not None and column not in table.columns:
                raise ValueError(f"chart field {role}={column!r}: the table has no such column ({table.columns})")
        self.table = table
        self.spec = spec
        self.fields = dict(fields)
        self.string_fields = dict(string_fields or {})
        self.split_table = split_table

    def table_key(self, key: str) -> str:
        """Where ``log()`` puts the chart's table: ``<key>_table`` (in the
        "Custom Chart Tables" section with ``split_table``), as wandb does."""
        return f"Custom Chart Tables/{key}_table" if self.split_table else f"{key}_table"

    def config_value(self, key: str) -> dict[str, Any]:
        """How to draw the chart logged under ``key``: what wandb keeps in the
        run's config at ``_wandb.visualize.<key>``, the same fields."""
        table_query = {"name": "tableKey", "value": self.table_key(key)}
        run_sets = {
            "name": "runSets",
            "args": [{"name": "runSets", "value": "${runSets}"}],
            "fields": [
                {"name": "id", "fields": []},
                {"name": "name", "fields": []},
                {"name": "_defaultColorIndex", "fields": []},
                {"name": "summaryTable", "args": [table_query], "fields": []},
            ],
        }
        return {
            "panel_type": "Vega2",
            "panel_config": {
                "panelDefId": self.spec,
                "fieldSettings": dict(self.fields),
                "stringSettings": dict(self.string_fields),
                "transform": {"name": "tableWithLeafColNames"},
                "userQuery": {"queryFields": [run_sets]},
            },
        }

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        """A chart not logged as a row's value (in a list): the chart and its
        table in one value, the way every chart was recorded before runship
        took wandb's layout (still read and drawn)."""
        ref, job = self.table._bind(run_dir, f"{key}_table", step)
        out = {
            "_type": self._type,
            "spec": self.spec,
            "fields": self.fields,
            "string_fields": {k: str(v) for k, v in self.string_fields.items()},
            "table": ref,
        }
        return out, job


class Visualize(Media):
    """``wandb.visualize(id, table)``: a table drawn by one of wandb's preset
    charts (``wandb.sklearn`` logs its charts so). Logged under ``key``, the
    table is the row's value at ``key`` and the config keeps, at
    ``_wandb.viz.<key>``, ``{"id": id, "historyFieldSettings": ...}`` as
    wandb does; ``runship ui`` knows the presets' columns
    (``runship.schema.charts.PRESETS``)."""

    _type = "plot"
    config_section = "viz"

    def __init__(self, id: str, value: Table):
        if not isinstance(value, Table):
            raise TypeError(f"visualize() needs a runship.Table (wandb.Table), got {type(value).__name__}")
        self.id = str(id)
        self.table = value

    def table_key(self, key: str) -> str:
        return key

    def config_value(self, key: str) -> dict[str, Any]:
        return {"id": self.id, "historyFieldSettings": {"x-axis": "_step", "key": key}}

    def _bind(self, run_dir: str, key: str, step: int) -> tuple[Ref, Job | None]:
        """Not a row's value (in a list): its table, as wandb records it."""
        return self.table._bind(run_dir, key, step)


def visualize(id: str, value: Table) -> Visualize:
    """The table drawn by wandb's preset ``id`` (``wandb/confusion_matrix/v1``, ...)."""
    return Visualize(id, value)


def _title(title: str | None) -> dict[str, str]:
    return {"title": title or ""}


def plot_table(
    vega_spec_name: str,
    data_table: Table,
    fields: dict[str, str],
    string_fields: dict[str, Any] | None = None,
    split_table: bool = False,
) -> CustomChart:
    """A chart of any spec name over a table (runship ui draws the presets it knows)."""
    return CustomChart(data_table, vega_spec_name, fields, string_fields, split_table)


def line(
    table: Table, x: str, y: str, stroke: str | None = None, title: str = "", split_table: bool = False
) -> CustomChart:
    fields = {"x": x, "y": y, "stroke": stroke}  # stroke None too, as wandb keeps it
    return CustomChart(table, "wandb/line/v0", fields, _title(title), split_table)


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> CustomChart:
    return CustomChart(table, "wandb/scatter/v0", {"x": x, "y": y}, _title(title), split_table)


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    return CustomChart(table, "wandb/bar/v0", {"label": label, "value": value}, _title(title), split_table)


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    return CustomChart(table, "wandb/histogram/v0", {"value": value}, _title(title), split_table)


def line_series(
    xs: Sequence[Any],
    ys: Sequence[Sequence[Any]],
    keys: Sequence[str] | None = None,
    title: str = "",
    xname: str = "x",
    split_table: bool = False,
) -> CustomChart:
    """Several lines: ``xs`` one x sequence for all or one per line; ``ys`` one sequence per line."""
    ys = [list(y) for y in ys]
    if not ys:
        raise ValueError("line_series: ys holds no line")
    many = len(xs) > 0 and hasattr(xs[0], "__len__") and not isinstance(xs[0], str)
    xs_all = [list(x) for x in xs] if many else [list(xs)] * len(ys)
    if len(xs_all) != len(ys):
        raise ValueError(f"line_series: {len(xs_all)} x sequences for {len(ys)} lines")
    names = list(keys) if keys is not None else [f"key_{i}" for i in range(len(ys))]
    if len(names) != len(ys):
        raise ValueError(f"line_series: {len(names)} keys for {len(ys)} lines")
    table = Table(columns=["step", "lineKey", "lineVal"])
    for name, x, y in zip(names, xs_all, ys):
        if len(x) != len(y):
            raise ValueError(f"line_series: line {name!r} has {len(x)} x values and {len(y)} y values")
        for a, b in zip(x, y):
            table.add_data(a, name, b)
    return CustomChart(
        table,
        "wandb/lineseries/v0",
        {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"},
        {"title": title or "", "xname": xname},
        split_table,
    )


def confusion_matrix(
    probs: Any = None,
    y_true: Sequence[Any] | None = None,
    preds: Sequence[Any] | None = None,
    class_names: Sequence[str] | None = None,
    title: str = "Confusion Matrix Curve",
    split_table: bool = False,
) -> CustomChart:
    """Counts of (actual, predicted) classes, from predictions or from
    per-class probabilities (their argmax)."""
    import numpy as np

    if y_true is None:
        raise ValueError("confusion_matrix: y_true is needed")
    if (probs is None) == (preds is None):
        raise ValueError("confusion_matrix: give probs or preds, not both")
    if probs is not None:
        preds = np.argmax(np.asarray(probs), axis=1).tolist()
    truth, predicted = list(np.asarray(y_true).tolist()), list(np.asarray(preds).tolist())
    if len(truth) != len(predicted):
        raise ValueError(f"confusion_matrix: {len(truth)} labels and {len(predicted)} predictions")
    classes = sorted(set(truth) | set(predicted))
    if class_names is not None:
        if classes and (min(classes) < 0 or max(classes) >= len(class_names)):
            raise ValueError(f"confusion_matrix: a class index is outside class_names ({len(class_names)} names)")
        names = list(class_names)
        classes = list(range(len(names)))
    else:
        names = [str(c) for c in classes]
    at = {c: i for i, c in enumerate(classes)}
    counts = [[0] * len(classes) for _ in classes]
    for t, p in zip(truth, predicted):
        counts[at[t]][at[p]] += 1
    table = Table(columns=["Actual", "Predicted", "nPredictions"])
    for i, actual in enumerate(names):
        for j, pred in enumerate(names):
            table.add_data(actual, pred, counts[i][j])
    return CustomChart(
        table,
        "wandb/confusion_matrix/v1",
        {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
        _title(title),
        split_table,
    )


def _per_class(
    y_true: Any, y_probas: Any, labels: Sequence[str] | None, classes_to_plot: Sequence[Any] | None
) -> Iterator[tuple[Any, Any, Any]]:
    """(name, 1 where the label is the class else 0, the class's probabilities)
    of each class plotted, as wandb: the classes are the labels' distinct
    values in order, column i of ``y_probas`` is the i-th of them (as
    scikit-learn's ``predict_proba``), and an integer class is named
    ``labels[class]`` when ``labels`` is given."""
    import numpy as np

    if y_true is None or y_probas is None:
        raise ValueError("a curve needs y_true and y_probas")
    truth = np.asarray(y_true)
    probas = np.asarray(y_probas, dtype=np.float64)
    if probas.ndim == 1:
        probas = np.stack([1 - probas, probas], axis=1)
    if len(truth) != len(probas):
        raise ValueError(f"{len(truth)} labels and {len(probas)} rows of probabilities")
    classes = np.unique(truth)
    if len(classes) > probas.shape[1]:
        raise ValueError(f"{len(classes)} classes in y_true and {probas.shape[1]} columns of probabilities")
    chosen = classes if classes_to_plot is None else np.asarray(list(classes_to_plot))
    for i in np.flatnonzero(np.isin(classes, chosen)):
        c = classes[i].item() if isinstance(classes[i], np.generic) else classes[i]  # labels of objects: str
        name = c
        if labels is not None and isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(labels):
            name = labels[c]
        yield name, (truth == classes[i]).astype(np.int64), probas[:, i]


def _curve_points(positive: Any, score: Any) -> tuple[Any, Any, Any]:
    """(thresholds, true positives, false positives) at each distinct score,
    descending (scikit-learn's ``_binary_clf_curve``)."""
    import numpy as np

    order = np.argsort(-score, kind="stable")
    score, positive = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(positive)[last]
    fps = (last + 1) - tps
    return score[last], tps, fps


def _roc_points(positive: Any, score: Any) -> tuple[Any, Any]:
    """(false, true positive rates) as scikit-learn's ``roc_curve`` gives them
    (``drop_intermediate``: the points inside a straight stretch left out)."""
    import numpy as np

    _, tps, fps = _curve_points(positive, score)
    if len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[keep], tps[keep]
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    return fps / max(int(fps[-1]), 1), tps / max(int(tps[-1]), 1)


def roc_curve(
    y_true: Any,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[Any] | None = None,
    title: str = "ROC Curve",
    split_table: bool = False,
) -> CustomChart:
    """One ROC curve (false and true positive rates) per class, one against
    the rest: scikit-learn's points, rounded to 3 decimals, as wandb."""
    import numpy as np

    table = Table(columns=["class", "fpr", "tpr"])
    for name, positive, score in _per_class(y_true, y_probas, labels, classes_to_plot):
        fpr, tpr = _roc_points(positive, score)
        for f, t in zip(np.round(fpr, 3).tolist(), np.round(tpr, 3).tolist()):
            table.add_data(name, f, t)
    return _area_chart(table, ("fpr", "False positive rate"), ("tpr", "True positive rate"), title, split_table)


def pr_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[Any] | None = None,
    interp_size: int = 21,
    title: str = "Precision-Recall Curve",
    split_table: bool = False,
) -> CustomChart:
    """One precision-recall curve per class (one against the rest): the
    precision, made never to fall as recall falls, at ``interp_size`` recall
    levels from 1 down to 0, rounded to 3 decimals, as wandb."""
    import numpy as np

    table = Table(columns=["class", "precision", "recall"])
    grid = np.linspace(0, 1, interp_size)[::-1]
    for name, positive, score in _per_class(y_true, y_probas, labels, classes_to_plot):
        _, tps, fps = _curve_points(positive, score)
        precision = np.where(tps + fps > 0, tps / np.maximum(tps + fps, 1), 0.0)
        recall = tps / tps[-1] if tps[-1] else np.ones(len(tps))
        # scikit-learn's order (recall falling, then the point (0, 1)), precision made non-decreasing
        precision = np.maximum.accumulate(np.r_[precision[::-1], 1.0])[::-1]
        recall = np.r_[recall[::-1], 0.0][::-1]
        values = precision[np.searchsorted(recall, grid, side="left")]
        for p, r in zip(np.round(values, 3).tolist(), np.round(grid, 3).tolist()):
            table.add_data(name, p, r)
    return _area_chart(table, ("recall", "Recall"), ("precision", "Precision"), title, split_table)


def _area_chart(table: Table, x: tuple[str, str], y: tuple[str, str], title: str, split_table: bool) -> CustomChart:
    """A curve per class (wandb's area-under-curve preset): ``x`` and ``y``
    are (column, axis title)."""
    return CustomChart(
        table,
        "wandb/area-under-curve/v0",
        {"x": x[0], "y": y[0], "class": "class"},
        {"title": title, "x-axis-title": x[1], "y-axis-title": y[1]},
        split_table,
    )
