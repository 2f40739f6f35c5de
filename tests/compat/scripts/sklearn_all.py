"""Every wandb.sklearn function on small scikit-learn data, as wandb's sklearn guide calls them."""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_blobs, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

import runship as wandb

X, y = load_iris(return_X_y=True)
order = np.random.default_rng(0).permutation(len(y))
X, y = X[order], y[order]
X_train, X_test, y_train, y_test = X[:110], X[110:], y[:110], y[110:]
clf = RandomForestClassifier(n_estimators=8, random_state=0).fit(X_train, y_train)
y_pred, y_probas = clf.predict(X_test), clf.predict_proba(X_test)
labels = ["setosa", "versicolor", "virginica"]
features = ["sepal length", "sepal width", "petal length", "petal width"]

wandb.init(project="sklearn-all")
# three classes: no calibration curve (0/1 labels only), as wandb
wandb.sklearn.plot_classifier(
    clf, X_train, X_test, y_train, y_test, y_pred, y_probas, labels, False, "RandomForest", features, True
)
binary = (y_train == 2).astype(int)
wandb.sklearn.plot_calibration_curve(LogisticRegression().fit(X_train, binary), X_train, binary, "Logistic")
wandb.sklearn.plot_confusion_matrix(y_test, y_pred, labels)
wandb.sklearn.plot_roc(y_test, y_probas, labels)
wandb.sklearn.plot_precision_recall(y_test, y_probas, labels)
wandb.sklearn.plot_feature_importances(clf, features)
wandb.sklearn.plot_class_proportions(y_train, y_test, labels)
wandb.sklearn.plot_summary_metrics(clf, X_train, y_train, X_test, y_test)
wandb.sklearn.plot_learning_curve(clf, X_train, y_train)

Xr, yr = make_regression(n_samples=90, n_features=4, noise=0.5, random_state=0)
reg = Ridge(alpha=0.1).fit(Xr[:70], yr[:70])
wandb.sklearn.plot_regressor(reg, Xr[:70], Xr[70:], yr[:70], yr[70:], "Ridge")
wandb.sklearn.plot_outlier_candidates(reg, Xr, yr)
wandb.sklearn.plot_residuals(reg, Xr, yr)

Xc, _ = make_blobs(n_samples=80, centers=3, n_features=2, random_state=0)
kmeans = KMeans(n_clusters=3, n_init=4, random_state=0).fit(Xc)
wandb.sklearn.plot_elbow_curve(kmeans, Xc)
# wandb 0.31 under scikit-learn >= 1.6 logs no silhouette plot (its check reads the removed
# `_estimator_type`): kept last, so that the rows before them compare step by step
wandb.sklearn.plot_clusterer(kmeans, Xc, kmeans.labels_, None, "KMeans")
wandb.sklearn.plot_silhouette(kmeans, Xc, kmeans.labels_)
wandb.finish()
