"""Lightning's WandbLogger(log_model=...) with a ModelCheckpoint on val/loss,
as Lightning's docs show it, under install_as_wandb(): `python
lightning_checkpoints.py all|true`. The checkpoints are logged as the model
artifact model-<run id>, aliased latest and best."""

import sys

import runship.compat

runship.compat.install_as_wandb()

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


class Model(L.LightningModule):
    def __init__(self, lrs=(0.05, 0.05, 0.02, 0.9)):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y))

    def on_train_epoch_start(self):  # a warm restart's large step in the last epoch: its checkpoint is not the best
        for group in self.optimizers().optimizer.param_groups:
            group["lr"] = self.hparams.lrs[self.current_epoch]

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lrs[0])


torch.manual_seed(0)
x = torch.randn(64, 3)
y = x @ torch.tensor([1.0, -2.0, 0.5])
data = DataLoader(TensorDataset(x, y), batch_size=16)
log_model = {"all": "all", "true": True}[sys.argv[1]]
logger = WandbLogger(project="lightning-ckpt", name=f"pl-{sys.argv[1]}", log_model=log_model)
checkpoint = ModelCheckpoint(monitor="val/loss", mode="min", save_top_k=1)
trainer = L.Trainer(max_epochs=4, logger=logger, callbacks=[checkpoint], log_every_n_steps=1, enable_progress_bar=False)
trainer.fit(Model(), data, data)
print("best", checkpoint.best_model_path, repr(checkpoint.best_model_score.item()))
