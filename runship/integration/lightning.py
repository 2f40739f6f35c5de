"""``RunshipLogger``: a Lightning logger of runship's own, for users who do
not want the wandb shim. Metrics go to the history with
``trainer/global_step`` as their step metric (as Lightning's WandbLogger
does), hyperparameters to the config; the run finishes with the fit.

    from runship.integration.lightning import RunshipLogger
    trainer = L.Trainer(logger=RunshipLogger(project="mnist"))
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

import runship

__all__ = ["RunshipLogger"]


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "/"))
        elif isinstance(v, (bool, int, float, str)) or v is None:
            out[key] = v
        else:
            out[key] = str(v)
    return out


class RunshipLogger(Logger):
    """``RunshipLogger(project=..., name=..., id=..., dir=..., **init_kwargs)``:
    the arguments of ``runship.init``; ``dir`` is the run root (default
    ``$RUNSHIP_DIR`` or ``./runship-runs``). With an active run, that run is
    used and left open."""

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        id: str | None = None,
        dir: str | None = None,
        prefix: str = "",
        **init_kwargs: Any,
    ):
        super().__init__()
        self._init = {"project": project, "name": name, "id": id, "dir": dir, **init_kwargs}
        self._prefix = prefix
        self._run: Any = None
        self._owned = False

    @property
    def name(self) -> str | None:
        return self._init.get("project") or (self._run.project if self._run is not None else None)

    @property
    def version(self) -> str | None:
        return self._run.id if self._run is not None else self._init.get("id")

    @property
    def save_dir(self) -> str | None:
        return self._run.run_dir if self._run is not None else self._init.get("dir")

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The runship run (made at first use)."""
        if self._run is None:
            if runship.run is not None:
                self._run = runship.run
            else:
                kwargs = {k: v for k, v in self._init.items() if v is not None}
                kwargs.setdefault("resume", "allow")
                self._run = runship.init(**kwargs)
                self._owned = True
            self._run.define_metric("trainer/global_step")
            self._run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
        return self._run

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        self.experiment.config.update(_flatten(params or {}), allow_val_change=True)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        row = {
            f"{self._prefix}{k}" if self._prefix else k: (v.item() if hasattr(v, "item") else v)
            for k, v in metrics.items()
        }
        if step is not None:
            row["trainer/global_step"] = step
        self.experiment.log(row)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is not None and self._owned and status != "running":
            self._run.finish(exit_code=0 if status in ("success", "finished") else 1)
            self._run = None
            self._owned = False
