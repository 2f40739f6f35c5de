"""A training run that uses the dataset logged by dataset_log.py, as wandb's
guide shows it: the latest version and an older one, downloaded; who logged
and who used them."""

import hashlib
import os

import runship as wandb

run = wandb.init(project="datasets", job_type="train")
for ref in ("mnist:latest", "mnist:v0"):
    artifact = run.use_artifact(ref, type="dataset")
    folder = artifact.download()
    for d, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                print("file", ref, os.path.relpath(path, folder), hashlib.sha256(f.read()).hexdigest())
    print("version", ref, artifact.version, artifact.metadata["revision"], os.path.relpath(folder))
    print("logged_by", ref, artifact.logged_by().id)
    print("used_by", ref, " ".join(r.id for r in artifact.used_by()))
print("run", run.id)
run.finish()
