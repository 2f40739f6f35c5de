"""Public scripts where wandb 0.31 offline itself fails (issue 28 item 6): each is
run under wandb offline, which must still fail as it did when the scripts were
tried (else this file is out of date), and under runship, whose record is read
back through runship's reader."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from runship.sweep import Sweep
from tests.compat.test_scripts import SCRIPTS, as_wandb_script, only_run, rows, run_script, runs_of


@pytest.fixture
def work(tmp_path):
    return tmp_path


def under_wandb(work, name, timeout):
    """The script as `import wandb`, under wandb offline, in its own process group:
    (returncode, stdout, stderr), returncode None where it ran past ``timeout``
    seconds (the group then killed)."""
    where, env = as_wandb_script(work, name)
    proc = subprocess.Popen(
        [sys.executable, name],
        cwd=where,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err


@pytest.mark.compat
def test_sweep_and_agent_with_a_function(work):
    """wandb.sweep offline wants an API key; runship runs the grid's five trials
    in-process, each a run of the sweep with its grid value as config."""
    code, _, err = under_wandb(work, "sweeps_python.py", timeout=120)
    assert code not in (0, None) and "No API key configured" in err

    out = run_script(work, "sweeps_python.py")
    (sweep_id,) = re.findall(r"^sweep_id (\w+)$", out.stdout, re.M)
    grid = [32, 64, 96, 128, 256]
    # each trial built its model from wandb.config.layers: 784*L + L + 10*L + 10 parameters
    built = [tuple(map(int, m)) for m in re.findall(r"^params (\d+) (\d+)$", out.stdout, re.M)]
    assert built == [(layers, 795 * layers + 10) for layers in grid]
    runs = runs_of(work, "uncategorized")
    assert [r.id for r in runs] == [f"{sweep_id}-{i}" for i in range(5)]
    for run, layers in zip(runs, grid):
        assert run.config == {"layers": layers} and run.state == "finished"
        assert run._view.sessions[-1].start["sweep"]["id"] == sweep_id
        got = rows(run)
        assert [(r["_step"], r["epoch/epoch"]) for r in got] == [(0, 0), (1, 1)]
        for r in got:
            assert {"epoch/loss", "epoch/accuracy", "epoch/val_loss", "epoch/val_accuracy"} <= set(r)
            assert 0 <= r["epoch/accuracy"] <= 1 and 0 <= r["epoch/val_accuracy"] <= 1 and r["epoch/loss"] > 0
        assert run.summary["epoch/val_loss"] == got[-1]["epoch/val_loss"]
    status = Sweep.open(str(work / "runs"), f"uncategorized/{sweep_id}").status()
    assert [t["state"] for t in status["trials"]] == ["finished"] * 5


@pytest.mark.compat
def test_watch_log_all_then_saving_the_whole_model(work):
    """wandb.watch(log="all") leaves hooks on the model that torch.save cannot
    pickle; runship's watch adds none, so the model is saved and kept with the run."""
    code, _, err = under_wandb(work, "pytorch_watch_cnn.py", timeout=120)
    assert code not in (0, None)
    assert "Can't pickle local object 'TorchHistory.add_log_parameters_hook.<locals>.<lambda>'" in err

    from tests.compat.wandb_log import read_run

    theirs = read_run(str(work / "under-wandb"))  # what wandb wrote before torch.save failed

    out = run_script(work, "pytorch_watch_cnn.py")
    assert "watch() has no effect in runship" in out.stderr
    run = only_run(work, "pytorch-demo")
    assert run.config["kernels"] == [16, 32] and run.config["batch_size"] == 16 and run.state == "finished"
    printed = re.findall(r"^Loss after (\d+) examples: ([\d.]+)$", out.stdout, re.M)
    (accuracy,) = re.findall(r"^Accuracy of the model on the 128 test images: ([\d.]+)%$", out.stdout, re.M)
    got = rows(run)
    # every 25th batch of 16 (40 a epoch): batches 24, 49, 74, at step=example_ct; the loss
    # tensor as a float; test_accuracy, logged without a step, joins the last row (as in wandb)
    assert [(r["_step"], r["epoch"]) for r in got] == [(384, 0), (784, 1), (1184, 1)]
    assert [(str(r["_step"]).zfill(5), f"{r['loss']:.3f}") for r in got] == printed
    assert all(isinstance(r["loss"], float) for r in got)
    assert [sorted(r) for r in got] == [["_step", "epoch", "loss"]] * 2 + [["_step", "epoch", "loss", "test_accuracy"]]
    assert got[-1]["test_accuracy"] * 128 == round(got[-1]["test_accuracy"] * 128)
    assert math.isclose(got[-1]["test_accuracy"] * 100, float(accuracy), abs_tol=1e-4)
    assert {k: v for k, v in run.summary.items() if not k.startswith("_")} == {
        k: got[-1][k] for k in ("epoch", "loss", "test_accuracy")
    }
    # the same seeds on the same CPU: wandb's values where it logged them (its rows beside the
    # watch histograms, which runship does not record, and its summary)
    ours = {r["_step"]: r for r in got}
    compared = [row for row in theirs["history"] if "loss" in row]
    assert compared
    for row in compared:
        assert ours[row["_step"]]["loss"] == pytest.approx(row["loss"], rel=1e-6)
        assert ours[row["_step"]]["epoch"] == row["epoch"]
    assert any("gradients/fc.weight" in row for row in theirs["history"])
    assert theirs["summary"]["_step"] == 1184
    for key in ("epoch", "loss", "test_accuracy"):
        assert got[-1][key] == pytest.approx(theirs["summary"][key], rel=1e-6), key
    saved = {f.name: f for f in run.files()}["files/model.onnx"]
    model = (work / "model.onnx").read_bytes()
    assert saved.size == len(model) > 100_000  # the ConvNet's 1568*10 + ... weights, pickled
    with open(os.path.join(run.url, "files", "model.onnx"), "rb") as f:
        assert f.read() == model


