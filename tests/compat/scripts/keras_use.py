"""Another run takes a checkpoint that WandbModelCheckpoint logged (the model
artifact run_<id>_model), as wandb's Keras guide shows it: use_artifact,
download, keras.models.load_model. `python keras_use.py <artifact>`."""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402

x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
run = wandb.init(project="keras", job_type="evaluate")
artifact = run.use_artifact(sys.argv[1], type="model")
model = keras.models.load_model(os.path.join(artifact.download(), "model.keras"))
print("loaded", artifact.name, sorted(artifact.aliases))
print("predictions", model.predict(x[:4], verbose=0).ravel().tolist())
wandb.finish()
