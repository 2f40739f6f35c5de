"""wandb.Video from a numpy array (time, channels, height, width), as RL
scripts log their rollouts; encoded as GIF with imageio."""

import numpy as np

import runship as wandb

frames = np.zeros((6, 3, 16, 16), dtype=np.uint8)
for t in range(6):
    frames[t, 0, :, t * 2 : t * 2 + 3] = 255  # a red bar moving right
run = wandb.init(project="video")
wandb.log({"rollout": wandb.Video(frames, fps=8, format="gif", caption="episode 1")})
run.finish()
