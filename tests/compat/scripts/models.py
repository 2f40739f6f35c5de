"""run.log_model / use_model / link_model, as wandb's model registry guide shows them."""

import os

import runship as wandb

os.makedirs("checkpoints", exist_ok=True)
with open("checkpoints/model.pt", "wb") as f:
    f.write(b"weights" * 10)
run = wandb.init(project="models")
run.log_model(path="checkpoints/model.pt", name="resnet", aliases=["best"])
path = run.use_model("resnet:v0")  # the one file of the version
with open(path, "rb") as f:
    assert f.read() == b"weights" * 10
with open("checkpoints/model.pt", "wb") as f:
    f.write(b"better" * 10)
run.link_model(path="checkpoints/model.pt", registered_model_name="resnets", name="resnet", aliases=["staging"])
with open(run.use_model("resnets:staging"), "rb") as f:
    print("linked", f.read() == b"better" * 10)
try:
    run.use_model("someone-elses-model:latest")
except wandb.errors.CommError as e:
    print("use_model:", type(e).__name__)
run.finish()
