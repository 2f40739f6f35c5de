"""The less common media of wandb: Html, Object3D (a point cloud and a
file), Molecule, Audio from an array; wandb.util and wandb.join."""

import numpy as np

import runship as wandb

with open("tiny.pdb", "w") as f:
    f.write("ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\nEND\n")
with open("cube.obj", "w") as f:
    f.write("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
run = wandb.init(project="misc-media", name=wandb.util.make_artifact_name_safe("misc media: v1"))
wandb.log(
    {
        "report": wandb.Html("<h1>epoch 1</h1><script>alert(1)</script>"),
        "cloud": wandb.Object3D(np.array([[0, 0, 0], [1, 1, 1], [2, 0, 1]])),
        "mesh": wandb.Object3D("cube.obj"),
        "protein": wandb.Molecule("tiny.pdb"),
        "tone": wandb.Audio(np.sin(np.linspace(0, 440 * 2 * np.pi, 800)), sample_rate=8000, caption="A4"),
    }
)
wandb.join()
