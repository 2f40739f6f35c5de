"""A list of images logged under one key (a batch of samples), read back
through the public API as wandb's images/separated entry."""

import json
import sys

import numpy as np

import runship as wandb

run = wandb.init(project="image-lists")
batch = [wandb.Image(np.full((4, 5, 3), i * 60, dtype=np.uint8), caption=f"sample {i}") for i in range(3)]
wandb.log({"samples": batch})
run.finish()
api = wandb.Api()
(entry,) = [row["samples"] for row in api.run(f"image-lists/{run.id}").scan_history()]
json.dump(entry, sys.stdout)
