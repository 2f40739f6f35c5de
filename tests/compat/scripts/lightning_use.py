"""Another run takes a checkpoint logged by lightning_checkpoints.py, as
Lightning's docs show it (WandbLogger.use_artifact, download,
load_from_checkpoint), and validates it: `python lightning_use.py <artifact>`."""

import sys
from pathlib import Path

import runship.compat

runship.compat.install_as_wandb()

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


class Model(L.LightningModule):
    def __init__(self, lrs=(0.05, 0.05, 0.02, 0.9)):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(3, 1)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y))


torch.manual_seed(0)
x = torch.randn(64, 3)
y = x @ torch.tensor([1.0, -2.0, 0.5])
data = DataLoader(TensorDataset(x, y), batch_size=16)
logger = WandbLogger(project="lightning-ckpt", name="evaluate", job_type="evaluate")
artifact = logger.use_artifact(sys.argv[1], artifact_type="model")
artifact_dir = artifact.download()
model = Model.load_from_checkpoint(Path(artifact_dir) / "model.ckpt")
(result,) = L.Trainer(logger=logger, enable_progress_bar=False).validate(model, data, verbose=False)
print("validated", artifact.name, sorted(artifact.aliases), repr(result["val/loss"]))
print("metadata", artifact.metadata["original_filename"], repr(artifact.metadata["score"]))
