"""wandb's "export all runs of a project to a DataFrame" snippet, as widely
copied, run unchanged after three runs were logged."""

import pandas as pd

import runship as wandb

for lr in (0.1, 0.01, 0.001):
    run = wandb.init(project="export", name=f"lr-{lr}", config={"lr": lr, "_private": 1}, reinit=True)
    for step in range(3):
        wandb.log({"loss": lr * (3 - step)})
    run.finish()

# --- the snippet, as published ---
api = wandb.Api()
entity, project = "my-entity", "export"
runs = api.runs(entity + "/" + project)

summary_list, config_list, name_list = [], [], []
for run in runs:
    # .summary contains output keys/values for
    # metrics such as accuracy.
    #  We call ._json_dict to omit large files
    summary_list.append(run.summary._json_dict)

    # .config contains the hyperparameters.
    #  We remove special values that start with _.
    config_list.append({k: v for k, v in run.config.items() if not k.startswith("_")})

    # .name is the human-readable name of the run.
    name_list.append(run.name)

runs_df = pd.DataFrame({"summary": summary_list, "config": config_list, "name": name_list})

runs_df.to_csv("project.csv")
# --- what else export scripts read ---
print(len(runs), runs.length, sorted({r.state for r in runs}), [r.created_at[:2] for r in runs][:1])
