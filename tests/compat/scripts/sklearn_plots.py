"""scikit-learn with wandb.sklearn's plots, as wandb's sklearn guide shows them."""

import numpy as np
from sklearn.ensemble import RandomForestClassifier

import runship as wandb

rng = np.random.default_rng(2)
X = rng.normal(size=(120, 3))
y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1).astype(int)
X_train, X_test, y_train, y_test = X[:90], X[90:], y[:90], y[90:]
model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X_train, y_train)
y_pred, y_probas = model.predict(X_test), model.predict_proba(X_test)
labels = ["low", "mid", "high"]
wandb.init(project="sklearn")
wandb.sklearn.plot_classifier(
    model,
    X_train,
    X_test,
    y_train,
    y_test,
    y_pred,
    y_probas,
    labels,
    model_name="RandomForest",
    feature_names=["a", "b", "c"],
)
wandb.sklearn.plot_confusion_matrix(y_test, y_pred, labels)
wandb.finish()
