import runship as wandb

run = wandb.init(project="metrics")
wandb.define_metric("epoch")
wandb.define_metric("val/*", step_metric="epoch")
wandb.define_metric("val/loss", summary="min")
wandb.define_metric("val/acc", summary="max,mean", goal="maximize")
wandb.define_metric("train/loss", summary="none")
losses = [0.9, 0.5, 0.7, 0.4]
accs = [0.5, 0.8, 0.6, 0.7]
for epoch in range(4):
    wandb.log({"train/loss": 1 - epoch / 10})
    wandb.log({"epoch": epoch})
    wandb.log({"val/loss": losses[epoch], "val/acc": accs[epoch]})  # epoch added by step_sync
run.finish()
