"""A list of images logged under one key (a batch of samples), read back
through the public API as wandb's images/separated entry, in the history
and in the summary."""

import json
import sys

import numpy as np

import runship as wandb

run = wandb.init(project="image-lists")
batch = [wandb.Image(np.full((4, 5, 3), i * 60, dtype=np.uint8), caption=f"sample {i}") for i in range(3)]
wandb.log({"samples": batch})
run.finish()
api = wandb.Api()
found = api.run(f"image-lists/{run.id}")
(entry,) = [row["samples"] for row in found.scan_history()]
assert found.summary["samples"] == entry
json.dump(entry, sys.stdout)
