"""``wandb.sklearn`` (``wandb.integration.sklearn``): the plots wandb 0.31
logs for scikit-learn models, every one of its functions with its
signature, under its history keys (``feature_importances``,
``confusion_matrix``, ``summary_metrics``, ``class_proportions``,
``calibration_curve``, ``roc``, ``precision_recall``, ``learning_curve``,
``outlier_candidates``, ``residuals``, ``elbow_curve``,
``silhouette_plot``) and over tables of its columns. Each is logged as
wandb logs it: ``wandb.visualize(preset, table)`` (the table under the key,
the preset in the config at ``_wandb.viz.<key>``), ROC and PR curves as
``wandb.plot`` charts (``roc_table``, ``precision_recall_table``).
scikit-learn is imported only by the plots that fit or score a model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import runship
from runship import plot

__all__ = [
    "plot_calibration_curve",
    "plot_class_proportions",
    "plot_classifier",
    "plot_clusterer",
    "plot_confusion_matrix",
    "plot_elbow_curve",
    "plot_feature_importances",
    "plot_learning_curve",
    "plot_outlier_candidates",
    "plot_precision_recall",
    "plot_regressor",
    "plot_residuals",
    "plot_roc",
    "plot_silhouette",
    "plot_summary_metrics",
]

_LIMIT = 1000  # wandb's chart limit: rows past it are left out (with a warning)


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python value (a table cell)."""
    return v.item() if isinstance(v, np.generic) else v


def _log(key: str, columns: list[str], data: list[list[Any]], preset: str) -> None:
    """The table under ``key``, drawn by wandb's ``preset`` (``wandb.visualize``, as wandb logs it)."""
    table = runship.Table(columns=columns, data=[[_plain(v) for v in row] for row in data])
    runship.log({key: plot.visualize(preset, table)})


def _capped(rows: list[list[Any]], chart: str, limit: int = _LIMIT) -> list[list[Any]]:
    """The first rows, as many as wandb keeps: it adds a row, then stops once
    past ``limit`` (so ``limit + 1`` rows, and its warning names ``limit``)."""
    if len(rows) > limit + 1:
        runship.termwarn(f"using only the first {limit} datapoints to create chart {chart}")
    return rows[: limit + 1]


def _is_multinomial_nb(model: Any) -> bool:
    return type(model).__name__ == "MultinomialNB"


# ---- classifiers -------------------------------------------------------------------------------------------


def plot_classifier(
    model: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    y_pred: Any,
    y_probas: Any,
    labels: Sequence[Any] | None,
    is_binary: bool = False,
    model_name: str = "Classifier",
    feature_names: Sequence[Any] | None = None,
    log_learning_curve: bool = False,
) -> None:
    """wandb's bundle for a classifier, in wandb's order: feature
    importances, the learning curve (if asked), confusion matrix, summary
    metrics, class proportions, the calibration curve (0/1 labels only),
    ROC and precision-recall."""
    runship.termlog(f"\nPlotting {model_name}.")
    if not _is_multinomial_nb(model):
        plot_feature_importances(model, feature_names)
    if log_learning_curve:
        plot_learning_curve(model, X_train, y_train)
    plot_confusion_matrix(y_test, y_pred, labels)
    plot_summary_metrics(model, X=X_train, y=y_train, X_test=X_test, y_test=y_test)
    plot_class_proportions(y_train, y_test, labels)
    if not _is_multinomial_nb(model):
        plot_calibration_curve(model, X_train, y_train, model_name)
    plot_roc(y_test, y_probas, labels)
    plot_precision_recall(y_test, y_probas, labels)


def plot_roc(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    plot_micro: bool = True,
    plot_macro: bool = True,
    classes_to_plot: Sequence[Any] | None = None,
) -> None:
    runship.log({"roc": plot.roc_curve(y_true, y_probas, labels=labels, classes_to_plot=classes_to_plot)})


