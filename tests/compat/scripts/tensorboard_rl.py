"""CleanRL's logging pattern (ppo.py --track): wandb.init(sync_tensorboard=True),
then a torch SummaryWriter with add_scalar at a global step; a tensorboardX
writer beside it."""

import numpy as np
from tensorboardX import SummaryWriter as XWriter
from torch.utils.tensorboard import SummaryWriter

import runship as wandb

run_name = "CartPole-v1__ppo__1"
wandb.init(project="cleanrl", sync_tensorboard=True, config={"lr": 2.5e-4}, name=run_name, save_code=False)
writer = SummaryWriter(f"runs/{run_name}")
writer.add_text("hyperparameters", "|param|value|\n|-|-|\n|lr|0.00025|")
global_step = 0
for update in range(1, 6):
    global_step += 128
    writer.add_scalar("charts/learning_rate", 2.5e-4 * (1 - update / 6), global_step)
    writer.add_scalar("losses/value_loss", 1.0 / update, global_step)
    writer.add_scalar("charts/SPS", 1000 + update, global_step)
writer.add_histogram("weights", np.arange(100, dtype=np.float32), global_step)
writer.close()
x = XWriter("runs/x")
x.add_scalar("x/only", 7.0, 1000)
x.close()
wandb.finish()
