import argparse

import runship as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--optimizer", default="sgd")
args = parser.parse_args(["--lr", "0.05", "--optimizer", "adam"])

wandb.init(project="argparse", config=args)
wandb.config.update({"dataset": "cifar10"})
wandb.config.epochs = 3
for epoch in range(wandb.config.epochs):
    wandb.log({"epoch": epoch, "lr": wandb.config.lr * 0.5**epoch})