def plot_precision_recall(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    plot_micro: bool = True,
    classes_to_plot: Sequence[Any] | None = None,
) -> None:
    chart = plot.pr_curve(y_true, y_probas, labels=labels, classes_to_plot=classes_to_plot)
    runship.log({"precision_recall": chart})


def _class_names(classes: list[Any], labels: Sequence[Any] | None) -> list[Any]:
    """The classes by name: ``labels[c]`` for integer classes (as wandb), else the classes themselves."""
    if labels is not None and all(isinstance(c, int) and 0 <= c < len(labels) for c in classes):
        return [_plain(labels[c]) for c in classes]
    return classes


def plot_confusion_matrix(
    y_true: Any = None,
    y_pred: Any = None,
    labels: Sequence[Any] | None = None,
    true_labels: Sequence[Any] | None = None,
    pred_labels: Sequence[Any] | None = None,
    normalize: bool = False,
) -> None:
    """A table of (Predicted, Actual, Count), as wandb; ``labels`` names
    the classes 0..n-1 (or lists the class values themselves);
    ``true_labels``/``pred_labels`` keep only those rows/columns;
    ``normalize``: each actual class's counts as fractions (2 decimals)."""
    truth, pred = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    classes = sorted(set(truth) | set(pred), key=lambda c: (str(type(c)), c))
    if labels is not None and set(classes) <= set(_plain(v) for v in labels):
        classes = [_plain(v) for v in labels]
    names = _class_names(classes, labels)
    at = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.float64)
    for t, p in zip(truth, pred):
        cm[at[t], at[p]] += 1
    if normalize:
        sums = cm.sum(axis=1, keepdims=True)
        cm = np.round(np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0), 2)
    keep_true = [i for i, c in enumerate(classes) if true_labels is None or c in true_labels or names[i] in true_labels]
    keep_pred = [i for i, c in enumerate(classes) if pred_labels is None or c in pred_labels or names[i] in pred_labels]
    rows = [[names[p], names[t], float(cm[t, p]) if normalize else int(cm[t, p])] for t in keep_true for p in keep_pred]
    _log(
        "confusion_matrix",
        ["Predicted", "Actual", "Count"],
        _capped(rows, "confusion_matrix"),
        "wandb/confusion_matrix/v1",
    )


def plot_feature_importances(
    model: Any = None,
    feature_names: Sequence[Any] | None = None,
    title: str = "Feature Importance",
    max_num_features: int = 50,
) -> None:
    """The model's ``feature_importances_`` (else ``feature_log_prob_``,
    else ``coef_``), largest first, as wandb; arrays of more than one
    significant dimension are not plotted (a warning, as wandb). ``title``
    is taken and not drawn, as in wandb (the preset names its own)."""
    found = next((a for a in ("feature_importances_", "feature_log_prob_", "coef_") if hasattr(model, a)), None)
    if found is None:
        runship.termwarn(
            "could not find any of attributes feature_importances_, feature_log_prob_, coef_ on classifier. "
            "Cannot plot feature importances."
        )
        return
    values = np.asarray(getattr(model, found), dtype=np.float64)
    if sum(n > 1 for n in values.shape) > 1:
        runship.termwarn(
            f"{values.ndim}-dimensional feature importances array passed to plot_feature_importances: "
            "not plotted (only one-dimensional importances are)."
        )
        return
    values = values.reshape(-1)
    order = np.argsort(values)[::-1]
    names = [_plain(np.asarray(feature_names)[i]) if feature_names is not None else int(i) for i in order]
    rows = [[n, float(values[i])] for n, i in zip(names, order)]
    _log("feature_importances", ["feature_names", "importances"], rows, "wandb/feature_importances/v1")


