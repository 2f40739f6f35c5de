"""Lightning's Trainer with its own WandbLogger (as Lightning's docs show it), under install_as_wandb()."""

import runship.compat

runship.compat.install_as_wandb()

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


class Model(L.LightningModule):
    def __init__(self, lr=0.1):
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

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


torch.manual_seed(0)
x = torch.randn(64, 3)
y = x @ torch.tensor([1.0, -2.0, 0.5])
data = DataLoader(TensorDataset(x, y), batch_size=16)
logger = WandbLogger(project="lightning", name="pl-run", log_model=False)
trainer = L.Trainer(
    max_epochs=2, logger=logger, log_every_n_steps=1, enable_progress_bar=False, enable_checkpointing=False
)
trainer.fit(Model(), data, data)
