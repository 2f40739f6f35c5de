"""`runship export --to parquet:DEST`: what pyarrow reads back equals the
reader's history; a second export writes only the new rows; an export
killed midway, then run again, leaves what one clean export leaves; the
destination may be an object store (moto's S3 on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pyarrow.parquet as pq
import pytest

import runship
from tests.conftest import RUNSHIP, child_env
from tests.servers import S3_ENV

SETTINGS = {"quiet": True, "environment": False, "console": "off", "system_metrics": False}


def make(root, run_id, rows, start=0, resume=None, config=None):
    run = runship.init(
        project="p", id=run_id, dir=str(root), settings=SETTINGS, reinit="create_new", resume=resume, config=config
    )
    for i in range(start, start + rows):
        row = {"loss": 1.0 / (1 + i), "i": i}
        if i % 7 == 0:
            row["val/acc"] = i / 1000
        if i % 50 == 0:
            row["note"] = f"row {i}"
        run.log(row)
    run.summary["best"] = 0.5
    run.finish()
    return run.run_dir


def export(sources, dest, state, *global_args, env=None, check=True):
    out = subprocess.run(
        [*RUNSHIP, *global_args, "export", *map(str, sources), "--to", f"parquet:{dest}", "--state", str(state)],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def read_history(fs_root, run_id, fs=None):
    """Every part of a run's exported history, in row order, as rows without the absent keys."""
    import fsspec

    fs = fs or fsspec.filesystem("file")
    where = f"{fs_root}/p/history/run_id={run_id}"
    parts = sorted(fs.ls(where, detail=False))
    rows = []
    for part in parts:
        with fs.open(part, "rb") as f:
            rows += pq.read_table(f).to_pylist()
    return [{k: v for k, v in r.items() if v is not None} for r in rows], [os.path.basename(p) for p in parts]


def expected(run_dir):
    return runship.open_run(run_dir).history()


def same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.keys() == w.keys(), (g, w)
        for k in g:
            assert g[k] == w[k] or (isinstance(w[k], float) and g[k] == pytest.approx(w[k])), (k, g[k], w[k])


def test_export_reads_back_equal_to_the_history_and_a_second_export_sends_only_new_rows(tmp_path):
    root, dest, state = tmp_path / "runs", tmp_path / "lake", tmp_path / "state"
    run_dir = make(root, "r1", 300, config={"lr": 0.1, "model": {"width": 64}})
    make(root, "r2", 20)
    first = export([root], dest, state)
    assert "2 run(s) with new rows" in first.stdout
    got, parts = read_history(dest, "r1")
    same(got, expected(run_dir))
    assert parts == ["part-000000000000-000000000300.parquet"]
    # the run grows (resumed in a new session); the next export writes one part of the new rows only
    make(root, "r1", 100, start=300, resume="must")
    second = export([root], dest, state)
    assert "1 run(s) with new rows" in second.stdout and "p/r1: 100 new rows (400 in all)" in second.stderr
    got, parts = read_history(dest, "r1")
    same(got, expected(run_dir))
    assert parts == ["part-000000000000-000000000300.parquet", "part-000000000300-000000000400.parquet"]
    assert "0 run(s) with new rows" in export([root], dest, state).stdout  # nothing new: nothing written
    runs = {r["id"]: r for r in pq.read_table(dest / "p" / "runs.parquet").to_pylist()}
    assert runs["r1"]["config.lr"] == 0.1 and runs["r1"]["config.model.width"] == 64
    assert runs["r1"]["state"] == "finished" and runs["r1"]["summary.best"] == 0.5
    assert json.loads(runs["r2"]["tags"]) == [] and runs["r2"]["steps"] == 20


