# Calls that real scripts make and that have no server to talk to here.
import os

import runship as wandb

run = wandb.init(project="extras")
wandb.watch(object(), log="all", log_freq=100)
wandb.alert(title="Low accuracy", text="acc 0.1 < 0.5", level=wandb.AlertLevel.WARN)
with open("weights.bin", "wb") as f:
    f.write(os.urandom(64))
art = wandb.Artifact("model", type="model", metadata={"epochs": 3})
art.add_file("weights.bin")
with art.new_file("info.txt") as f:
    f.write("trained")
run.log_artifact(art, aliases=["best"])
try:  # nobody logged it in this root: wandb's CommError, as wandb's for an artifact it cannot find
    run.use_artifact("someone/proj/dataset:v3")
except wandb.errors.CommError as e:
    print("USE", type(e).__name__)
run.mark_preempting()
wandb.log_code(".")
wandb.login()
run.finish()
