import os

import runship as wandb

wandb.init(project="access", name="named-run", tags=["baseline"], notes="first try", group="exp1", job_type="train")
assert wandb.run is not None
print(
    "RUN",
    wandb.run.id,
    wandb.run.name,
    wandb.run.project,
    wandb.run.group,
    wandb.run.job_type,
    ",".join(wandb.run.tags),
)
with open(os.path.join(wandb.run.dir, "notes.txt"), "w") as f:
    f.write("written into run.dir")
wandb.log({"x": 1})
wandb.run.summary["final"] = 42
wandb.summary["also"] = "yes"
wandb.config["seed"] = 7
print("STEP", wandb.run.step)
