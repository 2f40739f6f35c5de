import numpy as np

import runship as wandb

run = wandb.init(project="off", mode="disabled", config={"lr": 1})
wandb.define_metric("loss", summary="min")
for step in range(10):
    wandb.log({"loss": 1 / (step + 1), "img": wandb.Image(np.zeros((4, 4)))})
wandb.config.update({"x": 2})
wandb.summary["best"] = 1
wandb.save("*.nothing")
wandb.alert(title="t", text="x")
print("DISABLED", run.disabled, wandb.config.lr)
wandb.finish()
