"""Resource faults in the writer: a full disk, a stalled disk with the wait
and drop policies, measured memory. Training never sees an exception."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

from click.testing import CliRunner

import runship
from runship.cli import cli
from tests.conftest import run_python
from tests.plain import records, rows


def _mount_tmpfs(size: str) -> str | None:
    """A small tmpfs (a real full disk), where this machine lets us mount one."""
    where = tempfile.mkdtemp(prefix="runship-tmpfs-")
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", where], capture_output=True)
    if out.returncode != 0:
        os.rmdir(where)
        return None
    return where


def test_full_disk_then_space_freed(tmp_path):
    mnt = _mount_tmpfs("512k")
    try:
        if mnt is not None:  # ENOSPC from a real filesystem
            root = os.path.join(mnt, "runs")
            filler = os.path.join(mnt, "filler")
            prelude = f"open({filler!r}, 'wb').write(b'f' * 380_000)"
            free = f"os.remove({filler!r})"
        else:  # no mount here: RLIMIT_FSIZE gives EFBIG the same way
            root = str(tmp_path / "runs")
            prelude = "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, resource.RLIM_INFINITY))"
            free = "resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))"
        out = run_python(
            f"""
            import os, runship
            {prelude}
            run = runship.init(project="p", id="full", dir={root!r}, settings={{"flush_interval": 0.02}})
            for i in range(3000):
                run.log({{"i": i, "pad": "x" * 100}})
                if i % 50 == 0:
                    run.flush()
            {free}
            for i in range(3000, 3100):
                run.log({{"i": i, "pad": "x" * 100}})
            run.finish()
            print("TRAINING DONE")
            """
        )
        assert out.returncode == 0, out.stderr
        assert "TRAINING DONE" in out.stdout and "Traceback" not in out.stderr
        assert out.stderr.count("cannot write") == 1
        run_dir = os.path.join(root, "p", "full")
        got = [d["i"] for _, d in rows(run_dir)]
        lost = sum(r.get("lost", 0) for r in records(run_dir, "loss"))
        # every row missing was counted lost; the count may hold a record or two of another kind
        # written while the disk was full (a heartbeat), never fewer than the rows missing
        assert lost > 0 and 3100 <= len(got) + lost <= 3103 and got == sorted(set(got))
        assert got[-1] == 3099  # after space came back, everything was written
        view = runship.open_run(run_dir)
        assert view.state == "finished" and view.lost == lost
        shown = CliRunner().invoke(cli, ["show", run_dir]).output
        assert f"{lost} records could not be written" in shown
    finally:
        if mnt is not None:
            subprocess.run(["umount", mnt])
            os.rmdir(mnt)


STALL = """
import json, os, resource, threading, time, runship
run = runship.init(project="p", id="stall", dir={root!r},
                   settings={{"quiet": True, "max_buffer_bytes": 4_000_000, "on_buffer_full": {policy!r}, "flush_interval": 0.05}})
row = {{f"metric_{{k}}": 0.5 for k in range({keys})}}
for i in range(1000 if {keys} == 10 else 10):
    run.log(row)
run.flush()
def hwm():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
base = hwm()
io = run._writer._io
io.acquire()  # the writer thread now blocks as on a write that does not return
released = threading.Event()
lock_held = []
def release():
    lock_held.append(run._lock.locked())  # log() waits for room without the stream's lock
    released.set()
    io.release()
if {policy!r} == "wait":
    threading.Timer(1.0, release).start()  # the disk comes back after a while
for i in range({count}):  # ~40 MB of rows while the disk stalls
    run.log(row)
during = released.is_set()  # False: every log() returned while the disk was still stalled
if not released.is_set():
    release()
peak = hwm()
run.finish()
print(json.dumps({{"rss_growth_kib": peak - base, "returned_while_stalled": not during,
                  "dropped": run._run_stream.dropped_records, "lock_held_while_waiting": lock_held[:1] == [True]}}))
"""


def _stall(tmp_path, policy, keys=10, count=200_000):
    code = STALL.format(root=str(tmp_path / "runs"), policy=policy, keys=keys, count=count)
    out = run_python(code, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), str(tmp_path / "runs" / "p" / "stall")


def test_stalled_disk_drop_policy_bounds_memory(tmp_path):
    result, run_dir = _stall(tmp_path, "drop")
    assert result["rss_growth_kib"] < 4_000 + 16_000  # the 4 MB bound, plus interpreter slack
    assert result["returned_while_stalled"]  # log() never waited for the disk: it dropped
    dropped = result["dropped"]
    got = rows(run_dir)
    assert dropped > 100_000 and len(got) + dropped == 201_000
    view = runship.open_run(run_dir)
    assert view.dropped == dropped and view.state == "finished"
    assert f"{dropped} were dropped" in CliRunner().invoke(cli, ["show", run_dir]).output


def test_stalled_disk_wait_policy_loses_nothing(tmp_path):
    result, run_dir = _stall(tmp_path, "wait")
    assert result["rss_growth_kib"] < 4_000 + 16_000
    assert not result["returned_while_stalled"]  # log() waited for the disk to come back, then went on
    assert not result["lock_held_while_waiting"]  # so the writer thread can take it meanwhile
    assert result["dropped"] == 0
    assert len(rows(run_dir)) == 201_000


def test_stalled_disk_bounds_rows_too_wide_for_a_block(tmp_path):
    """Rows of 3,000 keys are row records of their own: the buffer bounds them too."""
    result, run_dir = _stall(tmp_path, "drop", keys=3000, count=2000)  # ~60 MB of rows
    assert result["rss_growth_kib"] < 4_000 + 16_000
    assert result["dropped"] > 1000 and len(rows(run_dir)) + result["dropped"] == 2010
