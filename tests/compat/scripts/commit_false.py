import runship as wandb

wandb.init(project="accumulate")
for step in range(5):
    wandb.log({"train/loss": 1.0 / (step + 1)}, commit=False)
    wandb.log({"train/acc": step / 10}, commit=False)
    if step % 2 == 0:
        wandb.log({"val/loss": 2.0 / (step + 1)}, commit=False)
    wandb.log({})  # commit the step
wandb.finish()
