"""define_metric called twice for one metric: the summary ops add up, as in wandb."""

import runship as wandb

run = wandb.init(project="metric-merge")
wandb.define_metric("loss", summary="min")
wandb.define_metric("loss", summary="max")
wandb.define_metric("acc", summary="max")
wandb.define_metric("acc", step_metric="epoch")
for epoch, (loss, acc) in enumerate([(3.0, 0.1), (1.0, 0.5), (2.0, 0.4)]):
    wandb.log({"loss": loss, "acc": acc, "epoch": epoch})
run.finish()
