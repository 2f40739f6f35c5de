"""Disk faults never reach training: a deleted directory, permission denied
mid-run, rotation and heartbeats. (A full disk and a stalled disk, with
measured memory: tests/reliability/test_resources.py.)"""

from __future__ import annotations

import os
import shutil

import runship
from tests.conftest import run_python
from tests.plain import records, rows, stream_files


def test_deleted_run_directory_never_raises(make_run, capsys):
    run = make_run(id="gone", settings={"quiet": False})
    run.log({"a": 1})
    run.flush()
    shutil.rmtree(run.run_dir)
    for i in range(100):
        run.log({"a": i})
    run.flush()
    run.log({"a": 101})
    run.finish(quiet=True)
    err = capsys.readouterr().err
    assert "deleted" in err or "No such file" in err
    assert "records could not be written" in err
    assert not os.path.exists(run.run_dir)  # not silently recreated


def test_permission_denied_mid_run():
    import pathlib
    import tempfile

    base = pathlib.Path(tempfile.mkdtemp(prefix="runship-perm-"))  # not under pytest's 0700 tree
    os.chmod(base, 0o755)
    root = base / "runs"
    root.mkdir()
    drop = ""
    if os.geteuid() == 0:  # root ignores permissions: run the child as nobody
        os.chown(root, 65534, 65534)
        drop = "os.setgid(65534); os.setuid(65534)"
    try:
        _permission_denied_child(root, drop)
    finally:
        for d, _, _ in os.walk(base):
            os.chmod(d, 0o755)
        shutil.rmtree(base)


def _permission_denied_child(root, drop):
    out = run_python(
        f"""
        import os, runship
        import runship.writer.files  # everything imported before the privileges go (the checkout may be 0700)
        {drop}
        run = runship.init(project="p", id="ro", dir={str(root)!r},
                           settings={{"rotate_bytes": 2000, "system_metrics": False, "console": "off", "environment": False}})
        for i in range(50):
            run.log({{"i": i}})
        run.flush()
        os.chmod(run.run_dir, 0o555)
        for i in range(50, 500):
            run.log({{"i": i, "pad": "y" * 30}})
            run.flush()
        run.finish()
        print("TRAINING DONE")
        """
    )
    assert out.returncode == 0, out.stderr
    assert "TRAINING DONE" in out.stdout
    assert out.stderr.count(".msgpack: Permission denied") == 1  # once, not per batch
    assert "records could not be written" in out.stderr
    got = [d["i"] for _, d in rows(str(root / "p" / "ro"))]
    assert got[:50] == list(range(50)) and got == sorted(got)


def test_segments_rotate_and_read_in_order(make_run):
    run = make_run(id="rot", settings={"rotate_bytes": 4096, "flush_interval": 0.01})
    for i in range(3000):
        run.log({"i": i})
        if i % 200 == 0:
            run.flush()
    run.finish()
    files = stream_files(run.run_dir)
    assert len(files) > 3
    assert all(os.path.getsize(f) < 4096 + 8192 for f in files[:-1])
    assert [d["i"] for _, d in rows(run.run_dir)] == list(range(3000))
    assert [h["i"] for h in runship.open_run(run.run_dir).history()] == list(range(3000))
    # every segment starts with its own header
    import msgpack

    for seg, path in enumerate(files):
        with open(path, "rb") as f:
            header = next(msgpack.Unpacker(f, raw=False))
        assert header["k"] == "header" and header["segment"] == seg and header["run"] == "rot"


def test_heartbeat_marks_a_live_run(make_run):
    run = make_run(id="hb", settings={"heartbeat_interval": 0.05, "flush_interval": 0.01})
    run.log({"a": 1})
    import time

    deadline = time.time() + 10
    while time.time() < deadline and not records(run.run_dir, "heartbeat"):
        time.sleep(0.02)
    assert records(run.run_dir, "heartbeat")
    assert runship.open_run(run.run_dir).state == "running"
    run._forked()  # stop writing without a finish record, as a dead process would
    assert runship.open_run(run.run_dir, stale_after=0.0).state == "crashed"
