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

from runship.schema import format as fmt
from tests.conftest import RUNSHIP, child_env
from tests.hostile.craft import SESSION, committed, row, start

ROWS = [[start(), row(0, {"loss": 1.0}, n=1), row(1, {"loss": 0.5}, n=2)]]


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
