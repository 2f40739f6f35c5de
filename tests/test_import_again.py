"""``runship import tensorboard`` and ``runship import wandb --resume`` run
again over the same source: one run per source, and only what is new since
the last import added to it (nothing twice, nothing lost, no step repeated).

Event files are written by TensorBoard's own writer (left open between
imports where a test appends) or runship's (``runship.export``), imported
by real ``runship import`` processes and read back with ``runship.reader``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from runship.reader import open_run
from tests.conftest import RUNSHIP, child_env
from tests.hostile.test_importers import finish, import_wandb, offline_run


def _import(root, logdir, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUNSHIP, "--root", str(root), "import", "tensorboard", str(logdir), *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _ok(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert out.returncode == 0, (out.stdout, out.stderr)
    return out


def _runs(root, project: str) -> dict[str, object]:
    """{run name: RunView} of a project under ``root``."""
    views = [open_run(os.path.join(root, project, run_id), cache=False) for run_id in os.listdir(root / project)]
    assert len({v.name for v in views}) == len(views), [v.id for v in views]  # one run per source
    return {v.name: v for v in views}


def _rows(view) -> list[tuple[int, int, float]]:
    """(_step, global_step, loss) of each row."""
    return [(r["_step"], r["global_step"], r["loss"]) for r in view.scan_history()]


def _writer(logdir):
    """TensorBoard's own event file writer (torch.utils.tensorboard's):
    its flush() returns once the events are in the file."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    return EventFileWriter(str(logdir), flush_secs=3600)


def _event(step: int):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    value = summary_pb2.Summary.Value(tag="loss", simple_value=step * 0.25)
    return event_pb2.Event(step=step, wall_time=1.7e9 + step, summary=summary_pb2.Summary(value=[value]))


def _write(writer, steps) -> None:
    for step in steps:
        writer.add_event(_event(step))
    writer.flush()


def _expected(steps) -> list[tuple[int, int, float]]:
    return [(n, step, step * 0.25) for n, step in enumerate(steps)]


@pytest.mark.compat
def test_without_project_the_project_is_the_log_directory_name_made_valid(tmp_path):
    root = tmp_path / "runs"
    plain = tmp_path / "CartPole-v1__ppo__1"
    odd = tmp_path / ".ppo..runs\tv2 "
    for logdir in (plain, odd):
        w = _writer(logdir)
        _write(w, range(2))
        w.close()

    out = _ok(_import(root, plain))
    assert "CartPole-v1__ppo__1" in out.stderr, out.stderr  # says which project it used
    assert _rows(_runs(root, "CartPole-v1__ppo__1")["CartPole-v1__ppo__1"]) == _expected(range(2))

    out = _ok(_import(root, ".ppo..runs\tv2 ", cwd=tmp_path))  # relative: its name all the same
    assert "ppo.runs_v2" in out.stderr, out.stderr
    assert _rows(_runs(root, "ppo.runs_v2")[".ppo..runs\tv2 "]) == _expected(range(2))

    out = _ok(_import(root, plain, "--project", "mine"))  # --project still chooses
    assert sorted(os.listdir(root)) == ["CartPole-v1__ppo__1", "mine", "ppo.runs_v2"]


@pytest.mark.compat
def test_importing_the_same_logs_twice_leaves_one_run_with_the_same_rows(tmp_path):
    root, logdir = tmp_path / "runs", tmp_path / "logs"
    for sub in ("a", "b"):  # one run per directory of event files
        w = _writer(logdir / sub)
        _write(w, range(5))
        w.close()
    _ok(_import(root, logdir, "--project", "tb"))
    before = {name: (_rows(v), len(v.sessions)) for name, v in _runs(root, "tb").items()}
    assert before == {"a": (_expected(range(5)), 1), "b": (_expected(range(5)), 1)}

    out = _ok(_import(root, tmp_path / "." / "logs", "--project", "tb"))  # the same directory, named otherwise

    after = {name: (_rows(v), len(v.sessions)) for name, v in _runs(root, "tb").items()}
    assert after == before  # no run, row or session added
    assert "nothing new" in out.stdout, out.stdout


@pytest.mark.compat
def test_a_second_import_adds_only_the_events_written_since(tmp_path):
    root, logdir = tmp_path / "runs", tmp_path / "logs"
    live = _writer(logdir / "a")  # still open: its event file grows
    _write(live, range(5))
    other = _writer(logdir / "b")
    _write(other, range(3))
    other.close()
    _ok(_import(root, logdir, "--project", "tb"))

    _write(live, range(5, 8))  # records appended to the same event file
    live.close()
    restarted = _writer(logdir / "a")  # a restarted job: a new event file beside it
    _write(restarted, range(8, 10))
    restarted.close()
    out = _ok(_import(root, logdir, "--project", "tb"))

    runs = _runs(root, "tb")
    assert sorted(runs) == ["a", "b"]
    assert _rows(runs["a"]) == _expected(range(10))  # each step once, _step going on
    assert len(runs["a"].sessions) == 2
    assert _rows(runs["b"]) == _expected(range(3)) and len(runs["b"].sessions) == 1  # nothing new: untouched
    assert "5 rows added, 10 in all" in out.stdout, out.stdout


