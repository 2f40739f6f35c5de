"""Images inside a wandb.Table, columns added afterwards, a DataFrame logged
directly (the pattern of wandb's launch quickstart and eval tables)."""

import numpy as np
import pandas as pd

import runship as wandb

run = wandb.init(project="image-table")
table = wandb.Table(columns=["id", "image", "label"])
for i in range(3):
    pixels = np.full((6, 6, 3), i * 80, dtype=np.uint8)
    table.add_data(i, wandb.Image(pixels, caption=f"digit {i}"), i % 2)
table.add_column("score", np.array([0.25, 0.5, 0.75]))
table.add_computed_columns(lambda ndx, row: {"double": row["score"] * 2})
assert table.get_column("double") == [0.5, 1.0, 1.5]
assert table.get_column("label", convert_to="numpy").tolist() == [0, 1, 0]
wandb.log({"eval": table})
wandb.log({"frame": pd.DataFrame({"name": ["a", "b"], "value": [1.5, 2.5]})})
run.finish()
