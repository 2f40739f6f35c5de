"""Exporters write only inside ``--to``: a run directory is input, and the
project and run named by its stream header are names from it. A header
whose names fail the name validator, or disagree with the directory the
run is in, is reported and the run skipped (the export's status says so);
what an exporter writes, it writes below its destination without
following a link planted there, and it deletes only files of its own.

Each test runs ``runship export`` (and ``show``/``verify``) as a real
subprocess over hand-made run directories (``tests/hostile/craft.py``)
in ``tmp_path``. The TensorBoard tests need tensorboardX (the compat-test
extra): they are marked ``compat``."""

from __future__ import annotations

import os
import subprocess

import pytest

from runship.schema import format as fmt
from tests.conftest import RUNSHIP, child_env
from tests.hostile.craft import SESSION, committed, row, start

ROWS = [[start(), row(0, {"loss": 1.0}, n=1), row(1, {"loss": 0.5}, n=2)]]
KINDS = ["parquet", pytest.param("tensorboard", marks=pytest.mark.compat)]


def env() -> dict:
    """A child's environment: this checkout first, then whatever the test
    process itself imports from (where tensorboardX may be)."""
    extra = os.environ.get("PYTHONPATH", "")
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env["PYTHONPATH"], extra) if p)
    return env


def runship_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RUNSHIP, *args], env=env(), capture_output=True, text=True, timeout=300)


def export(sources, kind: str, dest, state) -> subprocess.CompletedProcess:
    return runship_cmd("export", *map(str, sources), "--to", f"{kind}:{dest}", "--state", str(state))


def crafted_run(root, header_project: str, header_run: str, project: str = "p", run: str = "r") -> str:
    """A run directory ``root/project/run`` whose stream header names
    ``header_project``/``header_run`` (valid framing and checksums)."""
    d = os.path.join(str(root), project, run)
    os.makedirs(os.path.join(d, "files"), exist_ok=True)
    with open(os.path.join(d, fmt.stream_file_name(fmt.RUN_STREAM, SESSION, 0)), "wb") as f:
        f.write(committed(ROWS, header_project, header_run))
    return d


