"""Model checkpoints as wandb's guide shows them: each epoch's weights saved
to the same file and logged with run.log_model, "best" moving to the epoch
with the lowest validation loss (a warm restart's large step makes the last
epoch worse)."""

import torch

import runship as wandb


def data(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)


torch.manual_seed(0)
x, y = data(0, 256)
x_val, y_val = data(1, 64)
model = torch.nn.Linear(4, 1)
run = wandb.init(project="models", job_type="train", config={"lrs": [0.05, 0.05, 0.02, 0.9]})
best = float("inf")
for epoch, lr in enumerate(run.config["lrs"]):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for i in range(0, 256, 32):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[i : i + 32]).squeeze(-1), y[i : i + 32]).backward()
        opt.step()
    with torch.no_grad():
        val_loss = torch.nn.functional.mse_loss(model(x_val).squeeze(-1), y_val).item()
    param_norm = sum(p.detach().norm().item() ** 2 for p in model.parameters()) ** 0.5
    run.log({"epoch": epoch, "val_loss": val_loss, "param_norm": param_norm})
    torch.save(model.state_dict(), "model.pt")
    aliases = [f"epoch_{epoch}"] + (["best"] if val_loss < best else [])
    best = min(best, val_loss)
    run.log_model(path="model.pt", name="resnet", aliases=aliases)
run.finish()
