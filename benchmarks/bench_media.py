"""Bytes on disk of an evaluation-table script: each epoch, a predictions
table of the same test pictures (28x28 grey, as Fashion-MNIST's) with that
epoch's predicted labels, as wandb's Launch quickstart and eval-table
examples log one. The same script runs under runship and, when wandb is
installed, under wandb offline, each in its own process; printed: the
picture files each wrote (PNGs, found by content) and the bytes of all it
wrote (wandb offline stages a table's pictures, its ``run_table``
artifact's files, in its data directory, outside the run directory: both
are counted).

    python benchmarks/bench_media.py [--images 33] [--epochs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG = b"\x89PNG\r\n\x1a\n"

SCRIPT = """
import numpy as np
import {module} as wandb

rng = np.random.default_rng(0)
pictures = rng.integers(0, 255, size=({images}, 28, 28), dtype=np.uint8)
labels = rng.integers(0, 10, size={images})
run = wandb.init(project="eval-table")
for epoch in range({epochs}):
    table = wandb.Table(columns=["id", "image", "truth", "guess"])
    guesses = np.where(rng.random({images}) < 0.2 + epoch / 10, labels, rng.integers(0, 10, {images}))
    for i in range({images}):
        table.add_data(i, wandb.Image(pictures[i]), int(labels[i]), int(guesses[i]))
    wandb.log({{"epoch": epoch, "predictions": table}})
run.finish()
"""


def measure(module: str, images: int, epochs: int) -> tuple[int, int, int] | None:
    """(picture files, their bytes, bytes of the whole run directory), or None if ``module`` is missing."""
    with tempfile.TemporaryDirectory() as work:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
        env.update(PYTHONPATH=ROOT, RUNSHIP_DIR=work, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=work)
        # wandb stages a table's pictures (its run_table artifact) under its data and cache dirs: counted too
        env.update(WANDB_DATA_DIR=work, WANDB_CACHE_DIR=work, WANDB_CONFIG_DIR=work, WANDB_ARTIFACT_DIR=work)
        code = SCRIPT.format(module=module, images=images, epochs=epochs)
        out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            if "No module named" in out.stderr:
                return None
            raise SystemExit(f"{module}: {out.stderr[-2000:]}")
        pictures = picture_bytes = total = 0
        for d, _, names in os.walk(work):
            for n in names:
                path = os.path.join(d, n)
                size = os.path.getsize(path)
                total += size
                with open(path, "rb") as f:
                    if f.read(8) == PNG:  # by content: wandb stages pictures under temporary names
                        pictures += 1
                        picture_bytes += size
        return pictures, picture_bytes, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=33)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    print(f"a predictions table of {args.images} pictures logged each of {args.epochs} epochs")
    print(f"{'':16}{'PNG files':>10}{'PNG KiB':>10}{'all KiB':>13}")
    for name, module in (("runship", "runship"), ("wandb offline", "wandb")):
        got = measure(module, args.images, args.epochs)
        if got is None:
            print(f"{name:16}{'(not installed)':>33}")
            continue
        files, png, total = got
        print(f"{name:16}{files:>10}{png / 1024:>10.1f}{total / 1024:>13.1f}")


if __name__ == "__main__":
    main()
