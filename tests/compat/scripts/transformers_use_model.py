"""Another run takes the model a Trainer logged (transformers_log_model.py):
use_artifact, download, the weights read from model.safetensors.
`python transformers_use_model.py <artifact>`."""

import os
import sys

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

run = wandb.init(project="hf-models", job_type="evaluate")
artifact = run.use_artifact(sys.argv[1], type="model")
folder = artifact.download()
state = load_file(os.path.join(folder, "model.safetensors"))
print("loaded", artifact.name, sorted(artifact.aliases), sorted(os.listdir(folder)))
print("weights", state["linear.weight"].ravel().tolist(), state["linear.bias"].tolist())
wandb.finish()
