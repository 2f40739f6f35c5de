# A requeued job: same id, resume="allow"; prints each step once flushed.
import sys

import runship as wandb

run = wandb.init(project="resume", id="requeued", resume="allow", config={"lr": 0.1})
target = int(sys.argv[1])
for step in range(run.step, target):
    wandb.log({"loss": 1 / (step + 1), "step_copy": step})
    run.flush()
    print("FLUSHED", step, flush=True)
run.finish()
