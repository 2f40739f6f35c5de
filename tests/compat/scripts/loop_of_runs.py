# A sweep by hand: several runs in one process, each in a `with` block.
import runship as wandb

for lr in (0.1, 0.01, 0.001):
    with wandb.init(project="loop", config={"lr": lr}, name=f"lr-{lr}") as run:
        for step in range(3):
            run.log({"loss": lr * (3 - step)})
    assert wandb.run is None
