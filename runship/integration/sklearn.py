"""``wandb.sklearn`` (``wandb.integration.sklearn``): the plots wandb logs
for scikit-learn models, as ``wandb.plot`` charts (a table and a preset)
in the current run. scikit-learn itself is needed only where a plot fits
or scores a model (learning curves, summary metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import runship
from runship import plot

__all__ = [
    "plot_calibration_curve",
    "plot_class_proportions",
    "plot_classifier",
    "plot_confusion_matrix",
    "plot_feature_importances",
    "plot_learning_curve",
    "plot_precision_recall",
    "plot_regressor",
    "plot_residuals",
    "plot_roc",
    "plot_summary_metrics",
]


def _log(key: str, chart: Any) -> None:
    runship.log({key: chart})


def plot_confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None, **_: Any) -> None:
    """``labels``: the names of the classes 0..n-1 (as wandb), or the class values themselves."""
    truth, pred = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    seen = sorted(set(truth) | set(pred), key=str)
    if labels is not None and all(isinstance(v, int) and 0 <= v < len(labels) for v in seen):
        classes, names = list(range(len(labels))), [str(n) for n in labels]
    elif labels is not None and set(seen) <= set(labels):
        classes, names = list(labels), [str(n) for n in labels]
    else:
        classes, names = seen, [str(c) for c in seen]
    at = {c: i for i, c in enumerate(classes)}
    chart = plot.confusion_matrix(y_true=[at[v] for v in truth], preds=[at[v] for v in pred], class_names=names)
    _log("confusion_matrix", chart)


def plot_roc(y_true: Any, y_probas: Any, labels: Sequence[str] | None = None, **_: Any) -> None:
    _log("roc", plot.roc_curve(y_true, y_probas, labels=labels))


def plot_precision_recall(y_true: Any, y_probas: Any, labels: Sequence[str] | None = None, **_: Any) -> None:
    _log("precision_recall", plot.pr_curve(y_true, y_probas, labels=labels))


def plot_feature_importances(
    model: Any, feature_names: Sequence[str] | None = None, title: str = "Feature Importance", **_: Any
) -> None:
    values = getattr(model, "feature_importances_", None)
    if values is None:
        coef = getattr(model, "coef_", None)
        if coef is None:
            raise ValueError("plot_feature_importances: the model has neither feature_importances_ nor coef_")
        values = np.abs(np.asarray(coef)).reshape(-1, np.asarray(coef).shape[-1]).mean(axis=0)
    values = np.asarray(values, dtype=np.float64)
    names = list(feature_names) if feature_names is not None else [str(i) for i in range(len(values))]
    table = runship.Table(columns=["feature_names", "importances"], data=[[n, float(v)] for n, v in zip(names, values)])
    _log("feature_importances", plot.bar(table, "feature_names", "importances", title=title))


def plot_class_proportions(y_train: Any, y_test: Any, labels: Sequence[str] | None = None, **_: Any) -> None:
    table = runship.Table(columns=["class", "dataset", "count"])
    for dataset, ys in (("train", y_train), ("test", y_test)):
        values, counts = np.unique(np.asarray(ys), return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist()):
            name = labels[v] if labels is not None and isinstance(v, int) and v < len(labels) else str(v)
            table.add_data(name, dataset, int(c))
    _log(
        "class_proportions",
        plot.plot_table(
            "wandb/class_proportions/v1", table, {"class": "class", "dataset": "dataset", "count": "count"}
        ),
    )


def plot_summary_metrics(
    model: Any, X: Any = None, y: Any = None, X_test: Any = None, y_test: Any = None, **_: Any
) -> None:
    """The model's test metrics (classifiers: accuracy, precision, recall,
    F1; regressors: MAE, MSE, R²) as a bar chart."""
    from sklearn import metrics

    pred = model.predict(X_test)
    if getattr(model, "_estimator_type", None) == "classifier" or hasattr(model, "predict_proba"):
        scores = {
            "accuracy": metrics.accuracy_score(y_test, pred),
            "precision": metrics.precision_score(y_test, pred, average="weighted", zero_division=0),
            "recall": metrics.recall_score(y_test, pred, average="weighted", zero_division=0),
            "f1": metrics.f1_score(y_test, pred, average="weighted", zero_division=0),
        }
    else:
        scores = {
            "mae": metrics.mean_absolute_error(y_test, pred),
            "mse": metrics.mean_squared_error(y_test, pred),
            "r2": metrics.r2_score(y_test, pred),
        }
    table = runship.Table(
        columns=["metric_name", "metric_value"], data=[[k, round(float(v), 6)] for k, v in scores.items()]
    )
    _log("summary_metrics", plot.bar(table, "metric_name", "metric_value", title="Summary metrics"))


def plot_learning_curve(model: Any, X: Any, y: Any, cv: Any = None, n_jobs: int = 1, **_: Any) -> None:
    from sklearn.model_selection import learning_curve

    sizes, train, test = learning_curve(model, X, y, cv=cv, n_jobs=n_jobs, train_sizes=np.linspace(0.1, 1.0, 5))
    table = runship.Table(columns=["step", "lineKey", "lineVal"])
    for name, scores in (("train", train), ("test", test)):
        for size, value in zip(sizes.tolist(), scores.mean(axis=1).tolist()):
            table.add_data(int(size), name, float(value))
    _log(
        "learning_curve",
        plot.plot_table(
            "wandb/lineseries/v0",
            table,
            {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"},
            {"title": "Learning curve"},
        ),
    )


def plot_residuals(model: Any, X: Any, y: Any, **_: Any) -> None:
    pred = np.asarray(model.predict(X), dtype=np.float64)
    residuals = np.asarray(y, dtype=np.float64) - pred
    table = runship.Table(
        columns=["predicted", "residual"], data=[[float(a), float(b)] for a, b in zip(pred, residuals)]
    )
    _log("residuals", plot.scatter(table, "predicted", "residual", title="Residuals"))


def plot_classifier(
    model: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    y_pred: Any,
    y_probas: Any,
    labels: Sequence[str] | None = None,
    model_name: str = "Classifier",
    feature_names: Sequence[str] | None = None,
    **_: Any,
) -> None:
    """wandb's bundle for a classifier, in wandb's order: feature
    importances, confusion matrix, summary metrics, class proportions, the
    calibration curve (binary labels only), ROC and precision-recall."""
    if hasattr(model, "feature_importances_") or hasattr(model, "coef_"):
        plot_feature_importances(model, feature_names)
    plot_confusion_matrix(y_test, y_pred, labels)
    plot_summary_metrics(model, X_train, y_train, X_test, y_test)
    plot_class_proportions(y_train, y_test, labels)
    plot_calibration_curve(model, X_train, y_train, model_name)
    plot_roc(y_test, y_probas, labels)
    plot_precision_recall(y_test, y_probas, labels)


def plot_calibration_curve(clf: Any, X: Any, y: Any, clf_name: str = "Classifier", **_: Any) -> None:
    """Reliability of the model's probabilities against a logistic baseline
    and the model calibrated (isotonic, sigmoid), as wandb; binary labels
    only (others: a warning, nothing logged, as wandb)."""
    from sklearn.calibration import CalibratedClassifierCV, calibration_curve
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    if len(np.unique(np.asarray(y))) != 2:
        runship.termwarn("the calibration curve supports binary classification only: skipped")
        return
    table = runship.Table(columns=["model", "fraction_of_positives", "mean_predicted_value", "hist_dict", "edge_dict"])
    table.add_data("Perfectly calibrated", 0, 0, 0, 0)
    table.add_data("Perfectly calibrated", 1, 1, 0, 0)
    x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=0.9, random_state=42)
    models = [
        ("Logistic", LogisticRegression(C=1.0)),
        (f"{clf_name} Isotonic", CalibratedClassifierCV(clf, cv=2, method="isotonic")),
        (f"{clf_name} Sigmoid", CalibratedClassifierCV(clf, cv=2, method="sigmoid")),
    ]
    for name, model in models:
        model.fit(x_train, y_train)
        prob = model.predict_proba(x_test)[:, 1]
        hist, edges = np.histogram(prob, bins=10)
        frac, mean = calibration_curve(y_test, prob, n_bins=10)
        for i in range(len(frac)):
            table.add_data(name, round(float(frac[i]), 3), round(float(mean[i]), 3), int(hist[i]), float(edges[i]))
    fields = {
        "model": "model",
        "fraction_of_positives": "fraction_of_positives",
        "mean_predicted_value": "mean_predicted_value",
    }
    _log("calibration_curve", plot.plot_table("wandb/calibration/v1", table, fields))


def plot_regressor(
    model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any, model_name: str = "Regressor", **_: Any
) -> None:
    """wandb's bundle for a regressor: summary metrics and residuals."""
    plot_summary_metrics(model, X_train, y_train, X_test, y_test)
    plot_residuals(model, X_test, y_test)