def snapshot(top, leave_out) -> dict[str, tuple]:
    """Every entry below ``top`` but those under ``leave_out``: its kind, size,
    content and modification time (links not followed)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in leave_out]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            content = None
            if os.path.islink(path):
                content = os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    content = f.read()
            seen[path] = (st.st_mode, st.st_size, st.st_mtime_ns, content)
    return seen


def stored(dest) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), dest) for d, _, names in os.walk(dest) for n in names)


# what a header may say: a project that climbs out, an absolute path, a run id with a separator
HOSTILE = {
    "climbing-project": ("../../ESCAPED", "r"),
    "absolute-project": ("{abs}", "r"),
    "run-with-a-slash": ("p", "../../../../ESCAPED-RUN/x"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("header", sorted(HOSTILE))
def test_a_hostile_header_writes_nothing_outside_the_destination_and_the_run_is_reported(tmp_path, kind, header):
    work = tmp_path / "work"
    root, state, dest = work / "runs", tmp_path / "state", work / "out" / "deep" / "dest"
    victims = work / "victims"
    project, run = HOSTILE[header]
    project = project.replace("{abs}", str(victims))
    bad = crafted_run(root, project, run)
    good = crafted_run(root, "p", "good", run="good")
    # what a header would reach if believed: there already, with a file of the
    # exporter's own naming (which it deletes in its own directory)
    for target in (victims / "r", work / "out" / "ESCAPED" / "r", work / "ESCAPED-RUN" / "x"):
        target.mkdir(parents=True)
        (target / "events.out.tfevents.1.host.rows-000000000000").write_bytes(b"someone else's")
    dest.mkdir(parents=True)
    before = snapshot(tmp_path, {str(dest), str(state)})

    out = export([root], kind, dest, state)

    assert snapshot(tmp_path, {str(dest), str(state)}) == before, out.stderr
    assert out.returncode == 1, out.stderr
    lines = [line for line in out.stderr.splitlines() if bad in line]
    assert lines and "header" in lines[0], out.stderr
    assert "1 failed" in out.stdout
    # the good run beside it was exported, below the destination
    assert any(p.startswith(os.path.join("p", "")) and "good" in p for p in stored(dest)), stored(dest)
    assert not any("ESCAPED" in p or "victims" in p for p in stored(dest)), stored(dest)
    assert good not in out.stderr


def test_a_header_disagreeing_with_its_directory_is_reported_by_show_and_verify(tmp_path):
    root = tmp_path / "runs"
    renamed = crafted_run(root, "other", "r")  # valid names, not this directory's
    climbing = crafted_run(root, "../../ESCAPED", "r", run="r2")

    shown = runship_cmd("show", renamed)
    checked = runship_cmd("verify", renamed, climbing)

    assert shown.returncode == 0, shown.stderr
    assert "'other'" in shown.stdout and "'p'" in shown.stdout, shown.stdout
    assert "header-mismatch" in shown.stdout
    # a copied or renamed run is a note; a header naming what is no name is
    # corruption, and the run's names are its directory's
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "ok p/r:" in checked.stdout and "note: " + renamed in checked.stdout, checked.stdout
    assert "CORRUPT p/r2:" in checked.stdout and "error: " + climbing in checked.stdout, checked.stdout
    assert "'../../ESCAPED'" in checked.stdout and "header-name" in checked.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_a_link_planted_in_the_destination_is_not_followed(tmp_path, kind):
    root, state, dest, elsewhere = tmp_path / "runs", tmp_path / "state", tmp_path / "dest", tmp_path / "elsewhere"
    crafted_run(root, "p", "r")
    dest.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, dest / "p")

    out = export([root], kind, dest, state)

    assert os.listdir(elsewhere) == [], out.stderr
    assert out.returncode == 1
    assert "p/r" in out.stderr and "symlink" in out.stderr, out.stderr


@pytest.mark.compat
def test_the_tensorboard_export_deletes_only_its_own_leftovers(tmp_path):
    root, state, dest = tmp_path / "runs", tmp_path / "state", tmp_path / "dest"
    crafted_run(root, "p", "r")
    logdir = dest / "p" / "r"
    logdir.mkdir(parents=True)
    (logdir / "notes.rows-000000000000").write_text("mine, not the exporter's")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, logdir / "events.out.tfevents.1.host.rows-000000000000")
    stale = logdir / "events.out.tfevents.2.host.rows-000000000000"
    stale.write_bytes(b"a killed export's file")

    out = export([root], "tensorboard", dest, state)

    assert out.returncode == 0, out.stderr
    assert (logdir / "notes.rows-000000000000").read_text() == "mine, not the exporter's"
    assert os.path.islink(logdir / "events.out.tfevents.1.host.rows-000000000000")
    assert victim.read_text() == "keep"
    assert not stale.exists()  # the exporter's own leftover past what is done: gone
    assert any(n.startswith("events.out.tfevents.") and n.endswith(".rows-000000000000") for n in os.listdir(logdir))


def test_the_parquet_export_deletes_only_its_own_parts(tmp_path):
    root, state, dest = tmp_path / "runs", tmp_path / "state", tmp_path / "dest"
    crafted_run(root, "p", "r")
    history = dest / "p" / "history" / "run_id=r"
    history.mkdir(parents=True)
    (history / "part-9-notes.txt").write_text("not a part")
    stale = history / "part-000000000000-000000000009.parquet"
    stale.write_bytes(b"a killed export's part")

    out = export([root], "parquet", dest, state)

    assert out.returncode == 0, out.stderr
    assert (history / "part-9-notes.txt").read_text() == "not a part"
    assert not stale.exists()
    assert sorted(os.listdir(history)) == ["part-000000000000-000000000002.parquet", "part-9-notes.txt"]
