"""A Hugging Face Trainer with report_to="wandb" and WANDB_LOG_MODEL, as
transformers' docs show it, under install_as_wandb() (a tiny model,
synthetic data, no download): `python transformers_log_model.py
checkpoint|end`. transformers' WandbCallback logs the model artifact
model-<run name> (the architecture at the start, aliased base_model; each
saved checkpoint with checkpoint: epoch_<e>, checkpoint_global_step_<n>; the
final model, final_model)."""

import os
import sys

import torch

import runship.compat

runship.compat.install_as_wandb()
os.environ["WANDB_PROJECT"] = "hf-models"
os.environ["WANDB_LOG_MODEL"] = sys.argv[1]

from transformers import Trainer, TrainingArguments  # noqa: E402


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
    save_strategy="epoch",
    report_to=["wandb"],
    run_name=f"hf-{sys.argv[1]}",
    use_cpu=True,
    disable_tqdm=True,
)
model = Tiny()
Trainer(model=model, args=args, train_dataset=data, eval_dataset=data[:8]).train()
print("weights", model.linear.weight.ravel().tolist(), model.linear.bias.tolist())
import wandb  # noqa: E402

wandb.finish()
