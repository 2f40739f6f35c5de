"""``runship upload --once`` right after a job: the run's files/ (saved
files, media) go up in the same pass when the run is over; for a live run,
files still settling are named, the run is not complete and the pass exits 75."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import RUNSHIP, child_env, popen_python, run_python, upload_cmd


def _status(root, to, state) -> dict:
    out = subprocess.run(
        [*RUNSHIP, "status", str(root), "--to", to, "--state", str(state), "--json"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return {r["id"]: r for r in map(json.loads, out.stdout.splitlines())}


def _local_files(run_dir) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(run_dir / "files"):
        for n in names:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, run_dir)] = open(p, "rb").read()
    return out


def test_once_right_after_a_finished_job_ships_every_file(tmp_path):
    root = tmp_path / "runs"
    work = tmp_path / "work"
    work.mkdir()
    code = f"""
        import os, runship
        import numpy as np
        os.chdir({str(work)!r})
        run = runship.init(project="p", id="job", dir={str(root)!r}, settings={{"quiet": True, "console": "off", "environment": False}})
        for i in range(5):
            run.log({{"loss": 1.0 / (i + 1)}})
        with open("model.ckpt", "wb") as f:
            f.write(os.urandom(200_000))
        run.save("model.ckpt", policy="now")
        run.log({{"sample": runship.Image(np.zeros((16, 16, 3), dtype=np.uint8))}})
        run.finish()
        """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    to = f"file://{tmp_path / 'remote'}"
    state = tmp_path / "state"
    up = upload_cmd([root], to, state, "--once")  # at once: the files are seconds old
    assert up.returncode == 0, up.stderr
    run_dir = root / "p" / "job"
    local = _local_files(run_dir)
    assert "files/model.ckpt" in local and any(k.startswith("files/media/") for k in local), local.keys()
    remote_dir = tmp_path / "remote" / "p" / "job"
    for rel, data in local.items():
        assert (remote_dir / rel).exists(), f"{rel} left behind; upload said: {up.stderr}"
        assert (remote_dir / rel).read_bytes() == data
    row = _status(root, to, state)["job"]
    assert row["complete"] and row["upload"] == "complete", row


def test_once_on_a_live_run_with_a_settling_file_exits_75_and_says_what_waits(tmp_path):
    root = tmp_path / "runs"
    work = tmp_path / "work"
    work.mkdir()
    go = tmp_path / "go"
    code = f"""
        import os, sys, time, runship
        os.chdir({str(work)!r})
        run = runship.init(project="p", id="live", dir={str(root)!r}, settings={{"quiet": True, "console": "off", "environment": False}})
        run.log({{"loss": 1.0}})
        with open("notes.txt", "w") as f:
            f.write("epoch 1")
        run.save("notes.txt", policy="now")
        run.flush()
        print("saved", flush=True)
        saved = os.path.join(run.run_dir, "files", "notes.txt")
        while not os.path.exists({str(go)!r}):  # still being written until the test says finish
            os.utime(saved)
            time.sleep(0.05)
        run.finish()
        """
    child = popen_python(code)
    try:
        assert child.stdout.readline().strip() == "saved", child.stderr.read()
        to = f"file://{tmp_path / 'remote'}"
        state = tmp_path / "state"
        up = upload_cmd([root], to, state, "--once")
        assert up.returncode == 75, (up.returncode, up.stderr)
        assert "files/notes.txt" in up.stderr and "waiting" in up.stderr, up.stderr
        row = _status(root, to, state)["live"]
        assert not row["complete"] and "1 file waiting" in row["upload"], row
        assert not (tmp_path / "remote" / "p" / "live" / "files" / "notes.txt").exists()
        go.touch()
        assert child.wait(60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # the run has finished: its files are final, whatever their age
    again = upload_cmd([root], to, state, "--once")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "remote" / "p" / "live" / "files" / "notes.txt").read_text() == "epoch 1"
    row = _status(root, to, state)["live"]
    assert row["complete"] and row["upload"] == "complete", row
