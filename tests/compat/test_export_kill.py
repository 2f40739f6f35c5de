"""Every export kind, killed midway and run again, ends equal to one clean
export: exports, logs more, exports again, kills exports at several
points while they write (SIGKILL, the export's whole process), exports
once more, and compares what its real reader reads with a single export
of the same run to a fresh destination."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import runship
from tests.compat.test_scripts import _env, runship_cli


def _log(root, start, count, resume):
    run = runship.init(
        project="kill",
        id="k1",
        dir=str(root),
        settings={"quiet": True, "environment": False, "console": "off", "system_metrics": False},
        config={"lr": 0.1},
        resume=resume,
        reinit="create_new",
    )
    for i in range(start, start + count):
        run.log({"loss": 1.0 / (1 + i), "acc": i / 1e5, **({"lr": 0.1 * 0.99**i} if i % 10 == 0 else {})})
    run.finish()
    return run.run_dir


def _target(kind, dest):
    return {
        "parquet": f"parquet:{dest}",
        "tensorboard": f"tensorboard:{dest}",
        "mlflow": f"mlflow:sqlite:///{dest}.db",
        "wandb": "wandb:team/kill",
    }[kind]


def _cmd(kind, root, dest, state):
    cmd = ["export", str(root), "--to", _target(kind, dest), "--state", str(state)]
    return cmd + (["--offline"] if kind == "wandb" else [])


def _env_for(work, dest):
    os.makedirs(dest, exist_ok=True)
    return {**_env(work), "WANDB_DIR": str(dest), "WANDB_SILENT": "true", "MLFLOW_TRACKING_URI": ""}


def _snapshot(kind, dest):
    """Names, sizes and times of what is in the destination (to see an export's first write)."""
    where = [f"{dest}.db", f"{dest}.db-journal", f"{dest}.db-wal"] if kind == "mlflow" else []
    for base, dirs, files in os.walk(dest):
        where += [os.path.join(base, n) for n in dirs + files]
    out = []
    for path in where:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        out.append((path, st.st_size, st.st_mtime_ns))
    return sorted(out)


def _read(kind, dest):
    """What the destination holds, as its own reader reads it: sorted (step, key, value, time) points."""
    if kind == "parquet":
        import pyarrow.dataset as ds

        files = sorted(glob.glob(os.path.join(dest, "kill", "history", "run_id=k1", "*.parquet")))
        table = ds.dataset(files, format="parquet").to_table()
        out = []
        for r in table.to_pylist():
            out += [(r["_step"], k, r[k], r["_timestamp"]) for k in ("loss", "acc", "lr") if r.get(k) is not None]
        return sorted(out)
    if kind == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(os.path.join(dest, "kill", "k1"), size_guidance={"scalars": 0})
        acc.Reload()
        return sorted((e.step, k, e.value, e.wall_time) for k in ("loss", "acc", "lr") for e in acc.Scalars(k))
    if kind == "mlflow":
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{dest}.db")
        (mr,) = client.search_runs([client.get_experiment_by_name("kill").experiment_id])
        return sorted(
            (m.step, k, m.value, m.timestamp)
            for k in ("loss", "acc", "lr")
            for m in client.get_metric_history(mr.info.run_id, k)
        )
    from tests.compat.wandb_log import read_log

    out = []
    for path in glob.glob(os.path.join(dest, "wandb", "offline-run-*", "run-*.wandb")):
        for r in read_log(path)["history"]:
            out += [(r["_step"], k, r[k]) for k in ("loss", "acc", "lr") if k in r]
    return sorted(out)


@pytest.mark.compat
@pytest.mark.parametrize("kind", ["parquet", "tensorboard", "mlflow", "wandb"])
def test_an_export_killed_midway_then_run_again_equals_one_clean_export(tmp_path, kind):
    work, root = tmp_path, tmp_path / "runs"
    dest, state = tmp_path / "dest", tmp_path / "state"
    env = _env_for(work, dest)
    run_dir = _log(root, 0, 300, None)
    runship_cli(work, *_cmd(kind, root, dest, state), env=env)
    _log(root, 300, 200, "must")
    runship_cli(work, *_cmd(kind, root, dest, state), env=env)
    killed_while_writing = 0
    start = 500
    for delay in (0.0, 0.02, 0.1, 0.3):  # after the export's first write to the destination
        count = 5000 if kind in ("parquet", "tensorboard") else 2000
        _log(root, start, count, "must")
        start += count
        proc = subprocess.Popen(
            [sys.executable, "-m", "runship.cli", *_cmd(kind, root, dest, state)],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = _snapshot(kind, dest)
        deadline = time.time() + 60
        while _snapshot(kind, dest) == before and proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        if proc.poll() is None:
            killed_while_writing += 1
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert killed_while_writing >= 2  # the kills landed while exports ran, not after
    # killed in the narrowest window: after the destination was written, before the state was
    _log(root, start, 1000, "must")
    start += 1000
    shutil.copytree(state, tmp_path / "state-before")
    runship_cli(work, *_cmd(kind, root, dest, state), env=env)
    shutil.rmtree(state)
    shutil.copytree(tmp_path / "state-before", state)
    _log(root, start, 500, "must")
    start += 500
    runship_cli(work, *_cmd(kind, root, dest, state), env=env)
    runship_cli(work, *_cmd(kind, root, dest, state), env=env)  # nothing new: nothing written

    clean, clean_state = tmp_path / "clean", tmp_path / "clean-state"
    runship_cli(work, *_cmd(kind, root, clean, clean_state), env=_env_for(work, clean))
    got, want = _read(kind, str(dest)), _read(kind, str(clean))
    assert got == want  # every point once: none lost, none twice
    history = runship.open_run(run_dir).history()
    assert len([p for p in got if p[1] == "loss"]) == len(history) == start
    if kind == "wandb":  # nothing of a killed replay where `wandb sync` looks, no staging left behind
        assert not glob.glob(os.path.join(dest, ".runship-export-*"))
