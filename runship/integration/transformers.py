"""``RunshipCallback``: a Hugging Face ``transformers`` callback of runship's
own, for users who do not want the wandb shim (``report_to="wandb"`` works
under ``runship.compat.install_as_wandb()`` too). It logs what
``Trainer`` logs with the same names as transformers' WandbCallback
(``train/loss``, ``eval/loss``, ..., with ``train/global_step``), the
training arguments and the model's config into the run's config.

    from runship.integration.transformers import RunshipCallback
    trainer = Trainer(..., callbacks=[RunshipCallback(project="glue")])
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

import runship

__all__ = ["RunshipCallback"]

_SUMMARY_ONLY = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss")


def rewrite_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """transformers' names: ``eval_*`` as ``eval/*``, ``test_*`` as ``test/*``, the rest ``train/*``."""
    out = {}
    for k, v in logs.items():
        if k.startswith("eval_"):
            out["eval/" + k[5:]] = v
        elif k.startswith("test_"):
            out["test/" + k[5:]] = v
        else:
            out["train/" + k] = v
    return out


class RunshipCallback(TrainerCallback):
    def __init__(self, **init_kwargs: Any):
        self._init = init_kwargs
        self._run: Any = None
        self._owned = False

    def setup(self, args: Any, state: Any, model: Any) -> None:
        if self._run is not None or not state.is_world_process_zero:
            return
        if runship.run is not None:
            self._run = runship.run
        else:
            kwargs = {"name": getattr(args, "run_name", None), **self._init}
            self._run = runship.init(**{k: v for k, v in kwargs.items() if v is not None})
            self._owned = True
        config = {k: v for k, v in args.to_dict().items() if isinstance(v, (bool, int, float, str)) or v is None}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            config.update(
                {f"model/{k}": v for k, v in model_config.to_dict().items() if isinstance(v, (bool, int, float, str))}
            )
        self._run.config.update(config, allow_val_change=True)
        self._run.define_metric("train/global_step")
        self._run.define_metric("*", step_metric="train/global_step", step_sync=True)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.setup(args, state, model)

    def on_log(self, args: Any, state: Any, control: Any, model: Any = None, logs: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.setup(args, state, model)
        logs = dict(logs or {})
        for key in _SUMMARY_ONLY:
            if key in logs:
                self._run.summary[key] = logs.pop(key)
        if logs:
            self._run.log({**rewrite_logs(logs), "train/global_step": state.global_step})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._run is not None and self._owned and state.is_world_process_zero:
            self._run.finish()
            self._run = None
            self._owned = False