def test_an_export_killed_midway_then_run_again_equals_one_clean_export(tmp_path):
    root, state = tmp_path / "runs", tmp_path / "state"
    run_dirs = [make(root, f"k{n}", 3000) for n in range(6)]
    # a part a killed export wrote past what the state knows: removed, written again
    export([run_dirs[0]], tmp_path / "lake", state)
    make(root, "k0", 50, start=3000, resume="must")
    stray = tmp_path / "lake" / "p" / "history" / "run_id=k0" / "part-000000003000-000000003020.parquet"
    stray.write_bytes(b"half of a killed export")
    # a real SIGKILL of an export at some moment, then the export again
    proc = subprocess.Popen(
        [*RUNSHIP, "export", str(root), "--to", f"parquet:{tmp_path / 'lake'}", "--state", str(state)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    export([root], tmp_path / "lake", state)
    export([root], tmp_path / "clean", tmp_path / "state2")
    for n, run_dir in enumerate(run_dirs):
        got, parts = read_history(tmp_path / "lake", f"k{n}")
        clean, _ = read_history(tmp_path / "clean", f"k{n}")
        same(got, expected(run_dir))
        assert got == clean
        assert all(p.startswith("part-") for p in parts)
    assert not stray.exists() or stray.read_bytes() != b"half of a killed export"


def test_export_to_an_object_store(tmp_path, moto):
    import fsspec

    moto.create_bucket("lake")
    root, state = tmp_path / "runs", tmp_path / "state"
    run_dir = make(root, "s1", 120)
    env = {**S3_ENV}
    out = export([root], "s3://lake/runship", state, "-o", f"endpoint_url={moto.endpoint}", env=env)
    assert "1 run(s) with new rows" in out.stdout
    fs = fsspec.filesystem(
        "s3", endpoint_url=moto.endpoint, key=S3_ENV["AWS_ACCESS_KEY_ID"], secret=S3_ENV["AWS_SECRET_ACCESS_KEY"]
    )
    got, _ = read_history("lake/runship", "s1", fs=fs)
    same(got, expected(run_dir))


def test_a_bad_destination_is_named(tmp_path):
    out = subprocess.run(
        [*RUNSHIP, "export", str(tmp_path), "--to", "excel:/tmp/x"], env=child_env(), capture_output=True, text=True
    )
    assert out.returncode != 0 and "KIND:DEST, KIND one of parquet" in out.stderr


def test_one_run_that_cannot_be_exported_stops_no_other_and_the_exit_code_says_so(tmp_path):
    root, dest, state = tmp_path / "runs", tmp_path / "lake", tmp_path / "state"
    good = make(root, "good", 10)
    bad = make(root, "bad", 10)
    # the destination of one run cannot be written: a file where its directory must go
    (dest / "p" / "history").mkdir(parents=True)
    (dest / "p" / "history" / "run_id=bad").write_text("in the way")
    out = export([root], dest, state, check=False)
    assert out.returncode == 1
    assert "p/bad: not exported" in out.stderr and "1 failed" in out.stdout
    same(read_history(dest, "good")[0], expected(good))
    (dest / "p" / "history" / "run_id=bad").unlink()
    again = export([root], dest, state)  # the next export puts it right
    same(read_history(dest, "bad")[0], expected(bad))
    assert "p/bad: 10 new rows" in again.stderr


def test_since_and_watch(tmp_path):
    root, dest, state = tmp_path / "runs", tmp_path / "lake", tmp_path / "state"
    make(root, "old", 5)
    future = subprocess.run(
        [*RUNSHIP, "export", str(root), "--to", f"parquet:{dest}", "--state", str(state), "--since", "2999-01-01"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert future.returncode == 0 and "0 run(s) with new rows" in future.stdout
    assert not (dest / "p" / "history").exists()
    watch = subprocess.Popen(
        [
            *RUNSHIP,
            "export",
            str(root),
            "--to",
            f"parquet:{dest}",
            "--state",
            str(state),
            "--since",
            "1h",
            "--watch",
            "--interval",
            "1",
        ],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (dest / "p" / "history" / "run_id=old").exists():
            time.sleep(0.2)
        new = make(root, "new", 7)  # logged while the export watches
        while time.time() < deadline and not (dest / "p" / "history" / "run_id=new").exists():
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    same(read_history(dest, "new")[0], expected(new))
    bad = subprocess.run(
        [*RUNSHIP, "export", str(root), "--to", f"parquet:{dest}", "--since", "yesterday-ish"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "--since 'yesterday-ish': give a date" in bad.stderr
