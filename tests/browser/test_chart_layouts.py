"""wandb.plot and wandb.sklearn charts in a real headless Chromium, read
from where wandb keeps them: the table under ``<key>_table`` (or under the
key, for wandb.visualize's presets) and the spec in the config's
``_wandb.visualize`` / ``_wandb.viz``; a run written before that layout (a
``plot`` value under the key) still draws."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

import runship
from tests.browser.chromium import until
from tests.servers import UIServer

pytestmark = pytest.mark.browser

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}
# wandb.sklearn's charts: each card draws a chart (a canvas) or, for the confusion matrix, a table
SKLEARN_KEYS = [
    "confusion_matrix",
    "feature_importances",
    "class_proportions",
    "calibration_curve",
    "roc",
    "precision_recall",
    "summary_metrics",
    "learning_curve",
    "residuals",
    "outlier_candidates",
    "elbow_curve",
    "silhouette_plot",
]


def _sklearn_run(root: str) -> None:
    # imported here: `make test` collects this file too, and the test extra has no scikit-learn
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    run = runship.init(project="charts", name="sk", dir=root, settings=SETTINGS, reinit="create_new")
    model = LogisticRegression().fit(x[:80], y[:80])
    probas = model.predict_proba(x[80:])
    runship.sklearn.plot_classifier(
        model, x[:80], x[80:], y[:80], y[80:], model.predict(x[80:]), probas, ["neg", "pos"], model_name="logreg"
    )
    target = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=120)
    reg = LinearRegression().fit(x[:80], target[:80])
    runship.sklearn.plot_regressor(reg, x[:80], x[80:], target[:80], target[80:], model_name="linreg")
    kmeans = KMeans(n_clusters=3, n_init=3, random_state=0)
    runship.sklearn.plot_clusterer(kmeans, x, kmeans.fit_predict(x), model_name="kmeans")
    run.finish()


def _layouts_run(root: str) -> None:
    """The run "layouts": "curve", a chart in wandb's layout, and "old", the same chart as runship
    recorded it before (a ``plot`` value holding its table's reference)."""
    table = runship.Table(columns=["x", "y"], data=[[i, i * i] for i in range(12)])
    run = runship.init(project="charts", name="layouts", id="layouts", dir=root, settings=SETTINGS)
    run.log({"curve": runship.plot.line(table, "x", "y", title="squares")})
    run.finish()
    ref = runship.open_run(run.run_dir).summary["curve_table"]
    old = {"_type": "plot", "spec": "wandb/line/v0", "fields": {"x": "x", "y": "y"}}
    again = runship.init(project="charts", id="layouts", dir=root, settings=SETTINGS, resume="must")
    again.log({"old": {**old, "string_fields": {"title": "old squares"}, "table": ref}})
    again.finish()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("chart-runs") / "runs")
    _sklearn_run(root)
    _layouts_run(root)
    return root


def _open_media(w, ui, name: str) -> None:
    w.page.wait_for_selector("#runs-table tbody tr[data-ref]")
    ref = w.page.evaluate(
        "(name) => [...document.querySelectorAll('#runs-table tbody tr[data-ref]')]"
        ".find(tr => tr.querySelector('td[data-col=name]').textContent.trim() === name).dataset.ref",
        name,
    )
    w.page.goto(f"{ui.url}/#/run/{urllib.parse.quote(ref, safe='')}?tab=media")


def _painted(page, key: str) -> int:
    """How many pixels of the key's chart canvas are drawn."""
    return page.locator(f'.media[data-key="{key}"] .plot-chart canvas').first.evaluate(
        "(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"
    )


def test_every_wandb_sklearn_chart_is_drawn_from_wandbs_layout(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    _open_media(w, ui, "sk")
    for key in SKLEARN_KEYS:
        card = f'.media[data-key="{key}"]'
        until(page, f"document.querySelector('{card} .plot-chart') !== null", timeout=20_000)
        if key == "confusion_matrix":
            assert page.locator(f"{card} table.confusion tbody tr").count() == 2
            continue
        until(page, f"document.querySelector('{card} .plot-chart canvas') !== null")
        assert page.locator(f"{card} .plot-chart p.muted").count() == 0, key  # "a chart runship ui does not draw"
        assert _painted(page, key) > 100, key
    # each chart's table is a card of its own too, as in wandb
    assert page.locator('.media[data-key="roc_table"]').count() == 1
    w.check_clean()


def test_a_chart_in_wandbs_layout_and_one_recorded_before_both_draw(ui, open_page):
    w = open_page(ui, UIServer.TOKEN)
    page = w.page
    _open_media(w, ui, "layouts")
    for key, title in (("curve", "squares"), ("old", "old squares")):
        until(page, f"document.querySelector('.media[data-key=\"{key}\"] .plot-chart canvas') !== null")
        assert page.locator(f'.media[data-key="{key}"] .plot-title').inner_text() == title
        assert _painted(page, key) > 100
    w.check_clean()
