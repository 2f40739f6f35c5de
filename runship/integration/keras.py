"""``wandb.integration.keras`` (``wandb.keras``) for Keras 3: ``WandbMetricsLogger``,
``WandbModelCheckpoint`` and ``WandbEvalCallback``, logging to the current
runship run as wandb's do (same keys, same step metrics)."""

from __future__ import annotations

from typing import Any

import keras

import runship
from runship.errors import UsageError

__all__ = ["WandbEvalCallback", "WandbMetricsLogger", "WandbModelCheckpoint"]


def _run(what: str) -> Any:
    if runship.run is None:
        raise UsageError(f"You must call `wandb.init()` (runship.init) before {what}()")
    return runship.run


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class WandbMetricsLogger(keras.callbacks.Callback):  # type: ignore[misc, unused-ignore]  # keras ships no types: Any (an error under --strict only)
    """The ``logs`` of each epoch as ``epoch/<name>`` against ``epoch/epoch``
    (``log_freq="batch"`` or N: every N batches as ``batch/<name>`` against
    ``batch/batch_step``), with the optimizer's learning rate."""

    def __init__(self, log_freq: str | int = "epoch", initial_global_step: int = 0, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        run = _run("WandbMetricsLogger")
        log_freq = 1 if log_freq == "batch" else log_freq
        self.logging_batch_wise = log_freq != "epoch"
        self.log_freq: int | None = int(log_freq) if self.logging_batch_wise else None
        self.global_batch = 0
        self.global_step = initial_global_step
        if self.logging_batch_wise:
            run.define_metric("batch/batch_step")
            run.define_metric("batch/*", step_metric="batch/batch_step")
        else:
            run.define_metric("epoch/epoch")
            run.define_metric("epoch/*", step_metric="epoch/epoch")

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        lr = getattr(optimizer, "learning_rate", None)
        if lr is None:
            return None
        try:
            return float(keras.ops.convert_to_numpy(lr))
        except Exception:
            try:
                return float(lr(self.global_step)) if callable(lr) else float(lr)
            except Exception:
                return None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row = {f"epoch/{k}": _plain(v) for k, v in (logs or {}).items()}
        row["epoch/epoch"] = epoch
        lr = self._learning_rate()
        if lr is not None:
            row["epoch/learning_rate"] = lr
        runship.log(row)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.global_step += 1
        if self.logging_batch_wise and self.log_freq and batch % self.log_freq == 0:
            row = {f"batch/{k}": _plain(v) for k, v in (logs or {}).items()}
            row["batch/batch_step"] = self.global_batch
            lr = self._learning_rate()
            if lr is not None:
                row["batch/learning_rate"] = lr
            runship.log(row)
            self.global_batch += self.log_freq

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_batch_end(batch, logs)


class WandbModelCheckpoint(keras.callbacks.ModelCheckpoint):  # type: ignore[misc, unused-ignore]  # keras ships no types: Any (an error under --strict only)
    """Keras's ``ModelCheckpoint``, each checkpoint also logged as a version
    of the model artifact ``run_<id>_model`` (aliased ``epoch_<n>``) in the
    project's artifact store, as wandb's."""

    def __init__(self, filepath: str, *args: Any, **kwargs: Any):
        super().__init__(filepath, *args, **kwargs)
        _run("WandbModelCheckpoint")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.save_freq == "epoch":
            self._save_to_run(epoch, logs)

    def _save_to_run(self, epoch: int | None = None, logs: dict[str, Any] | None = None) -> None:
        import os

        run = runship.run
        if run is None:
            return
        path = self._get_file_path(epoch, None, logs) if epoch is not None else self.filepath
        if not os.path.exists(path):
            return
        artifact = runship.Artifact(f"run_{run.id}_model", type="model")
        if os.path.isdir(path):
            artifact.add_dir(path)
        else:
            artifact.add_file(path)
        run.log_artifact(artifact, aliases=[f"epoch_{epoch}"] if epoch is not None else None)


class WandbEvalCallback(keras.callbacks.Callback):  # type: ignore[misc, unused-ignore]  # keras ships no types: Any (an error under --strict only)
    """wandb's abstract evaluation-table callback: subclasses fill
    ``self.data_table`` in ``add_ground_truth`` (once, at the start of
    training) and ``self.pred_table`` in ``add_model_predictions`` (each
    epoch); each epoch's table is logged as ``eval_table``."""

    def __init__(self, data_table_columns: list[str], pred_table_columns: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _run("WandbEvalCallback")
        self.data_table_columns = data_table_columns
        self.pred_table_columns = pred_table_columns
        self.data_table: Any = None
        self.pred_table: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.init_data_table(column_names=self.data_table_columns)
        self.add_ground_truth(logs)
        self.log_data_table()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.init_pred_table(column_names=self.pred_table_columns)
        self.add_model_predictions(epoch, logs)
        self.log_pred_table()

    def add_ground_truth(self, logs: dict[str, Any] | None = None) -> None:
        raise NotImplementedError(f"{type(self).__name__}.add_ground_truth")

    def add_model_predictions(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        raise NotImplementedError(f"{type(self).__name__}.add_model_predictions")

    def init_data_table(self, column_names: list[str]) -> None:
        self.data_table = runship.Table(columns=column_names)

    def init_pred_table(self, column_names: list[str]) -> None:
        self.pred_table = runship.Table(columns=column_names)

    def log_data_table(self, name: str = "val", type: str = "dataset", table_name: str = "val_data") -> None:
        runship.log({table_name: self.data_table})

    def log_pred_table(self, type: str = "evaluation", table_name: str = "eval_data", aliases: Any = None) -> None:
        runship.log({table_name: self.pred_table})
