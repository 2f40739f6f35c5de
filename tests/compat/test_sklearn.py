"""``wandb.sklearn``: every function wandb 0.31 provides, with its
signature, and the same script under wandb offline and runship recording
the same history and summary keys over tables of the same columns."""

from __future__ import annotations

import glob
import inspect
import json
import os

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import runship
from runship.integration import sklearn as ours
from tests.compat.test_scripts import _artifacts, _their_artifacts, only_run, rows, run_script, run_under_wandb

# wandb 0.31's wandb.sklearn.__all__
WANDB_SKLEARN = {
    "plot_classifier",
    "plot_clusterer",
    "plot_regressor",
    "plot_summary_metrics",
    "plot_learning_curve",
    "plot_feature_importances",
    "plot_class_proportions",
    "plot_calibration_curve",
    "plot_roc",
    "plot_precision_recall",
    "plot_confusion_matrix",
    "plot_elbow_curve",
    "plot_silhouette",
    "plot_residuals",
    "plot_outlier_candidates",
}


@pytest.fixture
def work(tmp_path):
    return tmp_path


def test_no_wandb_sklearn_function_is_missing():
    assert set(ours.__all__) >= WANDB_SKLEARN and all(callable(getattr(ours, n)) for n in WANDB_SKLEARN)
    assert runship.sklearn is ours


@pytest.mark.compat  # wandb itself is in the compat-test extra: `make test-compat`
def test_the_same_functions_and_parameters_as_wandb():
    import wandb.sklearn as wandb_sklearn

    theirs = {n for n in dir(wandb_sklearn) if n.startswith("plot_")}
    assert theirs == WANDB_SKLEARN and theirs <= {n for n in dir(ours) if n.startswith("plot_")}
    for name in theirs:
        want = list(inspect.signature(getattr(wandb_sklearn, name)).parameters.items())
        got = list(inspect.signature(getattr(ours, name)).parameters.items())
        assert [(k, p.kind, p.default) for k, p in got] == [(k, p.kind, p.default) for k, p in want], name


def _own(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_") or k == "_step"}


def _charts(config: dict) -> dict:
    """What the config says of the charts: wandb's ``_wandb.visualize`` and ``_wandb.viz``."""
    inner = config.get("_wandb") or {}
    return {section: inner.get(section) for section in ("visualize", "viz")}


def _wandb_columns(work, ref: dict) -> list:
    (path,) = glob.glob(os.path.join(work, "under-wandb", "wandb", "offline-run-*", "files", ref["path"]))
    with open(path) as f:
        return json.load(f)["columns"]


@pytest.mark.compat
def test_every_sklearn_plot_under_wandbs_keys_and_columns(work):
    """sklearn_all.py calls each wandb.sklearn function: step by step the
    same keys, each a table of wandb's columns, and the same summary keys.
    wandb 0.31 logs no silhouette plot under scikit-learn >= 1.6 (its
    clusterer check reads the removed ``_estimator_type``): runship's two,
    the script's last rows, are checked on their own."""
    theirs = run_under_wandb(work, "sklearn_all.py")
    run_script(work, "sklearn_all.py")
    run = only_run(work, "sklearn-all")
    view = runship.open_run(run.url)
    got = [_own(r) for r in rows(run)]
    wanted = [_own(r) for r in theirs["history"]]
    assert [sorted(r) for r in got[: len(wanted)]] == [sorted(r) for r in wanted]
    assert [sorted(r) for r in got[len(wanted) :]] == [["_step", "silhouette_plot"]] * 2
    for a, b in zip(got, wanted):
        for k in a.keys() - {"_step"}:
            assert a[k]["_type"] == b[k]["_type"] == "table-file"
            assert view.load(a[k])["columns"] == _wandb_columns(work, b[k]), k
    silhouette = view.load(got[-1]["silhouette_plot"])
    assert silhouette["columns"] == [
        "x",
        "y",
        "colors",
        "centerx",
        "centery",
        "y_sil",
        "x1",
        "x2",
        "color_sil",
        "silhouette_avg",
    ]
    assert len(silhouette["data"]) == 80
    summary = {k for k in _own(dict(view.summary)) if k != "_step"}
    their_summary = {k for k in theirs["summary"] if not k.startswith("_")}
    assert summary == their_summary | {"silhouette_plot"}
    # how each chart is drawn: the same presets and specs in the config (silhouette aside, as above)
    ours = _charts(run.rawconfig)
    ours["viz"] = {k: v for k, v in ours["viz"].items() if k != "silhouette_plot"}
    assert ours == _charts(theirs["config"])
    assert "_wandb" not in run.config
    # each table a run_table artifact, as wandb (silhouette aside)
    assert [a for a in _artifacts(work, run) if "silhouette" not in a[0]] == _their_artifacts(work)


def _cells(chart) -> list[list]:
    return [[v.item() if hasattr(v, "item") else v for v in row] for row in chart.table.data]


@pytest.mark.compat
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(2, 5),
    n=st.integers(4, 80),
    base=st.integers(0, 3),
    decimals=st.integers(1, 4),  # coarse probabilities: many ties
    named=st.booleans(),
)
def test_roc_and_pr_tables_equal_wandbs_row_for_row(seed, k, n, base, decimals, named):
    """wandb.plot.roc_curve and pr_curve (scikit-learn's curves, as wandb
    computes them) against runship's (numpy only): the same rows, classes
    named the same (by value through ``labels``), points, order and rounding."""
    import numpy as np
    import wandb

    rng = np.random.default_rng(seed)
    y = rng.integers(base, base + k, n)
    classes = np.unique(y)
    assume(len(classes) >= 2)
    p = rng.random((n, len(classes)))
    p = np.round(p / p.sum(axis=1, keepdims=True), decimals)
    labels = [f"class {i}" for i in range(base + k)] if named else None
    for name in ("roc_curve", "pr_curve"):
        theirs = getattr(wandb.plot, name)(y, p, labels=labels)
        ours = getattr(runship.plot, name)(y, p, labels=labels)
        assert _cells(ours) == _cells(theirs), name