def plot_class_proportions(y_train: Any = None, y_test: Any = None, labels: Sequence[Any] | None = None) -> None:
    """How many of each class in the train and test labels: (class, dataset, count), as wandb."""
    train, test = np.asarray(y_train), np.asarray(y_test)
    classes = sorted(set(train.tolist()) | set(test.tolist()), key=lambda c: (str(type(c)), c))
    names = _class_names(classes, labels)
    rows: list[list[Any]] = []
    for c, name in zip(classes, names):
        rows.append([name, "train", int((train == c).sum())])
        rows.append([name, "test", int((test == c).sum())])
    _log(
        "class_proportions",
        ["class", "dataset", "count"],
        _capped(rows, "class_proportions", 2 * _LIMIT + 3),  # wandb: pairs of rows to class index limit + 1
        "wandb/class_proportions/v1",
    )


def _positive_scores(model: Any, X: Any) -> Any:
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    score = np.asarray(model.decision_function(X), dtype=np.float64)
    return (score - score.min()) / (score.max() - score.min())


def plot_calibration_curve(clf: Any = None, X: Any = None, y: Any = None, clf_name: str = "Classifier") -> None:
    """Reliability of the probabilities of a logistic baseline and of the
    model calibrated (isotonic, sigmoid), as wandb: refitted on a tenth of
    ``X``, scored on the rest; labels 0/1 only (others: a warning, nothing
    logged, as wandb)."""
    from sklearn.calibration import CalibratedClassifierCV, calibration_curve
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    labels = np.asarray(y)
    if labels.dtype.char == "U" or not ((labels == 0) | (labels == 1)).all():
        runship.termwarn(
            "This function only supports binary classification at the moment and therefore expects labels "
            "to be binary. Skipping calibration curve."
        )
        return
    if type(clf).__name__ == "ComplementNB":
        X = X - X.min()
    rows: list[list[Any]] = [["Perfectly calibrated", 0, 0, 0, 0], ["Perfectly calibrated", 1, 1, 0, 0]]
    x_train, x_test, y_train, y_test = train_test_split(X, labels, test_size=0.9, random_state=42)
    models = [
        ("Logistic", LogisticRegression(C=1.0)),
        (f"{clf_name} Isotonic", CalibratedClassifierCV(clf, cv=2, method="isotonic")),
        (f"{clf_name} Sigmoid", CalibratedClassifierCV(clf, cv=2, method="sigmoid")),
    ]
    for name, model in models:
        model.fit(x_train, y_train)
        prob = _positive_scores(model, x_test)
        hist, edges = np.histogram(prob, bins=10)
        frac, mean = calibration_curve(y_test, prob, n_bins=10)
        for i in range(len(frac)):
            rows.append([name, round(float(frac[i]), 3), round(float(mean[i]), 3), int(hist[i]), float(edges[i])])
    columns = ["model", "fraction_of_positives", "mean_predicted_value", "hist_dict", "edge_dict"]
    _log("calibration_curve", columns, _capped(rows, "calibration_curve", _LIMIT - 1), "wandb/calibration/v1")


# ---- shared ------------------------------------------------------------------------------------------------


def plot_summary_metrics(
    model: Any = None,
    X: Any = None,
    y: Any = None,
    X_test: Any = None,
    y_test: Any = None,
) -> None:
    """The model's test metrics, rounded to 2 decimals, as wandb:
    classifiers accuracy_score, precision, recall, f1_score (weighted);
    regressors mae, mse, r2_score; a table of (metric_name,
    metric_value, model_name)."""
    from sklearn import base, metrics

    pred = model.predict(X_test)
    scores: dict[str, float] = {}
    if base.is_classifier(model):
        weighted = {"average": "weighted", "zero_division": 0}
        scores = {
            "accuracy_score": metrics.accuracy_score(y_test, pred),
            "precision": metrics.precision_score(y_test, pred, **weighted),
            "recall": metrics.recall_score(y_test, pred, **weighted),
            "f1_score": metrics.f1_score(y_test, pred, **weighted),
        }
    elif base.is_regressor(model):
        scores = {
            "mae": metrics.mean_absolute_error(y_test, pred),
            "mse": metrics.mean_squared_error(y_test, pred),
            "r2_score": metrics.r2_score(y_test, pred),
        }
    name = type(model).__name__
    rows = [[k, round(float(v), 2), name] for k, v in scores.items()]
    _log("summary_metrics", ["metric_name", "metric_value", "model_name"], rows, "wandb/metrics/v1")


