"""What third-party code meets under install_as_wandb(): wandb's package
metadata, sweeps, and names runship does not provide."""

import importlib.metadata
import json
import sys

import runship.compat

runship.compat.install_as_wandb()
import wandb  # noqa: E402

out = {"version": importlib.metadata.version("wandb"), "summary": importlib.metadata.metadata("wandb")["Summary"]}
run = wandb.init(project="shim")
out["sweep_id"] = run.sweep_id
for call in (lambda: wandb.sweep({"method": "grid"}), lambda: wandb.agent("abc", function=print)):
    try:
        call()
    except wandb.Error as e:
        out.setdefault("sweeps", []).append(str(e))
try:
    _ = wandb.Graph
except AttributeError as e:
    out["attribute"] = str(e)
try:
    from wandb.integration.fastai import WandbCallback  # noqa: F401
except ImportError as e:
    out["module"] = str(e)
run.finish()
json.dump(out, sys.stdout)
