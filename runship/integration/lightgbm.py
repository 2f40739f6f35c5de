"""``wandb.integration.lightgbm`` (``wandb.lightgbm``): ``wandb_callback()``
for ``lightgbm.train(..., callbacks=[...])`` and ``log_summary(model)``,
logging to the current run as wandb's do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import runship
from runship.errors import UsageError

__all__ = ["log_summary", "wandb_callback"]


def wandb_callback(log_params: bool = True, define_metric: bool = True) -> Callable[[Any], None]:
    """Each iteration: ``{<data>_<metric>: value, "iteration": i}``; the
    parameters into the config once."""
    if runship.run is None:
        raise UsageError("You must call wandb.init() (runship.init) before wandb_callback()")
    state = {"params_logged": False, "defined": False}

    def callback(env: Any) -> None:
        if log_params and not state["params_logged"]:
            runship.config.update(dict(env.params), allow_val_change=True)
            state["params_logged"] = True
        row: dict[str, Any] = {}
        for data_name, eval_name, result, higher_better in env.evaluation_result_list[:1000]:
            key = f"{data_name}_{eval_name}"
            row[key] = float(result)
            if define_metric and not state["defined"]:
                runship.define_metric(key, summary="max" if higher_better else "min")
        state["defined"] = True
        row["iteration"] = env.iteration
        runship.log(row)

    callback.order = 20  # type: ignore[attr-defined]  # after lightgbm's own logging, as wandb's
    return callback


def log_summary(model: Any, feature_importance: bool = True, save_model_checkpoint: bool = False) -> None:
    """``best_iteration`` and ``best_score`` into the summary, the feature
    importances as a bar chart, the best model as a ``model`` artifact
    (``save_model_checkpoint``), as wandb."""
    run = runship.run
    if run is None:
        raise UsageError("You must call wandb.init() (runship.init) before log_summary()")
    run.summary["best_iteration"] = int(model.best_iteration)
    run.summary["best_score"] = {d: {k: float(v) for k, v in s.items()} for d, s in (model.best_score or {}).items()}
    if feature_importance:
        names, values = model.feature_name(), model.feature_importance()
        table = runship.Table(columns=["Feature", "Importance"], data=[[n, float(v)] for n, v in zip(names, values)])
        runship.log(
            {"Feature Importance": runship.plot.bar(table, "Feature", "Importance", title="Feature Importance")}
        )
    if save_model_checkpoint:  # as wandb: the best iteration's model, the artifact model_<id> aliased "best"
        import os

        path = os.path.join(run.dir, f"model_ckpt_{model.best_iteration}.txt")
        model.save_model(path, num_iteration=model.best_iteration)
        artifact = runship.Artifact(f"model_{run.id}", type="model")
        artifact.add_file(path)
        run.log_artifact(artifact, aliases=["best"])
