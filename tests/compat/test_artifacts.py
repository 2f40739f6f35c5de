"""Artifacts offline, as wandb's scripts use them online: one script logs
(a dataset folder, model checkpoints, a framework's checkpoint callback), a
second script, a process of its own on the same root, finds the version by
name and alias with use_artifact/use_model and reads the bytes logged. wandb
offline cannot do the second half (the last test records how it fails)."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys

import pytest

import runship
from tests.compat.test_scripts import REPO, SCRIPTS, rows, run_script, runs_of


@pytest.fixture
def work(tmp_path):
    return tmp_path


def _tree(folder) -> dict[str, bytes]:
    """{relative path: bytes} of every file below ``folder``."""
    out = {}
    for d, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder).replace(os.sep, "/")] = f.read()
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions(api, project, name, type=None):
    """[(version, sorted aliases)] of every version of ``name``, newest first."""
    return [(a.version, sorted(a.aliases)) for a in api.artifacts(type, f"{project}/{name}")]


def _line(out, word):
    """The rest of the one stdout line that starts with ``word``."""
    (found,) = re.findall(rf"^{word} (.*)$", out.stdout, re.M)
    return found


def test_dataset_versions_found_by_another_process(work):
    """A folder logged as a dataset three times (the third time unchanged: no new
    version, as wandb); a training run in another process uses latest and v0 and
    downloads exactly the bytes each revision had; logged_by/used_by name the runs."""
    run_script(work, "dataset_log.py", "0")
    rev0 = _tree(work / "mnist")
    run_script(work, "dataset_log.py", "1")
    rev1 = _tree(work / "mnist")
    assert {p for p in rev0 if rev0[p] != rev1[p]} == {"train/shard-1.bin"} and rev0.keys() == rev1.keys()
    again = run_script(work, "dataset_log.py", "1")
    assert _line(again, "logged").startswith("mnist:v1 ")  # the same contents: the version there is
    used = run_script(work, "dataset_use.py")
    first, second, third, user = runs_of(work, "datasets")
    assert _line(used, "run") == user.id

    # what the second process downloaded, byte for byte
    assert _tree(work / "artifacts" / "mnist:v1") == rev1 and _tree(work / "artifacts" / "mnist:v0") == rev0
    printed = re.findall(r"^file (\S+) (\S+) (\S+)$", used.stdout, re.M)
    assert printed == [("mnist:latest", p, _sha(rev1[p])) for p in sorted(rev1)] + [
        ("mnist:v0", p, _sha(rev0[p])) for p in sorted(rev0)
    ]
    assert re.findall(r"^version (.*)$", used.stdout, re.M) == [
        "mnist:latest v1 1 artifacts/mnist:v1",
        "mnist:v0 v0 0 artifacts/mnist:v0",
    ]
    assert re.findall(r"^logged_by (.*)$", used.stdout, re.M) == [f"mnist:latest {second.id}", f"mnist:v0 {first.id}"]
    assert re.findall(r"^used_by (.*)$", used.stdout, re.M) == [f"mnist:latest {user.id}", f"mnist:v0 {user.id}"]

    # the same through the reader's Api
    api = runship.Api(str(work / "runs"))
    assert _versions(api, "datasets", "mnist", "dataset") == [("v1", ["latest"]), ("v0", [])]
    latest = api.artifact("datasets/mnist:latest", type="dataset")
    assert (latest.metadata, latest.description, latest.type) == ({"revision": 1}, "MNIST, sharded", "dataset")
    assert {e.path: (e.size, e.digest) for e in latest.files()} == {p: (len(b), _sha(b)) for p, b in rev1.items()}
    assert latest.logged_by().id == second.id and [r.id for r in latest.used_by()] == [user.id]
    assert [a.name for a in first.logged_artifacts()] == ["mnist:v0"]
    assert [a.name for a in second.logged_artifacts()] == [a.name for a in third.logged_artifacts()] == ["mnist:v1"]
    assert [a.name for a in user.used_artifacts()] == ["mnist:v1", "mnist:v0"]
    # each distinct content stored once (train/shard-0 and test/shard-0 are the same bytes)
    blobs = _tree(work / "runs" / "datasets" / ".artifacts" / "blobs")
    assert sorted(blobs.values()) == sorted(set(rev0.values()) | set(rev1.values()))


def test_a_checkpoint_rewritten_at_once_keeps_each_versions_bytes(work):
    out = run_script(work, "rewritten_checkpoint.py")
    digests = [_sha(bytes([epoch]) * 3_000_000) for epoch in range(5)]
    assert re.findall(r"^logged (.*)$", out.stdout, re.M) == [f"v{e} {d}" for e, d in enumerate(digests)]
    api = runship.Api(str(work / "runs"))
    for epoch in range(5):
        art = api.artifact(f"rewritten/ckpt:epoch_{epoch}")
        assert art.version == f"v{epoch}" and art.get_entry("model.pt").digest == digests[epoch]


@pytest.mark.compat
def test_model_checkpoints_best_and_the_registry(work):
    """run.log_model of one file rewritten each epoch: a version per epoch, each
    holding that epoch's weights, "best" where the validation loss was lowest;
    another process loads resnet:best (use_model, torch.load), links it
    (link_model: the same file, so no new version of resnet) and loads it back
    from the registered name."""
    import torch

    run_script(work, "checkpoints_log.py")
    out = run_script(work, "checkpoints_use.py")
    train, evaluate = runs_of(work, "models")
    history = rows(train)
    losses = [r["val_loss"] for r in history]
    best = losses.index(min(losses))
    assert best == 2  # the last epoch's large step made it worse: best is not latest

    api = runship.Api(str(work / "runs"))
    assert _versions(api, "models", "resnet", "model") == [
        ("v3", ["epoch_3", "latest"]),
        ("v2", ["best", "epoch_2"]),
        ("v1", ["epoch_1"]),
        ("v0", ["epoch_0"]),
    ]
    for art in api.artifacts("model", "models/resnet"):  # each version the weights of its epoch
        epoch = int(art.version[1:])
        state = torch.load(art.get_entry("model.pt").download(str(work / "check" / art.version)))
        norm = sum(t.norm().item() ** 2 for t in state.values()) ** 0.5
        assert norm == pytest.approx(history[epoch]["param_norm"], rel=1e-6)
        assert art.logged_by().id == train.id

    path, loss = _line(out, "best").split()
    assert path == str(work / "artifacts" / "resnet:v2" / "model.pt")  # use_model: the version's one file
    assert float(loss) == pytest.approx(losses[best], rel=1e-6)
    registered, loss_again = _line(out, "registered").split()
    assert registered == str(work / "artifacts" / "resnet-registry:v0" / "model.pt")
    assert float(loss_again) == float(loss)
    assert rows(evaluate)[0]["val_loss"] == float(loss)

    linked = api.artifact("models/resnet-registry:latest")
    assert (linked.version, sorted(linked.aliases)) == ("v0", ["latest", "production"])
    assert linked.digest == api.artifact("models/resnet:best").digest  # the same files, the blobs shared
    assert linked.logged_by().id == train.id  # the run that logged the files
    assert len(api.artifacts(name="models/resnet")) == 4  # link_model logged the same file: no new version
    assert [a.name for a in evaluate.used_artifacts()] == ["resnet:v2", "resnet-registry:v0"]
    assert [r.id for r in api.artifact("models/resnet:best").used_by()] == [evaluate.id]


@pytest.mark.compat
@pytest.mark.parametrize("log_model", ["all", "true"])
def test_lightning_wandb_logger_log_model(work, log_model):
    """WandbLogger(log_model="all"): each checkpoint ModelCheckpoint keeps is logged as
    it is saved; log_model=True: the best one, at the end. Lightning's names and
    aliases (model-<run id>, latest and best); another process takes model:best as
    Lightning's docs show it and validates it to the checkpoint's score."""
    out = run_script(work, "lightning_checkpoints.py", log_model)
    path, score = _line(out, "best").split()
    api = runship.Api(str(work))  # WandbLogger's save_dir, ".": the run root is the working directory
    (run,) = api.runs("lightning-ckpt")
    name = f"model-{run.id}"
    versions = _versions(api, "lightning-ckpt", name, "model")
    if log_model == "all":  # epochs 0, 1, 2 improved val/loss; the last did not
        assert versions == [("v2", ["best", "latest"]), ("v1", []), ("v0", [])]
    else:
        assert versions == [("v0", ["best", "latest"])]
    best = api.artifact(f"lightning-ckpt/{name}:best")
    (entry,) = best.files()
    assert (entry.path, entry.digest) == ("model.ckpt", _sha((work / path).read_bytes()))
    assert best.metadata["original_filename"] == os.path.basename(path) == "epoch=2-step=12.ckpt"
    assert best.metadata["score"] == pytest.approx(float(score))
    assert best.metadata["ModelCheckpoint"]["monitor"] == "val/loss"

    used = run_script(work, "lightning_use.py", f"{name}:best")
    assert _line(used, "validated").startswith(f"{best.name} ['best', 'latest'] ")
    assert float(_line(used, "validated").split()[-1]) == pytest.approx(float(score), rel=1e-6)
    evaluate = next(r for r in api.runs("lightning-ckpt") if r.id != run.id)
    assert [a.name for a in evaluate.used_artifacts()] == [best.name]
    assert [r.id for r in best.used_by()] == [evaluate.id]


@pytest.mark.compat
@pytest.mark.parametrize("mode", ["checkpoint", "end"])
def test_transformers_wandb_log_model(work, mode):
    """report_to="wandb" with WANDB_LOG_MODEL: transformers' WandbCallback logs
    model-<run name>, its architecture (base_model), with "checkpoint" each saved
    checkpoint folder, and the final model (final_model); another process reads
    the weights back from the version it names by alias."""
    out = run_script(work, "transformers_log_model.py", mode)
    api = runship.Api(str(work / "runs"))
    name = f"model-hf-{mode}"
    if mode == "checkpoint":
        assert _versions(api, "hf-models", name, "model") == [
            ("v3", ["final_model", "latest"]),
            ("v2", ["checkpoint_global_step_8", "epoch_2.0"]),
            ("v1", ["checkpoint_global_step_4", "epoch_1.0"]),
            ("v0", ["base_model"]),
        ]
        saved = _tree(work / "out" / "checkpoint-8")
        step8 = api.artifact(f"hf-models/{name}:checkpoint_global_step_8")
        assert {e.path: e.digest for e in step8.files()} == {p: _sha(b) for p, b in saved.items()}
        final = api.artifact(f"hf-models/{name}:final_model")
        # the final model's weights are step 8's: one blob for both
        assert final.get_entry("model.safetensors").digest == step8.get_entry("model.safetensors").digest
    else:
        assert _versions(api, "hf-models", name, "model") == [("v1", ["final_model", "latest"]), ("v0", ["base_model"])]
    (base,) = api.artifact(f"hf-models/{name}:base_model").files()
    assert base.path == "model_architecture.txt"
    (trained,) = runs_of(work, "hf-models")
    assert trained.name == f"hf-{mode}" and [a.name for a in trained.logged_artifacts()][-1].startswith(name)

    used = run_script(work, "transformers_use_model.py", f"{name}:final_model")
    assert _line(used, "weights") == _line(out, "weights")
    assert _line(used, "loaded").startswith(f"{name}:v")
    if mode == "checkpoint":  # an earlier checkpoint: other weights
        used = run_script(work, "transformers_use_model.py", f"{name}:checkpoint_global_step_4")
        assert "optimizer.pt" in _line(used, "loaded") and _line(used, "weights") != _line(out, "weights")


@pytest.mark.compat
def test_wandb_offline_cannot_use_what_it_logged(work):
    """The same scripts under wandb 0.31 offline: logging works (but Artifact.wait()
    raises), and the second process cannot use_artifact or use_model at all."""
    from tests.compat.wandb_log import as_wandb

    where = work / "under-wandb"
    where.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(where), PYTHONPATH=REPO)

    def under_wandb(name, *args):
        with open(os.path.join(SCRIPTS, name)) as f:
            (where / name).write_text(as_wandb(f.read()))
        return subprocess.run(
            [sys.executable, name, *args], cwd=where, env=env, capture_output=True, text=True, timeout=300
        )

    logged = under_wandb("checkpoints_log.py")
    assert logged.returncode == 0, logged.stderr[-3000:]
    assert len(list((where / "wandb").glob("offline-run-*"))) == 1
    used = under_wandb("checkpoints_use.py")
    assert used.returncode != 0 and "RuntimeError: `use_model` not supported in offline mode." in used.stderr

    dataset = under_wandb("dataset_log.py", "0")
    assert dataset.returncode != 0
    assert "ArtifactNotLoggedError: 'Artifact.wait' used prior to logging artifact or while in offline mode" in (
        dataset.stderr
    )
    used = under_wandb("dataset_use.py")
    assert used.returncode != 0 and "TypeError: Cannot use artifact when in offline mode." in used.stderr


def test_scripts_are_wandb_scripts():
    """The scripts of this file use nothing of runship's but its name as wandb's."""
    for name in ("dataset_log.py", "dataset_use.py", "checkpoints_log.py", "checkpoints_use.py"):
        with open(os.path.join(SCRIPTS, name)) as f:
            tree = ast.parse(f.read())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert {m for m in imported if m.startswith("runship")} == {"runship"}, name
