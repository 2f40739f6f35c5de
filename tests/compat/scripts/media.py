import numpy as np

import runship as wandb

run = wandb.init(project="media")
rng = np.random.default_rng(0)
image = (rng.random((16, 24, 3)) * 255).astype(np.uint8)
wandb.log({"examples": wandb.Image(image, caption="noise"), "gray": wandb.Image(rng.random((8, 8)))})
wandb.log({"weights": wandb.Histogram(rng.normal(size=1000), num_bins=20), "grads": rng.normal(size=100)})
table = wandb.Table(columns=["id", "prediction", "truth"])
for i in range(3):
    table.add_data(i, i % 2, 1)
wandb.log({"predictions": table, "small": np.arange(4)})
run.finish()
