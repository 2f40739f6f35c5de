"""XGBoost with wandb's callback, as wandb's docs show it (tiny synthetic data)."""

import numpy as np

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402
import xgboost as xgb  # noqa: E402
from wandb.integration.xgboost import WandbCallback  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(200, 4))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
dtrain = xgb.DMatrix(X[:150], label=y[:150], feature_names=["a", "b", "c", "d"])
dval = xgb.DMatrix(X[150:], label=y[150:], feature_names=["a", "b", "c", "d"])
run = wandb.init(project="xgb", config={"max_depth": 2})
bst = xgb.train(
    {"objective": "binary:logistic", "max_depth": 2, "eval_metric": ["logloss", "auc"]},
    dtrain,
    num_boost_round=5,
    evals=[(dtrain, "train"), (dval, "val")],
    callbacks=[WandbCallback(log_model=True)],
)
run.finish()