@pytest.mark.compat
def test_an_event_file_being_written_is_read_to_its_last_whole_record_then_the_rest(tmp_path):
    scratch, logdir, root = tmp_path / "scratch", tmp_path / "logs", tmp_path / "runs"
    w = _writer(scratch)
    _write(w, range(6))
    w.close()
    (path,) = scratch.iterdir()
    data = path.read_bytes()
    logdir.mkdir()
    torn = logdir / path.name
    torn.write_bytes(data[:-7])  # the last event's record cut short, as a writer leaves it mid-write

    _ok(_import(root, logdir, "--project", "tb"))
    (view,) = _runs(root, "tb").values()
    assert _rows(view) == _expected(range(5))

    with open(torn, "ab") as f:
        f.write(data[-7:])
    _ok(_import(root, logdir, "--project", "tb"))
    (view,) = _runs(root, "tb").values()
    assert _rows(view) == _expected(range(6))


@pytest.mark.compat
def test_a_second_import_while_one_runs_or_over_a_run_it_did_not_make_is_refused(tmp_path):
    import fcntl

    import runship
    from runship.integration.tensorboard_import import run_id_of

    root, logdir = tmp_path / "runs", tmp_path / "logs"
    w = _writer(logdir)
    _write(w, range(3))
    w.close()
    fd = os.open(logdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as an import still running holds it
        out = _import(root, logdir, "--project", "tb")
    finally:
        os.close(fd)
    assert out.returncode == 1 and "another import" in out.stderr and str(logdir) in out.stderr, out.stderr
    assert not (root / "tb").exists()

    other = runship.init(dir=str(root), project="tb", id=run_id_of(os.path.realpath(logdir)), settings={"quiet": True})
    other.log({"mine": 1.0})
    other.finish()
    out = _import(root, logdir, "--project", "tb")
    assert out.returncode == 1 and "not appended to" in out.stderr, out.stderr
    assert [r["mine"] for r in open_run(os.path.join(root, "tb", other.id), cache=False).scan_history()] == [1.0]

    # an _import record naming this source but not as an import writes it: refused all the same
    other = runship.init(dir=str(root), project="tb", id=other.id, resume="must", settings={"quiet": True})
    other.summary["_import"] = {"source": os.path.realpath(logdir), "rows": 1, "files": {"x": "far"}}
    other.finish()
    out = _import(root, logdir, "--project", "tb")
    assert out.returncode == 1 and "not appended to" in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.compat
def test_an_import_killed_midway_is_taken_up_without_a_row_twice(tmp_path):
    """SIGKILL while rows are being written: the rows the killed import
    wrote after its last record of how far it had read are not written again."""
    from runship import safefile
    from runship.export.tensorboard import EventFile
    from runship.integration.tensorboard_import import run_id_of

    root, logdir, n = tmp_path / "runs", tmp_path / "logs", 150_000
    logdir.mkdir()
    fd = safefile.open_dir(str(logdir))
    try:  # ten files, read one after another: most of the import's time is after rows are in the run
        for part in range(10):
            out = EventFile(fd, 10 + part)  # the project's own event file writer (runship export --to tensorboard:)
            for step in range(part * n // 10, (part + 1) * n // 10):
                out.write_event(_event(step))
            out.close()
    finally:
        os.close(fd)
    run_dir = root / "tb" / run_id_of(os.path.realpath(logdir))
    proc = subprocess.Popen(
        [*RUNSHIP, "--root", str(root), "import", "tensorboard", str(logdir), "--project", "tb"],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:  # the import runs in slices of 5 ms and is stopped while looked at: how far it gets
        deadline = time.monotonic() + 300  # before the kill does not depend on how fast either side is
        while True:
            proc.send_signal(signal.SIGSTOP)
            if run_dir.is_dir() and open_run(run_dir, cache=False).next_step > 0:
                break
            assert proc.poll() is None and time.monotonic() < deadline, "no row written"
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait()
    killed = open_run(run_dir, cache=False)
    assert 0 < killed.next_step < n and killed.state != "finished"  # killed while writing rows

    _ok(_import(root, logdir, "--project", "tb"))

    view = open_run(run_dir, cache=False)
    got = [(r["_step"], r["global_step"]) for r in view.scan_history(keys=["global_step"])]
    assert got == [(step, step) for step in range(n)]


def test_a_directory_name_becomes_a_valid_project_name():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from runship.schema import names

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=300))
    def check(value):
        got = names.safe_id(value, "tensorboard")
        assert names.check_id(got, "project") == got
        if value.isalnum() and len(value) <= names.MAX_NAME_LEN:
            assert got == value  # a name that is valid already stays

    check()


# ---- runship import wandb: the same run, only its new rows ------------------------------------
def _wandb_rows(root, run: str) -> list[tuple[int, float]]:
    view = open_run(os.path.join(root, run), cache=False)
    return [(r["_step"], r["loss"]) for r in view.scan_history()]


def test_importing_a_wandb_offline_run_again_with_resume_adds_only_its_new_rows(tmp_path):
    run_dir, log = offline_run(tmp_path, "again", rows=3)
    finish(run_dir, log, "again")
    root = tmp_path / "runs"
    _ok(import_wandb(root, run_dir))

    out = import_wandb(root, run_dir, "--resume")  # nothing new

    assert out.returncode == 0, out.stderr
    assert "nothing new" in out.stdout, out.stdout
    assert _wandb_rows(root, "wb/again") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert len(open_run(os.path.join(root, "wb", "again"), cache=False).sessions) == 1

    # the offline run went on (wandb sync of a live run): its log holds the old rows and new ones
    shutil.rmtree(run_dir)
    run_dir, log = offline_run(tmp_path, "again", rows=5)
    finish(run_dir, log, "again")
    out = import_wandb(root, run_dir, "--resume")

    assert out.returncode == 0, out.stderr
    assert "log() to step" not in out.stderr, out.stderr
    assert _wandb_rows(root, "wb/again") == [(n, float(n)) for n in range(5)]
