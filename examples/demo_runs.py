"""Several simulated runs to look at in ``runship ui``: a small sweep over
learning rate, batch size and optimizer, in two groups, with images,
histograms, a table, console output, one run that diverges and one that
fails. Written as a wandb script would be: only the import differs.

RUNSHIP_DIR=runship-demo python examples/demo_runs.py --steps 2000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys

import numpy as np

import runship as wandb

SWEEP = [
    {"lr": 1e-3, "batch_size": 64, "optimizer": "adam", "group": "adam"},
    {"lr": 3e-4, "batch_size": 64, "optimizer": "adam", "group": "adam"},
    {"lr": 1e-4, "batch_size": 128, "optimizer": "adam", "group": "adam"},
    {"lr": 1e-2, "batch_size": 64, "optimizer": "sgd", "group": "sgd"},
    {"lr": 3e-2, "batch_size": 128, "optimizer": "sgd", "group": "sgd", "diverges": True},
]


def image(step: int, steps: int, seed: int) -> np.ndarray:
    """A 48x48 picture that sharpens as training goes."""
    yy, xx = np.mgrid[0:48, 0:48] / 47.0
    sharp = 2 + 10 * step / steps
    r = 0.5 + 0.5 * np.sin(sharp * xx + seed)
    g = 0.5 + 0.5 * np.cos(sharp * yy)
    b = np.clip(1 - (xx - 0.5) ** 2 - (yy - 0.5) ** 2, 0, 1)
    return np.stack([r, g, b], axis=-1)


def train(cfg: dict, steps: int, seed: int) -> None:
    rnd = random.Random(seed)
    run = wandb.init(
        project="demo",
        name=f"{cfg['optimizer']}-lr{cfg['lr']:g}-bs{cfg['batch_size']}",
        group=cfg["group"],
        job_type="train",
        tags=["demo", cfg["optimizer"]],
        config={k: v for k, v in cfg.items() if k not in ("group", "diverges")}
        | {"model": {"layers": 4, "width": 256}},
        reinit=True,
    )
    wandb.define_metric("epoch")
    wandb.define_metric("val/*", step_metric="epoch")
    try:  # the dataset examples/train.py versioned (make demo runs it first)
        run.use_artifact("digits:clean", type="dataset").download(os.path.join(run.dir, "data"))
    except LookupError:
        print("no digits:clean dataset in this root: training without it", file=sys.stderr)
    speed = cfg["lr"] ** 0.5 * 40
    print(f"training {run.name} for {steps} steps")
    for step in range(steps):
        progress = step / steps
        loss = 2.5 * math.exp(-speed * progress) + 0.05 * rnd.random()
        if cfg.get("diverges") and progress > 0.6:
            loss *= math.exp(12 * (progress - 0.6))
        row = {"train/loss": loss, "train/lr": cfg["lr"] * (1 - progress), "epoch": step // 200}
        if step == steps // 3:
            row["train/grad_norm"] = 40.0  # one spike: the chart must show it
        elif step % 10 == 0:
            row["train/grad_norm"] = 1.0 + 0.2 * rnd.random()
        if step % 200 == 199:
            acc = max(0.0, 1 - loss / 3 + 0.02 * rnd.random())
            row.update({"val/acc": acc, "val/loss": loss * 1.1})
            row["samples"] = wandb.Image(image(step, steps, seed), caption=f"step {step}")
            row["weights"] = wandb.Histogram(np.random.default_rng(step).normal(0, 1 + progress, 2000))
            print(f"epoch {step // 200}: val/acc={acc:.3f} val/loss={loss * 1.1:.3f}")
        wandb.log(row)
    table = wandb.Table(columns=["id", "label", "prediction", "confidence"])
    for i in range(120):
        label = rnd.randrange(10)
        table.add_data(i, label, label if rnd.random() < 0.8 else rnd.randrange(10), round(rnd.random(), 3))
    wandb.log({"predictions": table})
    if cfg.get("diverges"):
        print("loss is not finite any more: stopping", file=sys.stderr)
        run.finish(exit_code=1)
        return
    run.summary["best_val_acc"] = max(0.0, 1 - 2.5 * math.exp(-speed) / 3)
    checkpoint = os.path.join(run.dir, "model.json")
    with open(checkpoint, "w") as f:
        json.dump({"config": run.config.as_dict(), "weights": [round(rnd.random(), 4) for _ in range(256)]}, f)
    run.log_model(checkpoint, name="digits-cnn", aliases=[cfg["optimizer"]])
    run.finish()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args()
    for seed, cfg in enumerate(SWEEP):
        train(cfg, args.steps, seed)


if __name__ == "__main__":
    main()
