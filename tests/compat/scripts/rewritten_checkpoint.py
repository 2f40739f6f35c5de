"""A checkpoint file rewritten at once after each log_artifact (a callback's
next save), as scripts do with wandb's default add_file policy ("mutable":
wandb copies the file when it is added): each version holds the bytes the file
had when it was logged."""

import runship as wandb

run = wandb.init(project="rewritten")
logged = []
for epoch in range(5):
    with open("model.pt", "wb") as f:
        f.write(bytes([epoch]) * 3_000_000)
    artifact = wandb.Artifact("ckpt", type="model")
    artifact.add_file("model.pt")
    logged.append(run.log_artifact(artifact, aliases=[f"epoch_{epoch}"]))
for artifact in logged:
    artifact.wait()
    print("logged", artifact.version, artifact.get_entry("model.pt").digest)
run.finish()
