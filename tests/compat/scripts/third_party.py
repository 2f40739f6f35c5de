# A library that does `import wandb` itself, as HuggingFace's WandbCallback does.
import importlib.util

import runship.compat

runship.compat.install_as_wandb()


def integration():
    import wandb
    from wandb.sdk.lib.config_util import ConfigError  # noqa: F401

    assert importlib.util.find_spec("wandb") is not None
    if wandb.run is None:
        wandb.init(project="third-party", name="hf")
    wandb.config.update({"model/num_parameters": 1000}, allow_val_change=True)
    wandb.define_metric("train/global_step")
    wandb.define_metric("*", step_metric="train/global_step", step_sync=True)
    wandb.run._label(code="transformers_trainer")
    for gs in range(1, 4):
        wandb.log({"train/loss": 1 / gs, "train/global_step": gs})
    wandb.log({"eval/loss": 0.5})
    wandb.run.summary["total_flos"] = 123
    print("VERSION", wandb.__version__, dict(wandb.summary)["total_flos"])
    wandb.finish()


integration()
