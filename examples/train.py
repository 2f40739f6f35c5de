"""A simulated training loop, written as a wandb script: only the import differs.

python examples/train.py --steps 3000
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile

import runship as wandb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--id", default=None, help="run id (resume it with --resume allow)")
    ap.add_argument("--resume", default=None)
    args = ap.parse_args()

    run = wandb.init(
        project="demo",
        config=args,
        config_exclude_keys=["id", "resume"],
        id=args.id,
        resume=args.resume,
        tags=["demo", "simulated"],
    )
    rnd = random.Random(0)
    start = run.step
    for step in range(start, args.steps):
        progress = step / args.steps
        loss = 2.5 * math.exp(-4 * progress) + 0.05 * rnd.random()
        if step % 250 == 0:  # evaluation: joins this step's row (commit=False)
            acc = 1 - loss / 3 + 0.01 * rnd.random()
            wandb.log({"val/acc": acc, "val/loss": loss * 1.1}, commit=False)
        wandb.log({"train/loss": loss, "train/lr": args.lr * (1 - progress), "epoch": step // 500})
    run.summary["best_val_acc"] = max(0.0, 1 - 2.5 * math.exp(-4) / 3)
    # the dataset the runs of examples/demo_runs.py train on, versioned as an artifact:
    # stored by digest in <root>/demo/.artifacts/ (`runship artifact ls demo`)
    with tempfile.TemporaryDirectory() as tmp:
        for split, n in (("train", 600), ("val", 100)):
            with open(os.path.join(tmp, f"{split}.csv"), "w") as f:
                f.writelines(f"{i},{rnd.randrange(10)}\n" for i in range(n))
        data = wandb.Artifact("digits", type="dataset", description="simulated digits", metadata={"rows": 700})
        data.add_dir(tmp)
        run.log_artifact(data, aliases=["clean"]).wait()  # read before the folder goes
    run.finish()


if __name__ == "__main__":
    main()
