"""A Hugging Face Trainer reporting to runship through RunshipCallback, and
a second Trainer with report_to="wandb" under install_as_wandb() (a tiny
model, synthetic data, no download)."""

import sys

import torch

import runship.compat

shim = sys.argv[1:] == ["shim"]
if shim:
    runship.compat.install_as_wandb()

from transformers import Trainer, TrainingArguments  # noqa: E402

from runship.integration.transformers import RunshipCallback  # noqa: E402


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x, labels=None):
        out = self.linear(x).squeeze(-1)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


torch.manual_seed(0)
data = [{"x": torch.randn(2), "labels": torch.tensor(float(i % 3))} for i in range(32)]
args = TrainingArguments(
    output_dir="out",
    num_train_epochs=2,
    per_device_train_batch_size=8,
    logging_steps=1,
    eval_strategy="epoch",
    save_strategy="no",
    report_to=["wandb"] if shim else [],
    run_name="hf-shim" if shim else "hf-native",
    use_cpu=True,
    disable_tqdm=True,
)
callbacks = [] if shim else [RunshipCallback(project="hf-native")]
if shim:
    import os

    os.environ["WANDB_PROJECT"] = "hf-shim"
Trainer(model=Tiny(), args=args, train_dataset=data, eval_dataset=data[:8], callbacks=callbacks).train()
if shim:
    import wandb

    wandb.finish()
