"""LightGBM with wandb's callback and log_summary, as wandb's docs show them."""

import lightgbm as lgb
import numpy as np

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402
from wandb.integration.lightgbm import log_summary, wandb_callback  # noqa: E402

rng = np.random.default_rng(1)
X = rng.normal(size=(300, 3))
y = X[:, 0] * 2 + X[:, 1] + rng.normal(scale=0.1, size=300)
train = lgb.Dataset(X[:200], y[:200], feature_name=["f0", "f1", "f2"])
valid = lgb.Dataset(X[200:], y[200:], reference=train)
wandb.init(project="lgbm")
params = {"objective": "regression", "metric": "l2", "num_leaves": 7, "verbose": -1, "learning_rate": 0.3}
model = lgb.train(
    params, train, num_boost_round=6, valid_sets=[valid], valid_names=["valid"], callbacks=[wandb_callback()]
)
log_summary(model, save_model_checkpoint=True)
wandb.finish()