@pytest.mark.compat
def test_cross_validation_with_a_worker_process_per_fold(work):
    """The workers delete WANDB_MODE: under wandb offline they ask for an API key
    and die, and the parent waits for their results forever. Under runship: the
    parent's run and one run per fold, grouped, named after the parent, the
    parent's val_accuracy the mean of the folds'."""
    code, _, err = under_wandb(work, "cross_validation_mp.py", timeout=30)
    assert code is None  # still waiting when killed
    # the first worker died asking for a key; the parent waits for its result, the rest for their data
    assert err.count("No API key configured") == 1

    out = run_script(work, "cross_validation_mp.py")
    (folds,) = re.findall(r"^Folds' val_accuracy: \[(.*)\]$", out.stdout, re.M)
    folds = [float(v) for v in folds.split(", ")]
    runs = runs_of(work, "uncategorized")
    assert len(runs) == 6
    (parent,) = [r for r in runs if r.group is None]
    fold_runs = sorted((r for r in runs if r.group is not None), key=lambda r: r.name)
    assert parent.notes == "None/groups/unknown"  # set after init: not a sweep, no project URL
    assert [r.name for r in fold_runs] == [f"{parent.name}-{k}" for k in range(5)]
    assert {(r.group, r.job_type) for r in fold_runs} == {("unknown", parent.name)}
    assert len({r.id for r in runs}) == 6 and all(r.state == "finished" for r in runs)
    assert [rows(r) for r in fold_runs] == [[{"_step": 0, "val_accuracy": v}] for v in folds]
    assert len(set(folds)) == 5  # each forked worker's random is reseeded
    assert rows(parent) == [{"_step": 0, "val_accuracy": pytest.approx(sum(folds) / 5)}]


@pytest.mark.compat
def test_cross_validation_under_a_runship_sweep_agent(work):
    """As the script is meant to run: a trial of a sweep (`runship sweep agent`),
    the folds grouped under the sweep's id, the trial's run the parent's. The
    folds' workers take wandb's sweep variables out of their environment, as
    the script does for wandb's agent: each fold is a run of its own, not the
    trial's run again."""
    from tests.compat.test_scripts import runship_cli

    shutil.copy(os.path.join(SCRIPTS, "cross_validation_mp.py"), work)
    (work / "sweep.yaml").write_text(
        "program: cross_validation_mp.py\nmethod: grid\nmetric: {name: val_accuracy, goal: maximize}\n"
        "parameters:\n  learning_rate: {values: [0.01]}\n"
    )
    runship_cli(work, "sweep", "create", "sweep.yaml", "--project", "cv", "--id", "cvs")
    out = runship_cli(work, "sweep", "agent", "cv/cvs")
    (folds,) = re.findall(r"^Folds' val_accuracy: \[(.*)\]$", out.stdout, re.M)
    folds = [float(v) for v in folds.split(", ")]
    runs = {r.id: r for r in runs_of(work, "cv")}
    assert len(runs) == 6
    assert rows(runs["cvs-0"]) == [{"_step": 0, "val_accuracy": pytest.approx(sum(folds) / 5)}]
    assert sorted(r.group for r in runs.values() if r.id != "cvs-0") == ["cvs"] * 5
