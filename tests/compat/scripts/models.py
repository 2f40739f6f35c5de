"""run.log_model / use_model / link_model / link_artifact, as wandb's model registry guide shows them."""

import os

import runship as wandb

os.makedirs("checkpoints", exist_ok=True)
with open("checkpoints/model.pt", "wb") as f:
    f.write(b"weights" * 10)
run = wandb.init(project="models")
run.log_model(path="checkpoints/model.pt", name="resnet", aliases=["best"])
path = run.use_model("resnet:v0")
with open(os.path.join(path, "model.pt"), "rb") as f:
    assert f.read() == b"weights" * 10
run.link_model(path="checkpoints/model.pt", registered_model_name="model-registry/resnets", name="resnet")
try:
    run.use_model("someone-elses-model:latest")
except wandb.Error as e:
    print("use_model:", e)
run.finish()