def plot_learning_curve(
    model: Any = None,
    X: Any = None,
    y: Any = None,
    cv: Any = None,
    shuffle: bool = False,
    random_state: Any = None,
    train_sizes: Any = None,
    n_jobs: int | None = 1,
    scoring: Any = None,
) -> None:
    """Mean train and cross-validation scores by training set size, as
    wandb: a table of (dataset, score, train_size), scores to 2 decimals."""
    from sklearn.model_selection import learning_curve

    sizes, train, test = learning_curve(
        model,
        X,
        np.asarray(y),
        cv=cv,
        n_jobs=n_jobs,
        train_sizes=np.linspace(0.1, 1.0, 5) if train_sizes is None else train_sizes,
        scoring=scoring,
        shuffle=shuffle,
        random_state=random_state,
    )
    rows: list[list[Any]] = []
    for size, a, b in zip(sizes.tolist(), train.mean(axis=1).tolist(), test.mean(axis=1).tolist()):
        rows += [["train", round(a, 2), int(size)], ["test", round(b, 2), int(size)]]
    _log(
        "learning_curve",
        ["dataset", "score", "train_size"],
        _capped(rows, "learning_curve", _LIMIT + 1),  # wandb: pairs of rows to train size index limit / 2
        "wandb/learning_curve/v1",
    )


# ---- regressors --------------------------------------------------------------------------------------------


def plot_regressor(
    model: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    model_name: str = "Regressor",
) -> None:
    """wandb's bundle for a regressor: summary metrics, the learning curve,
    outlier candidates and residuals (the last two refit the model on the
    training set, as wandb's do)."""
    runship.termlog(f"\nPlotting {model_name}.")
    plot_summary_metrics(model, X_train, y_train, X_test, y_test)
    plot_learning_curve(model, X_train, y_train)
    plot_outlier_candidates(model, X_train, y_train)
    plot_residuals(model, X_train, y_train)


def plot_outlier_candidates(regressor: Any = None, X: Any = None, y: Any = None) -> None:
    """Cook's distance of each instance (the regressor refitted on ``X``,
    ``y``, as wandb), with the share of instances past the 4/n threshold."""
    x, target = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    regressor.fit(X, y)
    n, k = x.shape
    leverage = (x * np.linalg.pinv(x).T).sum(axis=1)
    residuals = target - np.asarray(regressor.predict(X), dtype=np.float64)
    mse = float(residuals @ residuals) / max(1, n - int(np.linalg.matrix_rank(x)))
    with np.errstate(divide="ignore", invalid="ignore"):
        studentized = residuals / np.sqrt(mse) / np.sqrt(1 - leverage)
        distance = studentized**2 / k * (leverage / (1 - leverage))
    threshold = 4 / n
    share = round(float((distance >= threshold).sum()) / n * 100.0, 3)
    rows = [[float(d), i, share, threshold] for i, d in enumerate(distance.tolist())]
    _log(
        "outlier_candidates",
        ["distance", "instance_indicies", "outlier_percentage", "influence_threshold"],
        _capped(rows, "outlier_candidates"),
        "wandb/outliers/v1",
    )


