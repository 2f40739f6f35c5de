"""Dataset versioning as wandb's artifacts guide shows it: a folder logged as
a "dataset" artifact with metadata, by a run of its own each time the data is
prepared. `python dataset_log.py N`: the data of revision N (revision 1
changes one file of revision 0)."""

import os
import sys

import runship as wandb

revision = int(sys.argv[1])
os.makedirs("mnist/train", exist_ok=True)
os.makedirs("mnist/test", exist_ok=True)
for split, n in (("train", 3), ("test", 2)):
    for i in range(n):
        with open(f"mnist/{split}/shard-{i}.bin", "wb") as f:
            f.write(bytes((i * 7 + j) % 251 for j in range(1000 + i)))
with open("mnist/labels.csv", "w") as f:
    f.write("id,label\n" + "".join(f"{i},{i % 10}\n" for i in range(20)))
if revision >= 1:  # revision 1: one shard re-made
    with open("mnist/train/shard-1.bin", "wb") as f:
        f.write(b"relabelled" * 100)

run = wandb.init(project="datasets", job_type="upload", config={"revision": revision})
artifact = wandb.Artifact("mnist", type="dataset", description="MNIST, sharded", metadata={"revision": revision})
artifact.add_dir("mnist")
run.log_artifact(artifact)
artifact.wait()
print("logged", artifact.name, artifact.digest)
run.finish()
