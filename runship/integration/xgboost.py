"""``wandb.integration.xgboost`` (``wandb.xgboost``): ``WandbCallback`` for
``xgboost.train(..., callbacks=[...])`` and the sklearn API, logging each
round's evaluation metrics (``<data>-<metric>``, with ``epoch``) to the
current run, as wandb's."""

from __future__ import annotations

from typing import Any

import xgboost

import runship
from runship.errors import UsageError

__all__ = ["WandbCallback", "wandb_callback"]


class WandbCallback(xgboost.callback.TrainingCallback):
    """Each round: ``{<data>-<metric>: value, "epoch": round}``; at the end,
    ``best_score`` and ``best_iteration`` in the summary (early stopping),
    the feature importances as a bar chart (``Feature Importance``) and the
    model as a ``model`` artifact (``log_model=True``), as wandb."""

    def __init__(
        self,
        log_model: bool = False,
        log_feature_importance: bool = True,
        importance_type: str = "gain",
        define_metric: bool = True,
    ):
        if runship.run is None:
            raise UsageError("You must call wandb.init() (runship.init) before WandbCallback()")
        self.log_model = log_model
        self.log_feature_importance = log_feature_importance
        self.importance_type = importance_type
        self.define_metric = define_metric

    def before_training(self, model: Any) -> Any:
        """The booster's configuration into the run's config (``learner``), as wandb's."""
        import json

        try:
            runship.config.update(json.loads(model.save_config()), allow_val_change=True)
        except Exception:
            pass
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
        row: dict[str, Any] = {}
        for data, metrics in evals_log.items():
            for name, values in metrics.items():
                value = values[-1]
                row[f"{data}-{name}"] = float(value[0] if isinstance(value, tuple) else value)
                if self.define_metric and epoch == 0:
                    goal = "maximize" if any(k in name for k in ("auc", "map", "ndcg", "pre")) else "minimize"
                    runship.define_metric(f"{data}-{name}", summary="min" if goal == "minimize" else "max", goal=goal)
        row["epoch"] = epoch
        runship.log(row)
        return False

    def after_training(self, model: Any) -> Any:
        run = runship.run
        if run is None:
            return model
        best_score = getattr(model, "best_score", None)
        best_iteration = getattr(model, "best_iteration", None)
        try:
            if best_score is not None:
                run.summary["best_score"] = float(best_score)
            if best_iteration is not None:
                run.summary["best_iteration"] = int(best_iteration)
        except Exception:
            pass
        if self.log_feature_importance:
            scores = model.get_score(importance_type=self.importance_type)
            if scores:
                table = runship.Table(
                    columns=["Feature", "Importance"], data=[[k, float(v)] for k, v in scores.items()]
                )
                runship.log(
                    {"Feature Importance": runship.plot.bar(table, "Feature", "Importance", title="Feature Importance")}
                )
        if self.log_model:  # as wandb: the model file, logged as the artifact <id>_model.json (type model)
            import os

            name = f"{run.id}_model.json"
            path = os.path.join(run.dir, name)
            model.save_model(path)
            artifact = runship.Artifact(name, type="model")
            artifact.add_file(path)
            run.log_artifact(artifact)
        return model


def wandb_callback() -> WandbCallback:
    """wandb's older function form."""
    return WandbCallback()
