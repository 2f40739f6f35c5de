"""Disk faults never reach training: full disk, deleted directory, permission
denied, a stalled disk with the drop and wait policies."""

from __future__ import annotations

import os
import shutil
import threading

from click.testing import CliRunner

import runship
from runship.cli import cli
from tests.conftest import run_python
from tests.plain import records, rows, stream_files


def test_full_disk_training_goes_on_and_loss_is_counted(root):
    # RLIMIT_FSIZE makes every write past 3 kB fail with EFBIG, as a full disk
    # fails with ENOSPC: each batch of 100 rows (7 kB) fails, and fails again
    # when retried in a new segment. Then space is "freed" (limit lifted).
    out = run_python(
        f"""
        import resource, signal, runship
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, resource.RLIM_INFINITY))
        run = runship.init(project="p", id="full", dir={root!r}, settings={{"flush_interval": 0.01}})
        for i in range(2000):
            if i == 1000:
                resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            run.log({{"i": i, "pad": "x" * 40}})
            if i % 100 == 0:
                run.flush()
        run.finish()
        print("TRAINING DONE")
        """
    )
    assert out.returncode == 0, out.stderr
    assert "TRAINING DONE" in out.stdout
    assert out.stderr.count("cannot write") == 1  # reported once
    assert "records could not be written" in out.stderr
    run_dir = os.path.join(root, "p", "full")
    got = [d["i"] for _, d in rows(run_dir)]
    assert got == sorted(got) and len(set(got)) == len(got)  # no duplicate, no garbage
    lost = sum(r.get("lost", 0) for r in records(run_dir, "loss"))
    view = runship.open_run(run_dir)
    assert view.lost == lost > 0
    assert lost >= 800 and got[0] == 0 and got[-1] == 1999
    assert len(got) + lost == 2000  # every row is either readable or counted as lost
    assert len(stream_files(run_dir)) > 1
    # a failed batch is tried once more in a new segment: the finish record made it
    assert view.state == "finished" and records(run_dir, "finish")[0]["lost"] == lost
    shown = CliRunner().invoke(cli, ["show", run_dir])
    assert f"{lost} records could not be written" in shown.output


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


def _stall(run):
    """Hold the writer's I/O lock: the writer thread blocks as on a stalled disk."""
    run._writer._io.acquire()
    return run._writer._io.release


def test_drop_policy_bounds_memory_and_records_the_count(make_run):
    run = make_run(
        id="drop",
        settings={"on_buffer_full": "drop", "max_buffer_bytes": 20_000, "flush_interval": 0.01},
    )
    release = _stall(run)
    for i in range(2000):
        run.log({"i": i, "pad": "z" * 50})  # never blocks
    st = run._run_stream
    assert st._queued - st._taken <= 20_000 + 200
    dropped = st.dropped_records
    assert dropped > 1500
    release()
    run.finish()
    got = [d["i"] for _, d in rows(run.run_dir)]
    assert len(got) + dropped == 2000
    view = runship.open_run(run.run_dir)
    assert view.dropped == dropped
    assert records(run.run_dir, "finish")[0]["dropped"] == dropped


def test_wait_policy_blocks_then_loses_nothing(make_run):
    run = make_run(id="wait", settings={"max_buffer_bytes": 20_000, "flush_interval": 0.01})
    release = _stall(run)
    done = threading.Event()

    def train():
        for i in range(2000):
            run.log({"i": i, "pad": "z" * 50})
        done.set()

    t = threading.Thread(target=train)
    t.start()
    assert not done.wait(0.5)  # log() waits for the disk
    release()
    assert done.wait(30)
    t.join()
    run.finish()
    assert [d["i"] for _, d in rows(run.run_dir)] == list(range(2000))
    assert runship.open_run(run.run_dir).dropped == 0


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
