# The wandb quickstart, with the import changed.
import random

import runship as wandb

run = wandb.init(project="my-awesome-project", config={"learning_rate": 0.02, "architecture": "CNN", "epochs": 10})
offset = random.Random(0).random() / 5
for epoch in range(2, run.config.epochs):
    acc = 1 - 2**-epoch - random.Random(epoch).random() / epoch - offset
    loss = 2**-epoch + random.Random(-epoch).random() / epoch + offset
    wandb.log({"acc": acc, "loss": loss})
wandb.finish()
