"""wandb.sklearn.plot_regressor on a linear model, as wandb's sklearn guide shows it."""

import numpy as np
from sklearn.linear_model import Ridge

import runship as wandb

rng = np.random.default_rng(3)
X = rng.normal(size=(80, 2))
y = 3 * X[:, 0] - X[:, 1] + rng.normal(scale=0.1, size=80)
model = Ridge(alpha=0.1).fit(X[:60], y[:60])
wandb.init(project="regressor")
wandb.sklearn.plot_regressor(model, X[:60], X[60:], y[:60], y[60:], model_name="Ridge")
wandb.finish()
