"""An evaluation run that takes the best checkpoint logged by
checkpoints_log.py (run.use_model), checks it on the validation set, links it
into the model registry (run.link_model) and loads it from there."""

import torch

import runship as wandb


def data(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)


def val_loss(path):
    model = torch.nn.Linear(4, 1)
    model.load_state_dict(torch.load(path))
    with torch.no_grad():
        return torch.nn.functional.mse_loss(model(x_val).squeeze(-1), y_val).item()


x_val, y_val = data(1, 64)
run = wandb.init(project="models", job_type="evaluate")
path = run.use_model("resnet:best")
run.log({"val_loss": val_loss(path)})
print("best", path, repr(val_loss(path)))
run.link_model(path=path, registered_model_name="resnet-registry", name="resnet", aliases=["production"])
registered = run.use_model("resnet-registry:latest")
print("registered", registered, repr(val_loss(registered)))
run.finish()