def plot_residuals(regressor: Any = None, X: Any = None, y: Any = None) -> None:
    """Predictions against their residuals (prediction - truth), the
    regressor refitted on 80% of ``X`` and scored on the rest, as wandb:
    up to 100 points of each set, with both sets' R²."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(X, np.asarray(y), test_size=0.2)
    regressor.fit(x_train, y_train)
    train_score, test_score = float(regressor.score(x_train, y_train)), float(regressor.score(x_test, y_test))
    rows: list[list[Any]] = []
    for name, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        pred = np.asarray(regressor.predict(xs), dtype=np.float64)
        points = [[name, float(p), float(r), train_score, test_score] for p, r in zip(pred, pred - ys)]
        rows += _capped(points, "residuals", 100)
    _log("residuals", ["dataset", "y_pred", "residuals", "train_score", "test_score"], rows, "wandb/residuals_plot/v1")


# ---- clusterers --------------------------------------------------------------------------------------------


def plot_clusterer(
    model: Any,
    X_train: Any,
    cluster_labels: Any,
    labels: Sequence[Any] | None = None,
    model_name: str = "Clusterer",
) -> None:
    """wandb's bundle for a clusterer: the elbow curve (KMeans only) and the silhouette plot."""
    runship.termlog(f"\nPlotting {model_name}.")
    if type(model).__name__ == "KMeans":
        plot_elbow_curve(model, X_train)
        plot_silhouette(model, X_train, cluster_labels, labels=labels, kmeans=True)
    else:
        plot_silhouette(model, X_train, cluster_labels, kmeans=False)


def plot_elbow_curve(
    clusterer: Any = None,
    X: Any = None,
    cluster_ranges: Sequence[int] | None = None,
    n_jobs: int = 1,
    show_cluster_time: bool = True,
) -> None:
    """The clusterer refitted for each number of clusters (1, 3, 5, 7, 9
    unless given): its error (-score) and fitting time, as wandb."""
    from sklearn.base import clone

    if not hasattr(clusterer, "n_clusters"):
        runship.termlog("n_clusters attribute not in classifier. Cannot plot elbow method.")
        return
    rows: list[list[Any]] = []
    for n in sorted(cluster_ranges) if cluster_ranges is not None else range(1, 10, 2):
        start = time.time()
        model = clone(clusterer)
        model.n_clusters = n
        error = abs(float(model.fit(X).score(X)))
        rows.append([n, error, time.time() - start])
    columns = ["cluster_ranges", "errors", "clustering_time"]
    _log("elbow_curve", columns, rows, "wandb/elbow/v1")


def plot_silhouette(
    clusterer: Any = None,
    X: Any = None,
    cluster_labels: Any = None,
    labels: Sequence[Any] | None = None,
    metric: str = "euclidean",
    kmeans: bool = True,
) -> None:
    """Each sample's silhouette coefficient, sorted within its cluster and
    stacked cluster after cluster (10 apart), beside the samples' first two
    features and (KMeans) their cluster's centre, as wandb's table."""
    from sklearn.metrics import silhouette_samples, silhouette_score

    x = X.values if hasattr(X, "values") else np.asarray(X)
    clusters = np.asarray(cluster_labels)
    average = float(silhouette_score(x, clusters, metric=metric))
    values = silhouette_samples(x, clusters, metric=metric)
    y_sil: list[int] = []
    x_sil: list[float] = []
    color_sil: list[int] = []
    lower = 10
    for i in range(len(np.unique(clusters))):
        ith = np.sort(values[clusters == i])
        y_sil += list(range(lower, lower + len(ith)))
        x_sil += ith.tolist()
        color_sil += [i] * len(ith)
        lower += len(ith) + 10
    centers = np.asarray(clusterer.cluster_centers_) if kmeans else None
    rows = []
    for i in range(min(len(color_sil), _LIMIT)):
        c = int(clusters[i])
        cx, cy = (float(centers[c, 0]), float(centers[c, 1])) if centers is not None else (None, None)
        rows.append([float(x[i, 0]), float(x[i, 1]), c, cx, cy, y_sil[i], 0, x_sil[i], color_sil[i], average])
    columns = ["x", "y", "colors", "centerx", "centery", "y_sil", "x1", "x2", "color_sil", "silhouette_avg"]
    _log("silhouette_plot", columns, rows, "wandb/silhouette_/v1")
