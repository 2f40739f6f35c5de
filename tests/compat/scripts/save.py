import os

import runship as wandb

os.makedirs("ckpt", exist_ok=True)
with open("ckpt/model.pt", "wb") as f:
    f.write(b"weights-v1")
with open("live.log", "w") as f:
    f.write("line 1\n")
run = wandb.init(project="save")
targets = wandb.save("ckpt/*.pt", policy="now")
print("TARGETS", targets)
wandb.save("live.log")  # live: copied now and again when it changes
wandb.save("final.txt", policy="end")
run.flush()
with open("live.log", "a") as f:
    f.write("line 2\n")
with open("final.txt", "w") as f:
    f.write("the end")
os.remove("ckpt/model.pt")  # the saved copy survives its source
run.finish()
