# Logging against a global step, as most training repos do.
import runship as wandb

run = wandb.init(project="global-step")
global_step = 0
for epoch in range(3):
    for _batch in range(4):
        global_step += 1
        wandb.log({"train/loss": 1 / global_step, "epoch": epoch}, step=global_step)
    wandb.log({"val/loss": 1 / (epoch + 1)}, step=global_step)  # same step: merged into it
wandb.log({"test/acc": 0.9}, step=global_step - 5)  # going back in time: dropped with a warning
run.finish()
